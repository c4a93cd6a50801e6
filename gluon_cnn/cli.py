"""What every command-line entry point shares: user errors in one line, usage errors in one line
plus "see --help", and a quiet end on a closed pipe.

Exit codes: 0 done; 2 a user error (a `GluonCNNError` or a usage error); 3 a run that missed its
`--target-acc`; 130 Ctrl-C or SIGTERM; 141 stdout was closed early (`| head`): 128 + SIGPIPE,
what a shell reports for a Unix tool that SIGPIPE ended, so `set -o pipefail` scripts still see
that the output was cut short.
"""
import argparse
import difflib
import os
import sys
from typing import Iterable, Optional

from .errors import GluonCNNError

__all__ = ['run_cli', 'ArgumentParser', 'did_you_mean', 'EXIT_USER', 'EXIT_INTERRUPTED',
           'EXIT_PIPE']

EXIT_USER = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE (13)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are one line, `PROG: error: MESSAGE (see PROG --help)`,
    exit 2, instead of the whole usage block. Subcommand parsers are of this class too."""

    def error(self, message: str):
        self.exit(EXIT_USER, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def did_you_mean(word: str, choices: Iterable[str]) -> Optional[str]:
    """The one of `choices` closest to a mistyped `word` (difflib's ratio, 0.6 or more), else
    None: for "unknown X 'lenet9'; ... did you mean lenet?"."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return close[0] if close else None


def run_cli(fn, debug: bool = False) -> int:
    """Call fn() and flush stdout; returns the command's exit code (the module docstring's).

    A GluonCNNError prints `error: <message>` on stderr. Ctrl-C (and SIGTERM, which training turns
    into KeyboardInterrupt) prints `interrupted: <message>` when the interrupt carries one (training
    says where its checkpoint is). A closed stdout ends quietly; a BrokenPipeError raised with a
    message (training's: how to continue) prints `stopped: <message>` on stderr.
    With debug=True the traceback is shown instead, except for a closed pipe.
    """
    try:
        fn()
        sys.stdout.flush()  # inside the try: a closed pipe often shows only at the last flush
    except BrokenPipeError as e:
        return _closed_pipe(e)
    except GluonCNNError as e:
        if debug:
            raise
        _say(f'error: {e}')
        return e.exit_code
    except KeyboardInterrupt as e:
        if debug:
            raise
        _say(f'interrupted: {e}' if str(e) else 'interrupted')
        return EXIT_INTERRUPTED
    return 0


def _closed_pipe(e: BrokenPipeError) -> int:
    """The Python docs' recipe (library/signal, "Note on SIGPIPE"): point stdout at devnull so the
    interpreter's own flush at exit cannot raise again, and end with EXIT_PIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass
    if e.args and isinstance(e.args[0], str):  # ours, with a message; the OS's has an errno
        _say(f'stopped: {e.args[0]}')
    return EXIT_PIPE


def _say(line: str):
    """One line on stderr, which may itself be a closed pipe."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (BrokenPipeError, OSError, ValueError):
        pass
