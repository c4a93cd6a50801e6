"""What every command-line entry point shares: user errors become one line and exit code 2 (3 for
a run that missed its --target-acc)."""
import sys

from ..errors import GluonCNNError

__all__ = ['run_cli']


def run_cli(fn, debug: bool = False) -> int:
    """Call fn(); a GluonCNNError prints `error: <message>` on stderr and returns its exit_code
    (2; 3 for TargetMissedError).

    Ctrl-C (and SIGTERM, which training turns into KeyboardInterrupt) returns 130 with one line,
    `interrupted: <message>` when the interrupt carries one (training says where its checkpoint is).
    With debug=True the traceback is shown instead.
    """
    try:
        fn()
    except GluonCNNError as e:
        if debug:
            raise
        print(f'error: {e}', file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        if debug:
            raise
        print(f'interrupted: {e}' if str(e) else 'interrupted', file=sys.stderr)
        return 130
    return 0
