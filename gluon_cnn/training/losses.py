"""Losses beyond the book's softmax cross-entropy.

- Label smoothing: Szegedy et al. (2016), "Rethinking the Inception architecture", §7.
"""
from mxnet import gluon

from ..backend import npmode

__all__ = ['LabelSmoothingLoss']


class LabelSmoothingLoss(gluon.loss.Loss):
    """Cross-entropy against (1 - eps) * one_hot(y) + eps / K, per example.

    Equal to (1 - eps) * NLL(y) + eps * mean_k(-log p_k): the second term keeps the logits from
    growing without bound, so the net stays less over-confident on the test set.
    """

    def __init__(self, eps: float = 0.1, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._eps = eps

    def hybrid_forward(self, F, pred, label):
        _, npx = npmode.namespaces(F)
        logp = npx.log_softmax(pred, axis=-1)                              # (B, K)
        nll = -npx.pick(logp, label, axis=-1)                              # (B,)
        return (1 - self._eps) * nll - self._eps * logp.mean(axis=-1)
