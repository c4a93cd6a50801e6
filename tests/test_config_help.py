"""Each train.py flag's help is its TrainConfig field's: written once (gluon_cnn.runs.config)."""
import dataclasses

from gluon_cnn.app import train_command
from gluon_cnn.runs.config import TrainConfig


def test_every_field_has_one_help_and_train_py_shows_it():
    helps = {a.dest: a.help for a in train_command.build_parser()._actions}
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get('help'), f'{f.name}: no help in TrainConfig'
        assert f.name in helps, f'{f.name}: no train.py flag'
        assert helps[f.name].startswith(f.metadata['help']), f.name
