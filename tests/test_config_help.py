"""Each train.py flag's help is its TrainConfig field's: written once (gluon_cnn.runs.config)."""
import dataclasses

from gluon_cnn.app import train_command
from gluon_cnn.runs.config import TrainConfig


def test_every_field_has_one_help_and_train_py_shows_it():
    shown = ' '.join(train_command.build_parser().format_help().split())
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get('help'), f'{f.name}: no help in TrainConfig'
        assert f'--{f.name.replace("_", "-")}' in shown or f.name == 'hybridize', f.name
        assert ' '.join(f.metadata['help'].split()) in shown, f.name
