"""docs/blocks.py, the runner of the docs' `$ command` blocks: a stale output fails, a changed
time does not, --update writes the real output in place, and a page's commands share a scratch
copy of the repository (the oracle is bash's own output of printf and echo)."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('blocks', ROOT / 'docs' / 'blocks.py')
blocks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(blocks)

PAGE = """# a page
```console
$ printf 'test acc 0.%s, time %s sec, pid %s\\n' 697 5.9 4242
test acc 0.697, time 1.2 sec, pid 17
$ mkdir -p runs/a && ls runs
a
```
"""


def check(tmp_path, text, *flags):
    page = tmp_path / 'page.md'
    page.write_text(text)
    return blocks.main([str(page), *flags]), page


def test_a_current_page_passes_with_other_times_and_pids(tmp_path, capsys):
    code, _ = check(tmp_path, PAGE)
    assert code == 0, capsys.readouterr().out


def test_a_stale_accuracy_fails_with_a_diff(tmp_path, capsys):
    code, page = check(tmp_path, PAGE.replace('acc 0.697, time', 'acc 0.698, time'))
    out = capsys.readouterr().out
    assert code == 1
    assert '-test acc 0.698, time 1.2 sec, pid 17' in out
    assert '+test acc 0.697, time 5.9 sec, pid 4242' in out
    assert '1 shown output(s) differ' in out and 'acc 0.698' in page.read_text()


def test_update_rewrites_only_the_stale_output(tmp_path, capsys):
    text = PAGE.replace('acc 0.697, time', 'acc 0.698, time').replace('a\n```', 'b\n```')
    code, page = check(tmp_path, text, '--update')
    assert code == 0
    assert page.read_text() == PAGE.replace('time 1.2 sec, pid 17', 'time 5.9 sec, pid 4242')
    assert check(tmp_path, page.read_text())[0] == 0


def test_commands_run_in_a_scratch_copy(tmp_path, capsys):
    """runs/ of the page's commands is a fresh folder, not the repository's; the repository's
    files are there (train.py)."""
    page = '```console\n$ ls runs; ls train.py\na\ntrain.py\n```\n'
    repo_runs = set((ROOT / 'runs').glob('*'))
    code, _ = check(tmp_path, '```console\n$ rm -rf runs; mkdir -p runs/a\n```\n' + page)
    assert code == 0, capsys.readouterr().out
    assert set((ROOT / 'runs').glob('*')) == repo_runs


def test_a_mask_directive_and_the_slow_flag(tmp_path, capsys):
    text = ('<!-- mask: \\d+ updates -->\n```console\n$ echo 16 updates\n3 updates\n```\n'
            '<!-- block: slow -->\n```console\n$ echo real\nnot what it prints\n```\n')
    assert check(tmp_path, text, '--fast')[0] == 0
    assert check(tmp_path, text)[0] == 1


def test_recorded_output_is_used_instead_of_running(tmp_path, capsys):
    log = tmp_path / 'make-train.log'
    log.write_text('lenet: test acc 0.697 after 5 epochs, 31 s\n')
    text = '```console\n$ make train\nlenet: test acc 0.697 after 5 epochs, 29 s\n```\n'
    assert check(tmp_path, text, '--recorded', f'make train={log}')[0] == 0
    log.write_text('lenet: test acc 0.690 after 5 epochs, 29 s\n')
    assert check(tmp_path, text, '--recorded', f'make train={log}')[0] == 1


@pytest.mark.parametrize('line, masked', [
    ('epoch 1, time 5.9 sec, 10658 examples/sec', 'epoch 1, time <masked> sec, <masked> '
     'examples/sec'),
    ('lenet: test acc 0.697 after 5 epochs (best 0.713 at epoch 4), 29 s, saved in '
     'runs/lenet-20261130-143240', 'lenet: test acc 0.697 after 5 epochs (best 0.713 at epoch 4), '
     '<masked> s, saved in runs/lenet-<masked>'),
    ('peak 601 MB; a live run (pid 22919)', 'peak <masked> MB; a live run (pid <masked>)'),
    ('loss 2.3164, train acc 0.105, 44,426 params, 173.5 KiB', 'loss 2.3164, train acc 0.105, '
     '44,426 params, 173.5 KiB'),
])
def test_masks_only_times_speeds_memory_pids(line, masked):
    assert blocks.mask(line) == masked
