"""`make bench`'s report: the FLOP one trained image of lenet-en costs (against a closed form from
its layer shapes), the machine's peak estimate, and the tables gluon_cnn.papers renders from
benchmarks/results/bench_train.json (against numbers computed here by hand). No torch needed."""
import sys
from pathlib import Path

import pytest

from gluon_cnn.papers import docs_pages

BENCH = Path(__file__).resolve().parents[1] / 'benchmarks'
sys.path.insert(0, str(BENCH))
import bench_train  # noqa: E402  (benchmarks/bench_train.py)
import machine  # noqa: E402  (benchmarks/machine.py)


def test_lenet_en_training_flop_is_the_closed_form():
    # d2l en §7.6 LeNet on 28x28: conv 5x5 pad 2 -> 6@28x28, pool -> 6@14x14, conv 5x5 -> 16@10x10,
    # pool -> 16@5x5, dense 400 -> 120 -> 84 -> 10; MACs = kernel area x in x out x output pixels
    conv1 = 5 * 5 * 1 * 6 * 28 * 28     # 117,600
    conv2 = 5 * 5 * 6 * 16 * 10 * 10    # 240,000
    dense = 400 * 120 + 120 * 84 + 84 * 10  # 58,920
    macs = conv1 + conv2 + dense
    assert macs == 416_520
    # forward 1x, backward 2x (input and weight gradients), 2 FLOP per multiply-accumulate
    assert bench_train.train_flop_per_image('lenet-en') == 3 * 2 * macs == 2_499_120


def test_peak_flops_counts_fma_lanes_and_the_tsc_clock():
    assert machine.flop_per_cycle(['sse', 'avx', 'avx2', 'fma'])[0] == 2 * 8 * 2
    assert machine.flop_per_cycle(['avx2', 'fma', 'avx512f', 'GenuineIntel'])[0] == 2 * 16 * 2
    assert machine.flop_per_cycle(['sse', 'sse2'])[0] == 2 * 4
    assert machine.clock_mhz({'BogoMIPS': '4890.82'})[0] == pytest.approx(2445.41)
    assert machine.clock_mhz({'CPU max MHz': '3500.0', 'BogoMIPS': '4890.82'})[0] == 3500.0
    flops, how = machine.peak_flops()
    assert flops > 0 and 'cores x' in how


def _report():
    """A report as bench_train.py writes it, with figures whose medians are easy to see."""
    def arm(train, epoch, acc):
        return {'train': train, 'epoch': epoch, 'eval': [20_000.0] * 3, 'cpu': [1.0, 2.0, 3.0],
                'acc': acc}
    return {
        'results': {'ours': arm([9_000.0, 10_000.0, 11_000.0], [2.0, 1.0, 3.0], 0.75),
                    'torch': arm([4_000.0, 4_000.0, 4_000.0], [5.0, 4.0, 6.0], 0.74),
                    'compile': arm([5_000.0] * 3, [2.6, 2.6, 2.6], 0.74),
                    'd2l': arm([2_000.0] * 3, [7.0, 7.0, 7.0], 0.71)},
        'rss': {'ours': 450.4, 'torch': 600.6, 'compile': 700.0, 'd2l': 480.0,
                'make train': 500.0, 'make train --no-fast-ops': 520.0},
        'limit': {'flop_per_image': 2.5e6, 'peak_flops': 1e11, 'how': '2 cores x ...'},
        'load': [1.5, 1.0, 1.0], 'end_load': [2.0, 1.0, 1.0], 'settings': 'OMP_NUM_THREADS=2',
        'machine': 'Test CPU, 2 logical CPUs', 'versions': 'mxnet 1.9.1', 'date': '2026-12-07',
        'command': 'python benchmarks/bench_train.py --json x.json'}


def _row(table: str, label: str) -> list:
    line = next(line for line in table.splitlines() if line.startswith(f'| {label} |'))
    return [cell.strip() for cell in line.strip('|').split('|')]


def test_bench_rows_render_medians_ratios_and_the_limit():
    table = docs_pages.bench_rows(_report())
    # the limit: 1e11 FLOP/s / 2.5e6 FLOP per image = 40,000 images/s
    assert '40,000 images/s = 100.0 GFLOP/s' in table
    ours = _row(table, docs_pages.ARM_LABELS['ours'])
    # train median 10,000 = 25% of 40,000; epoch median 2.0; CPU median 2.0; itself: 1.00x
    assert ours == [docs_pages.ARM_LABELS['ours'], '10,000', '25.0%', '2.00', '20,000', '2.00',
                    '1.00x', '0.750', '450']
    torch = _row(table, 'PyTorch eager')
    assert torch[1:3] == ['4,000', '10.0%'] and torch[6] == '2.50x' and torch[8] == '601'
    assert _row(table, 'd2l train_ch6 + DataLoader')[5] == '2.00\\*'  # its workers: not counted
    assert "MXNet's own operators" not in table  # an arm the run did not have gets no row


def test_goal_line_and_readme_summary(monkeypatch):
    r = _report()
    line = docs_pages.goal_line(r['results'])
    assert '2.50x PyTorch eager (goal 2x)' in line
    assert '1.30x PyTorch torch.compile (inductor) (goal 1.3x)' in line
    assert '3.50x d2l train_ch6 + DataLoader (goal 3x)' in line
    monkeypatch.setattr(docs_pages, '_bench', lambda name: r)
    summary = docs_pages.bench_summary()
    assert _row(summary, 'PyTorch torch.compile (inductor)')[1:] == ['2.60', '5,000', '1.30x',
                                                                     '1.3x']
    assert 'Test CPU, 2 logical CPUs' in summary
    assert '(load average 1.5 at the start, 2.0 at the end)' in summary
    assert '500 MiB with the fused default, 520 MiB with --no-fast-ops' in summary
    page = docs_pages.bench_table()
    assert page.startswith(docs_pages.bench_rows(r)) and 'load average 1.5 at the start' in page


def test_missing_report_says_which_command_makes_it(monkeypatch):
    monkeypatch.setattr(docs_pages, '_bench', lambda name: None)
    for fn in (docs_pages.bench_table, docs_pages.bench_summary, docs_pages.modern_table):
        assert 'run `make bench`' in fn()
