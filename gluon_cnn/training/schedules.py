"""Learning-rate schedules beyond the book's constant rate: warm-up + cosine, and LeCun et al.'s
(1998) steps. `gluon_cnn.app.run` builds them from TrainConfig's `lr_schedule` and `warmup`.

- Cosine decay: Loshchilov & Hutter (2017), "SGDR: stochastic gradient descent with warm
  restarts" (one cycle, no restarts).
- Linear warm-up: Goyal et al. (2017), "Accurate, large minibatch SGD: training ImageNet in 1 hour".
"""
import math

import mxnet as mx

__all__ = ['LR_SCHEDULES', 'WarmupCosine', 'warmup_cosine', 'EpochSteps', 'LECUN1998_STEPS']

LR_SCHEDULES = ('constant', 'cosine', 'lecun1998')  # --lr-schedule choices

# LeCun et al. (1998) §III.C: passes 1-2, 3-5, 6-8, 9-12 and 13-20 at 0.0005, 0.0002, 0.0001,
# 0.00005, 0.00001 (for SDLM). Kept as the step shape: (first 0-based epoch, lr / base lr).
LECUN1998_STEPS = ((0, 1.0), (2, 0.4), (5, 0.2), (8, 0.1), (12, 0.02))


def warmup_cosine(step: int, base_lr: float, total_steps: int, warmup_steps: int = 0,
                  final_lr: float = 0.0) -> float:
    """The learning rate of update number `step` (1-based, as MXNet's optimizer counts).

    Linear from base_lr/warmup_steps up to base_lr over the first warmup_steps updates, then
    final_lr + (base_lr - final_lr) * (1 + cos(pi * t)) / 2 with t going from 0 to 1 by total_steps.
    """
    if step <= warmup_steps:
        return base_lr * step / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_lr + (base_lr - final_lr) * (1 + math.cos(math.pi * t)) / 2


class WarmupCosine(mx.lr_scheduler.LRScheduler):
    """`warmup_cosine` as an MXNet LRScheduler: the optimizer calls it once per update."""

    def __init__(self, base_lr: float, total_steps: int, warmup_steps: int = 0,
                 final_lr: float = 0.0):
        super().__init__(base_lr=base_lr)
        self.total_steps, self.warmup_steps, self.final_lr = total_steps, warmup_steps, final_lr

    def __call__(self, num_update: int) -> float:
        return warmup_cosine(num_update, self.base_lr, self.total_steps, self.warmup_steps,
                             self.final_lr)


class EpochSteps(mx.lr_scheduler.LRScheduler):
    """base_lr times the factor of the last `steps` entry whose epoch has begun (LECUN1998_STEPS).
    """

    def __init__(self, base_lr: float, steps_per_epoch: int, steps=LECUN1998_STEPS):
        super().__init__(base_lr=base_lr)
        self.steps_per_epoch, self.steps = steps_per_epoch, tuple(steps)

    def __call__(self, num_update: int) -> float:
        epoch = (num_update - 1) // self.steps_per_epoch  # MXNet counts updates from 1
        return self.base_lr * [f for e, f in self.steps if e <= epoch][-1]
