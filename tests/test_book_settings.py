"""Each model trains with its section's settings unless told otherwise, and a run that ends at
chance names a cause that fits the model.

Oracle for the settings: d2l-zh v1.0.0, chapter_convolutional-neural-networks/*.md, the line
`lr, num_epochs, batch_size, ctx = ...` and the `load_data_fashion_mnist(batch_size, resize=...)`
call of each section (lenet.md: `lr, num_epochs = 0.9, 5` with `batch_size = 256`).
"""
import pytest

from gluon_cnn import model_info
from gluon_cnn.app import train_command as train
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.runs.record import RunRecord

# model: (section file, lr, batch size, resize, epochs), as d2l-zh v1.0.0 prints them
BOOK = {
    'lenet': ('lenet.md', 0.9, 256, None, 5),
    'alexnet': ('alexnet.md', 0.01, 128, 224, 5),
    'vgg11-small': ('vgg.md', 0.05, 128, 224, 5),   # the ratio-4 VGG-11 the section trains
    'nin': ('nin.md', 0.1, 128, 224, 5),
    'googlenet': ('googlenet.md', 0.1, 128, 96, 5),
    'lenet-bn': ('batch-norm.md', 1.0, 256, None, 5),
    'resnet18': ('resnet.md', 0.05, 256, 96, 5),
    'densenet': ('densenet.md', 0.1, 256, 96, 5),
}


@pytest.mark.parametrize('model', BOOK)
def test_record_carries_the_books_settings(model):
    _, lr, batch, resize, epochs = BOOK[model]
    book = model_info(model).book
    assert (book.lr, book.batch_size, book.resize, book.epochs) == (lr, batch, resize, epochs)


@pytest.mark.parametrize('model', BOOK)
def test_train_py_uses_them_unless_a_flag_says_otherwise(model):
    _, lr, batch, resize, epochs = BOOK[model]
    cfg = train.config_from_args(train.parse_args(['--model', model]))
    assert (cfg.lr, cfg.batch_size, cfg.resize, cfg.epochs) == (lr, batch, resize, epochs)
    cfg = train.config_from_args(train.parse_args(['--model', model, '--lr', '0.003',
                                                   '--batch-size', '32', '--epochs', '1']))
    assert (cfg.lr, cfg.batch_size, cfg.resize, cfg.epochs) == (0.003, 32, resize, 1)


def test_make_train_is_still_the_books_lenet():
    cfg = train.config_from_args(train.parse_args([]))
    assert (cfg.model, cfg.lr, cfg.batch_size, cfg.epochs, cfg.resize) == ('lenet', 0.9, 256, 5,
                                                                           None)
    assert cfg == TrainConfig()  # the same run as before: same seed, same numbers


def test_preset_wins_over_the_models_section():
    cfg = train.config_from_args(train.parse_args(['--preset', 'best']))
    assert (cfg.model, cfg.lr, cfg.epochs) == ('lenet-best', 0.2, 30)


def test_help_and_first_line_say_the_values(capsys, tmp_path):
    with pytest.raises(SystemExit):
        train.parse_args(['--help'])
    help_text = capsys.readouterr().out
    assert 'resnet18     d2l zh §5.11  lr 0.05  batch 256  5 epochs, resize 96' in help_text
    train.main(['--limit', '256', '--epochs', '1', '--out', str(tmp_path / 'r')])
    first = capsys.readouterr().out.splitlines()[0]
    assert first == ('training lenet on 256 fashion-mnist examples, cpu(0): lr 0.9, batch 256, '
                     '1 epochs'), first


def record_of(model, test_accs, losses, train_accs=None, **cfg):
    history = [{'epoch': i + 1, 'loss': l, 'train_acc': t, 'test_acc': a, 'seconds': 1.0}
               for i, (a, l, t) in enumerate(zip(test_accs, losses, train_accs or test_accs))]
    return RunRecord(TrainConfig(out='runs/x', model=model, **cfg), history)


@pytest.mark.parametrize('model, losses, train_accs, cfg, says, never', [
    # the sigmoid LeNet: the plateau at ln 10 is the cause
    ('lenet', [2.31], None, {'limit': 2000}, 'too few to leave the loss plateau at ln 10 (sigmoid',
     'BatchNorm\'s'),
    # ResNet (ReLU + BN) learns its training set, but BN's running statistics lag
    ('resnet18', [2.47], [0.41], {'limit': 2560}, 'training accuracy is 0.41, but testing uses '
     'BatchNorm\'s running statistics', 'ln 10'),
    ('resnet18', [2.40], None, {'limit': 2560}, 'only 10 updates, too few for resnet18 to learn',
     'sigmoid'),
    # LeNet-5's loss is its RBF distance (62.7 at the start), not a cross-entropy near ln 10
    ('lenet5', [62.7], None, {'limit': 2000}, 'only 8 updates, too few for lenet5 to learn',
     'ln 10'),
    ('lenet5', [62.7, 62.1, 61.0], None, {}, '--lr 0.9 is likely too low or too high for lenet5',
     'sigmoid'),
    ('resnet18', [2.31] * 3, None, {'lr': 0.0001, 'batch_size': 256}, 'its section (d2l zh §5.11)'
     ' uses --lr 0.05', 'sigmoid'),
])
def test_chance_note_fits_the_model(model, losses, train_accs, cfg, says, never):
    line = train.summary(record_of(model, [0.10] * len(losses), losses, train_accs, **cfg))
    assert '; that is chance (1 in 10): ' in line and says in line, line
    assert never not in line, line
