"""Every exercise of d2l zh chapter 5 (§5.1-§5.12) answered by code, plus the English
edition's extras.

    python -m gluon_cnn.exercises            # all quick ones (well under a minute)
    python -m gluon_cnn.exercises 5.3.1      # one
    python -m gluon_cnn.exercises --train    # the ones that train on Fashion-MNIST (minutes)
    python -m gluon_cnn.exercises --list     # ids, titles and kinds

One module per section (ex5_1 ... ex5_12, extras); each exercise is a function registered with
`@exercise(id, title, kind)` that prints a short explanation and returns an `Answer`.
"""
from ._registry import (EXERCISES, Answer, Exercise, exercise, get_exercise, list_exercises,
                        run_exercise, select)
from . import (ex5_1, ex5_2, ex5_3, ex5_4, ex5_5, ex5_6, ex5_7, ex5_8, ex5_9,  # noqa: F401
               ex5_10, ex5_11, ex5_12, extras)  # (importing registers them)

__all__ = ['EXERCISES', 'Answer', 'Exercise', 'exercise', 'get_exercise', 'list_exercises',
           'run_exercise', 'select']
