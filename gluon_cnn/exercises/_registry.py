"""The exercise registry: id ('5.3.1') -> an `Exercise` whose function computes and explains."""
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional, Sequence

from ..cli import did_you_mean
from ..errors import ConfigError

__all__ = ['Answer', 'Exercise', 'EXERCISES', 'exercise', 'get_exercise', 'list_exercises',
           'select', 'run_exercise']


class Answer(NamedTuple):
    """What an exercise function returns: one line for the reader, and values for the tests."""
    text: str
    value: Any = None


@dataclass(frozen=True)
class Exercise:
    id: str                      # '5.3.1' (d2l zh section 5.3, exercise 1) or 'en.<name>'
    title: str                   # the question, shortened
    fn: Callable[..., Answer]    # prints its explanation, returns the Answer
    kind: str = 'quick'          # 'quick' (seconds, run by default) | 'train' (real data, minutes)
    estimate: Optional[str] = None  # for 'train': how long it takes on 2 CPU cores
    how: Optional[str] = None    # for exercises answered elsewhere: the command to run instead


EXERCISES = {}


def exercise(id: str, title: str, kind: str = 'quick', estimate: str = None, how: str = None):
    """Register the decorated function as the answer to exercise `id`."""
    assert kind in ('quick', 'train'), kind

    def register(fn):
        assert id not in EXERCISES, f'duplicate exercise {id}'
        EXERCISES[id] = Exercise(id, title, fn, kind, estimate, how)
        return fn
    return register


# '5.10.2' sorts after '5.4.3'; English-edition extras ('en.*') come last
def _order(id: str):
    head, _, rest = id.partition('.')
    return (1, id) if not head.isdigit() else (0, tuple(int(p) for p in id.split('.')))


def list_exercises(kind: str = None) -> list:
    """Exercise ids in the book's order, optionally only one kind."""
    return sorted((i for i, e in EXERCISES.items() if kind in (None, e.kind)), key=_order)


def get_exercise(id: str) -> Exercise:
    if id not in EXERCISES:
        section = id.rpartition('.')[0]  # '5.2.3' -> its section's exercises, not 5.12.3
        numbered = section.replace('.', '').isdigit() and _under(section)
        hint = section if numbered else did_you_mean(id, list_exercises())
        raise ConfigError(f"unknown exercise {id!r}; valid ids: {', '.join(list_exercises())}"
                          + (f'; did you mean {hint}?' if hint else ''))
    return EXERCISES[id]


def select(ids: Sequence[str]) -> list:
    """The exercises `ids` name, in the order given: an id, or a section whose exercises all run
    ('5.2' is 5.2.1 and 5.2.2); an unknown one is a ConfigError (before anything runs)."""
    chosen = []
    for id in ids:
        under = _under(id)
        chosen += under if id not in EXERCISES and under else [id]
    return [get_exercise(i) for i in dict.fromkeys(chosen)]


def _under(section: str) -> list:
    """The exercises of a section ('5.2' -> 5.2.1, 5.2.2)."""
    return [i for i in list_exercises() if section and i.startswith(section.rstrip('.') + '.')]


def run_exercise(id: str, log=print, **kwargs) -> Answer:
    """Run one exercise: its header, its explanation, then `answer: ...` and the time taken."""
    ex = get_exercise(id)
    log(f'\n== {ex.id}  {ex.title}'
        + (f'  [training, {ex.estimate}]' if ex.kind == 'train' else ''))
    start = time.time()
    answer = ex.fn(log=log, **kwargs)
    log(f'answer {ex.id}: {answer.text}'
        + (f'  ({time.time() - start:.0f} s)' if ex.kind == 'train' else ''))
    return answer
