"""The note on a run that ended at chance never contradicts itself: the updates it says the
plateau may need are more than the updates it says the run had (issue 34: "only 237 updates ...
need hundreds").

Oracle: the counts, read back from the note's own words, against the closed form
epochs * ceil(examples / batch size).
"""
import math
import re

import pytest

from gluon_cnn.app.train_command import chance_note
from gluon_cnn.runs.config import TrainConfig
from gluon_cnn.runs.record import RunRecord


@pytest.mark.parametrize('epochs, limit', [(1, None), (2, 20000), (1, 2000)])
def test_the_plateau_note_asks_for_more_than_was_done(epochs, limit):
    history = [{'epoch': i + 1, 'loss': 2.31, 'train_acc': 0.1, 'test_acc': 0.1, 'seconds': 1.0}
               for i in range(epochs)]
    note = chance_note(RunRecord(TrainConfig(out='runs/x', limit=limit), history))
    done = re.search(r'only (\d+) updates', note)
    needed = re.search(r'may need (\d+)\)', note)
    assert done and needed, note
    assert int(done.group(1)) == epochs * math.ceil((limit or 60_000) / 256)
    assert int(needed.group(1)) > int(done.group(1)), note
