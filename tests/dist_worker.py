"""A tiny training run for tests/test_parallel.py: LeNet on 300 random images, 2 epochs.

python tests/dist_worker.py OUT KVSTORE CTXS [--sleep]: trains with
`gluon_cnn.training.engine.train` (the same loop as train.py) and saves this rank's parameters
to OUT/rank-<rank>.params. KVSTORE is
'device' for one process; under `python -m gluon_cnn.launch` it is a dist kvstore, and under
`python -m gluon_cnn.launch --horovod` it is 'horovod'. --sleep: write OUT/pid-<rank> once the
workers are joined and wait forever instead (the launch-liveness test kills one worker).
"""
import os
import sys
import time

import gluon_cnn  # noqa: F401  (first: its compat shims must come before mxnet on 3.12+)
import numpy as np
from mxnet import gluon, init

from gluon_cnn.training import engine, runtime as runtimes
from gluon_cnn.data import ArrayIter, Split
from gluon_cnn.training.devices import get_ctxs
from gluon_cnn.training.seeding import seed_everything
from gluon_cnn.models import get_model


def main(out, kvstore, ctx_spec, sleep=False):
    ctxs = get_ctxs(ctx_spec)
    runtime = runtimes.for_run(ctxs, kvstore)
    if sleep:
        with open(os.path.join(out, f'pid-{runtime.rank}'), 'w') as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(1)
    rng = np.random.RandomState(0)
    split = Split(rng.randint(0, 256, (300, 28, 28)).astype(np.uint8), rng.randint(0, 10, 300))
    seed_everything(0)
    train_iter = ArrayIter(split, 64, shuffle=True, seed=0)  # 300 = 4 x 64 + a short 44
    test_iter = ArrayIter(split, 100)
    net = get_model('lenet')
    net.initialize(init.Xavier(), ctx=ctxs)
    trainer = engine.make_trainer(net, 'momentum', 0.5, 0.0, None, runtime)
    engine.train(net, train_iter, test_iter, gluon.loss.SoftmaxCrossEntropyLoss(), trainer, 2,
                 runtime, seed=0, on_epoch=None)
    net.save_parameters(os.path.join(out, f'rank-{runtime.rank}.params'))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], sys.argv[3], '--sleep' in sys.argv)
