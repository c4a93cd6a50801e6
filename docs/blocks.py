#!/usr/bin/env python
"""Run the `$ command` blocks of README.md and docs/*.md and check their shown output.

A block is a fenced ```console block whose command lines start with `$ `; the lines after a
command, up to the next `$ ` line or the fence, are its output (stdout and stderr, as a terminal
shows them). Each command runs with bash, in a scratch copy of the repository per page (symlinks
to its files, a fresh runs/), in the page's order, so a page may train a run and then use it.
Commands starting with `make ` run in the repository itself, as a reader would type them.
```sh blocks are shown, never run: use them for what needs a GPU, a cluster or hours.

Before comparing, times, speeds, memory, pids and run-folder timestamps are masked (MASKS); an
HTML comment right above a block may add more, sparingly and never for accuracies or losses:

    <!-- mask: \\d+ updates -->        a regex whose matches are masked in that block
    <!-- block: slow -->              a training run: skipped by --fast
    <!-- block: timeout=900 -->       seconds per command (default 300)

    python docs/blocks.py                      # check every page: exit 1 with a diff when stale
    python docs/blocks.py --update             # rewrite the shown outputs from real runs
    python docs/blocks.py README.md --fast     # one page, without the slow blocks
    python docs/blocks.py --recorded 'make train=build/make-train.log'

--recorded CMD=FILE takes CMD's output from FILE instead of running it (CI trains `make train`
once, in its own step, and the README shows that run). `make check-docs` runs the check, `make
docs` the update; the `>>>` examples are pytest's doctests (`--doctest-glob='*.md'`).
"""
import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ['README.md', 'docs/*.md']
# oneDNN's sums depend on how many threads share them: the shown outputs are made and checked
# with MXNet on 2 threads, what a reader on 2 cores gets by default, on any machine with 2 cores
# or more (notebooks/run_all.py pins the same for the notebooks)
THREADS = '2'
SKIP = {'.git', 'runs', 'build'}  # not linked into a page's scratch copy (nor any .venv*)

# Each regex's match is replaced by MASKED in the shown and the real output alike.
MASKS = [
    r'\d[\d,]*(\.\d+)?(?= ?(sec|s|ms|min|seconds|minutes)\b)',  # durations: 5.9 sec, 29 s
    r'\d[\d,]*(\.\d+)?(?= examples/s(ec)?\b)',                 # speeds
    r'\d[\d,]*(\.\d+)?(?= ?(MB|MiB|GB|GiB)\b)',                # memory
    r'(?<=pid )\d+',                                           # process ids
    r'\d{8}-\d{6}',                                            # runs/<model>-<timestamp>
]
MASKED = '<masked>'
FENCE = re.compile(r'^```console\s*$')
DIRECTIVE = re.compile(r'^<!--\s*(mask|block):\s*(.*?)\s*-->\s*$')


@dataclass
class Command:
    line: str            # the command, without '$ '
    output: list         # the shown output lines


@dataclass
class Block:
    path: Path
    start: int           # index of the line after the opening fence
    end: int             # index of the closing fence
    commands: list
    masks: list = field(default_factory=list)
    slow: bool = False
    timeout: float = 300.0


def parse(path: Path, lines: list) -> list:
    """The console blocks of a page, with their directives."""
    blocks, i = [], 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        start = i + 1
        end = next((j for j in range(start, len(lines)) if lines[j].startswith('```')), None)
        if end is None:
            raise SystemExit(f'{path}:{i + 1}: a ```console block that never closes')
        block = Block(path, start, end, [])
        for line in lines[start:end]:
            if line.startswith('$ '):
                block.commands.append(Command(line[2:], []))
            elif block.commands:
                block.commands[-1].output.append(line)
            elif line.strip():
                raise SystemExit(f'{path}:{start + 1}: a console block starts with `$ command`')
        j = i - 1
        while j >= 0 and DIRECTIVE.match(lines[j]):  # directives sit right above the fence
            kind, value = DIRECTIVE.match(lines[j]).groups()
            if kind == 'mask':
                block.masks.append(value)
            elif value == 'slow':
                block.slow = True
            elif value.startswith('timeout='):
                block.timeout = float(value.split('=', 1)[1])
            else:
                raise SystemExit(f'{path}:{j + 1}: unknown directive {value!r}')
            j -= 1
        blocks.append(block)
        i = end + 1
    return blocks


def mask(text: str, extra=()) -> str:
    for regex in [*MASKS, *extra]:
        text = re.sub(regex, MASKED, text)
    return text


def scratch_copy(folder: Path) -> None:
    """Link every top-level entry of the repository into `folder`, except runs and venvs."""
    for entry in ROOT.iterdir():
        if entry.name not in SKIP and not entry.name.startswith('.venv'):
            (folder / entry.name).symlink_to(entry)


def environment() -> dict:
    """`python` is this interpreter; the repository is importable; output is unbuffered, so
    stdout and stderr interleave as on a terminal; argparse wraps at a fixed width; MXNet runs on
    THREADS OpenMP threads."""
    env = dict(os.environ)
    env.pop('OMP_NUM_THREADS', None)
    env['MXNET_OMP_MAX_THREADS'] = THREADS
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
    env['PYTHONPATH'] = str(ROOT) + (os.pathsep + env['PYTHONPATH']
                                     if env.get('PYTHONPATH') else '')
    env.update(PYTHONUNBUFFERED='1', COLUMNS='100')
    for name in ('MAKELEVEL', 'MAKEFLAGS', 'MFLAGS'):  # a `$ make` block runs as a reader
        env.pop(name, None)                            # types it: no make[1] directory lines
    return env


def run(command: str, cwd: Path, timeout: float, env: dict) -> list:
    """The output lines of one command, stdout and stderr together."""
    where = ROOT if command.startswith('make ') else cwd
    try:
        proc = subprocess.run(['bash', '-c', command], cwd=where, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        text = proc.stdout
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b'').decode() if isinstance(e.stdout, bytes) else (e.stdout or '')
        text += f'\n[docs/blocks.py: timed out after {timeout:g} s]'
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def check_page(path: Path, args, recorded: dict, env: dict) -> tuple:
    """(stale blocks, updated page text or None) for one page."""
    lines = path.read_text().splitlines()
    blocks = parse(path, lines)
    stale, replaced = [], {}
    with tempfile.TemporaryDirectory(prefix='docs-blocks-') as tmp:
        scratch_copy(Path(tmp))
        for block in blocks:
            if args.fast and block.slow:
                continue
            body, changed = [], False
            for cmd in block.commands:
                t0 = time.monotonic()
                if cmd.line in recorded:
                    real = [line.rstrip() for line in recorded[cmd.line].splitlines()]
                else:
                    real = run(cmd.line, Path(tmp), block.timeout, env)
                if args.verbose:
                    print(f'{shown_name(path)}:{block.start}: $ {cmd.line} '
                          f'({time.monotonic() - t0:.1f} s)', file=sys.stderr)
                shown, got = '\n'.join(cmd.output), '\n'.join(real)
                same = mask(shown, block.masks) == mask(got, block.masks)
                if not same:
                    changed = True
                    stale.append((block, cmd, shown, got))
                body += ['$ ' + cmd.line, *(cmd.output if same else real)]  # no churn in times
            if changed:
                replaced[block.start] = (block.end, body)
    if not (args.update and replaced):
        return stale, None
    out, i = [], 0
    for start in sorted(replaced):
        end, body = replaced[start]
        out += lines[i:start] + body
        i = end
    out += lines[i:]
    return stale, '\n'.join(out) + '\n'


def shown_name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def pages(names) -> list:
    if names:
        return [Path(n).resolve() for n in names]
    return [p for pattern in PAGES for p in sorted(ROOT.glob(pattern))]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('pages', nargs='*', help='pages to check (default: README.md docs/*.md)')
    p.add_argument('--update', action='store_true', help='rewrite stale outputs from the real run')
    p.add_argument('--fast', action='store_true', help='skip blocks marked <!-- block: slow -->')
    p.add_argument('--recorded', action='append', default=[], metavar='CMD=FILE',
                   help="take CMD's output from FILE instead of running it (repeatable)")
    p.add_argument('-v', '--verbose', action='store_true', help='name each command as it runs')
    args = p.parse_args(argv)
    recorded = {}
    for item in args.recorded:
        cmd, sep, file = item.partition('=')
        if not sep or not Path(file).is_file():
            p.error(f'--recorded {item!r}: expected CMD=FILE with an existing FILE')
        recorded[cmd.strip()] = Path(file).read_text()
    env, failures = environment(), 0
    for path in pages(args.pages):
        stale, new = check_page(path, args, recorded, env)
        name = shown_name(path)
        for block, cmd, shown, got in stale:
            failures += 1
            diff = difflib.unified_diff(shown.splitlines(), got.splitlines(), 'shown', 'real',
                                        lineterm='', n=1)
            print(f'{name}:{block.start}: $ {cmd.line}\n' + '\n'.join(diff))
        if new is not None:
            path.write_text(new)
            print(f'updated: {name}')
    if failures and not args.update:
        print(f'{failures} shown output(s) differ from the real run; `make docs` rewrites them '
              f'(check the diff before committing)')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
