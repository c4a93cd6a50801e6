"""train.py's user errors: each is one line on stderr and exit code 2, no traceback, nothing
written; `--debug` shows the traceback. Most cases call `train.main` in-process (fast); one runs the
script."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mxnet import gluon

from gluon_cnn import CheckpointError, ConfigError, list_models
from gluon_cnn.errors import TargetMissedError
from gluon_cnn.runs import checkpoint
from gluon_cnn.training import engine
from gluon_cnn.app import train_command as train
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.runs.record import RunRecord, read_record, write_record

ROOT = Path(__file__).resolve().parents[1]


def run_main(argv, capsys):
    code = train.main(argv)
    out, err = capsys.readouterr()
    return code, err


def saved_checkpoint(run_dir: Path) -> Path:
    """A real checkpoint of a tiny net, to damage (no training needed)."""
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize()
    path = checkpoint.save_checkpoint(run_dir, net, engine.make_trainer(net, 'sgd'), [{'epoch': 1}],
                                      np.random.RandomState(0))
    write_record(RunRecord(TrainConfig(model='lenet', epochs=2, out=str(run_dir)), [{'epoch': 1}]))
    return path


CASES = {  # name: (argv, the one line it must print); the flag at fault is the first of argv
    'unknown model': (['--model', 'lenet9'], "unknown model 'lenet9'; valid names: "
                      + ', '.join(list_models())),
    'zero epochs': (['--epochs', '0'], '--epochs must be positive, got 0'),
    'negative batch size': (['--batch-size', '-8'], '--batch-size must be positive, got -8'),
    'zero lr': (['--lr', '0'], '--lr must be positive, got 0.0'),
    'negative lr': (['--lr', '-0.1'], '--lr must be positive, got -0.1'),
    'nan lr': (['--lr', 'nan'], '--lr must be positive, got nan'),
    'limit beyond the data': (['--limit', '60001'],
                              '--limit 60001 is larger than the 60,000 training '
                              'examples of fashion-mnist'),
    'gpu without a gpu': (['--ctx', 'gpu'], "--ctx gpu: MXNet sees 0 GPU(s)"),
    'gpu:1 without a gpu': (['--ctx', 'gpu:1'], "--ctx gpu:1: MXNet sees 0 GPU(s)"),
    'no such ctx': (['--ctx', 'tpu'], "--ctx 'tpu': use cpu, gpu or gpu:N (or cpu:N)"),
}


@pytest.mark.parametrize('case', CASES)
def test_user_error_is_one_line_exit_2(tmp_path, capsys, case):
    argv, says = CASES[case]
    out = tmp_path / 'run'
    code, err = run_main(argv + ['--out', str(out)], capsys)
    assert code == 2
    assert err.startswith(f'error: {says}') and err.count('\n') == 1
    assert not out.exists()  # refused before anything was written
    with pytest.raises(ConfigError) as e:  # the same refusal, by type and field
        train.main(argv + ['--out', str(out), '--debug'])
    assert e.value.field == argv[0] and str(e.value) == err[len('error: '):-1]


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    argv = ['--out', str(blocker / 'run'), '--limit', '64', '--epochs', '1']
    code, err = run_main(argv, capsys)
    assert code == 2 and err.count('\n') == 1
    assert err.startswith(f'error: --out {blocker / "run"}: cannot write there (Not a directory)')
    with pytest.raises(ConfigError) as e:
        train.main([*argv, '--debug'])
    assert (e.value.field, e.value.path) == ('--out', blocker / 'run')


@pytest.mark.parametrize('damage, at_fault', [
    ('missing dir', ''),           # the run folder itself
    ('no checkpoint', ''),
    ('corrupt meta', 'checkpoints/epoch-0001/meta.json'),
    ('corrupt params', 'checkpoints/epoch-0001/params.nd'),
])
def test_resume_of_missing_or_corrupt_checkpoint(tmp_path, capsys, damage, at_fault):
    run_dir = tmp_path / 'run'
    if damage == 'no checkpoint':
        run_dir.mkdir()
    elif damage != 'missing dir':
        path = saved_checkpoint(run_dir)
        victim = path / ('meta.json' if damage == 'corrupt meta' else 'params.nd')
        victim.write_bytes(victim.read_bytes()[:-7])
    code, err = run_main(['--resume', str(run_dir)], capsys)
    assert code == 2 and err.count('\n') == 1 and err.startswith('error: ')
    with pytest.raises(CheckpointError) as e:
        train.main(['--resume', str(run_dir), '--debug'])
    assert e.value.path == run_dir / at_fault and err == f'error: {e.value}\n'


def test_resume_cannot_change_the_model(tmp_path, capsys):
    saved_checkpoint(tmp_path)
    code, err = run_main(['--resume', str(tmp_path), '--model', 'lenet-bn'], capsys)
    assert code == 2 and err.startswith('error: ') and err.count('\n') == 1
    with pytest.raises(ConfigError) as e:
        train.main(['--resume', str(tmp_path), '--model', 'lenet-bn', '--debug'])
    assert (e.value.field, e.value.path) == ('--model', tmp_path)


def test_bad_flag_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(['--epochs', 'ten'])
    assert e.value.code == 2 and "invalid int value: 'ten'" in capsys.readouterr().err


@pytest.mark.slow
def test_script_exit_code(tmp_path):
    """The real process: exit status 2, one line on stderr, nothing on stdout."""
    cmd = [sys.executable, str(ROOT / 'train.py'), '--model', 'nope', '--out', str(tmp_path / 'r')]
    plain = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert plain.returncode == 2 and plain.stdout == ''
    assert plain.stderr.startswith("error: unknown model 'nope'") and plain.stderr.count('\n') == 1


def test_debug_shows_the_traceback(tmp_path):
    """--debug lets the exception through, so Python prints its traceback (and exits 1)."""
    with pytest.raises(ConfigError) as e:
        train.main(['--model', 'nope', '--out', str(tmp_path / 'r'), '--debug'])
    assert e.value.field == '--model'


@pytest.fixture(scope='module')
def finished_run(small_run):
    """A real 2-epoch run folder (conftest's, trained once per session), read only below."""
    return small_run.out


@pytest.mark.parametrize('epochs', [['--epochs', '1'], ['--epochs', '2'], []])
def test_resume_with_no_epochs_left_rewrites_nothing(finished_run, capsys, epochs):
    """--epochs at or below the 2 done (or not given: the saved 2) is one line, and every file
    in the folder keeps its bytes and its mtime."""
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished_run.rglob('*')
              if p.is_file()}
    code, err = run_main(['--resume', str(finished_run), *epochs], capsys)
    n = epochs[1] if epochs else '2'
    assert code == 2 and err == (f'error: --resume {finished_run}: the run has done 2 epochs '
                                 f'already, so --epochs {n} leaves nothing to train; pass '
                                 f'--epochs 3 or more to train on\n')
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished_run.rglob('*')
             if p.is_file()}
    assert after == before


def record_of(test_accs, losses, **cfg):
    history = [{'epoch': i + 1, 'loss': l, 'train_acc': a, 'test_acc': a, 'seconds': 1.0}
               for i, (a, l) in enumerate(zip(test_accs, losses))]
    return RunRecord(TrainConfig(out='runs/x', **cfg), history)


@pytest.mark.parametrize('accs, losses, cfg, says', [
    ([0.80, 0.84], [0.64, 0.39], {}, None),  # learned: no note
    ([0.10, 0.10], [2.34, 2.33], {'limit': 2000}, 'only 16 updates, too few to leave the loss '
     'plateau at ln 10'),
    ([0.10, 0.10], [2.5, 434.7], {'model': 'lenet-relu', 'lr': 30.0},
     'the loss rose, so --lr 30 is likely too high (try 3)'),
    ([0.10] * 3, [2.31, 2.30, 2.30], {'lr': 0.01}, '--lr 0.01 is likely too low or too high '
     'for lenet'),  # 705 updates on all 60,000 examples: enough to leave the plateau
])
def test_summary_says_when_a_run_ends_at_chance(accs, losses, cfg, says):
    line = train.summary(record_of(accs, losses, **cfg))
    assert line.startswith('lenet') and line.count('\n') == 0
    if says is None:
        assert 'chance' not in line
    else:
        assert '; that is chance (1 in 10): ' in line and says in line, line


TINY = ['--limit', '512', '--batch-size', '64', '--epochs', '1', '--quiet']


@pytest.mark.slow
def test_missed_target_is_one_line_exit_3(tmp_path):
    """The real process: a run short of --target-acc ends in one line and exit 3 (not 2), after
    its summary, with its run folder complete."""
    out = tmp_path / 'r'
    cmd = [sys.executable, str(ROOT / 'train.py'), *TINY, '--target-acc', '0.99', '--out', str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    acc = read_record(out).history[-1]['test_acc']
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == (f'error: test acc {acc:.3f} after 1 epoch is below --target-acc 0.99; '
                           f'the run is saved in {out}; compare its settings with the row that '
                           f'set the target (papers/)\n')
    assert proc.stdout.startswith(f'lenet: test acc {acc:.3f} after 1 epoch ')
    assert (out / 'model.params').is_file()


@pytest.mark.slow
def test_target_reached_exactly_passes(tmp_path, capsys):
    """The same seeded run with the target at its own accuracy passes; a hair above it fails."""
    first = tmp_path / 'a'
    code, _ = run_main([*TINY, '--out', str(first)], capsys)
    acc = read_record(first).history[-1]['test_acc']
    assert code == 0
    code, err = run_main([*TINY, '--out', str(tmp_path / 'b'), '--target-acc', repr(acc)], capsys)
    assert code == 0 and err == ''
    assert train.main([*TINY, '--resume', str(tmp_path / 'b'), '--epochs', '1',
                       '--target-acc', '1']) == 2  # nothing left to train: a usage error first
    with pytest.raises(TargetMissedError):
        train.check_target(read_record(tmp_path / 'b'), acc + 1e-6)


@pytest.mark.parametrize('value', ['1.5', '0', '-0.2', 'high'])
def test_impossible_target_is_a_usage_error(capsys, value):
    with pytest.raises(SystemExit) as e:
        train.parse_args(['--target-acc', value])
    assert e.value.code == 2 and '--target-acc' in capsys.readouterr().err


BF16_CONV = '''
import gluon_cnn  # its shims before mxnet
import mxnet as mx
from mxnet.contrib import amp
from mxnet.gluon import nn
amp.init(target_dtype='bfloat16')
net = nn.HybridSequential()
net.add(nn.Conv2D(6, 5, activation='sigmoid'), nn.Dense(10))
net.initialize()
net.hybridize()
print(net(mx.nd.ones((2, 1, 28, 28))).asnumpy().shape)
'''


@pytest.mark.slow
def test_amp_bf16_runs_where_mxnet_can_and_is_one_line_where_it_cannot(tmp_path):
    """The oracle is MXNet itself: a bfloat16 conv under mx.contrib.amp either runs on this CPU
    (then train.py --amp bf16 trains) or fails in oneDNN (then train.py refuses in one line,
    exit 2, before it writes anything)."""
    probe = subprocess.run([sys.executable, '-c', BF16_CONV], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
    out = tmp_path / 'run'
    run = subprocess.run([sys.executable, 'train.py', '--amp', 'bf16', '--epochs', '1',
                          '--limit', '512', '--batch-size', '64', '--out', str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    if probe.returncode == 0:
        assert run.returncode == 0, run.stderr[-800:]
        assert (out / 'model.params').is_file()
    else:
        assert 'primitive descriptor' in probe.stderr  # oneDNN has no bf16 kernel here
        assert run.returncode == 2 and run.stdout == ''
        (line,) = run.stderr.strip().splitlines()
        assert line.startswith('error: --amp bf16 needs a CPU with AVX-512')
        assert not out.exists()
