"""Golden cases for src/ops/linear.ts and src/ops/loss.ts: the classifier head (linear), softmax,
logSoftmax, nllLoss and crossEntropy.

Labels are not tensors with gradients, so they travel in args.labels (flat, row-major) and the
torch function closes over them as a long tensor.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from fixturelib import rnd


def build(w):
    cases(w)


def labels_for(gen, shape, classes):
    return torch.randint(0, classes, shape, generator=gen)


def cases(w):
    g = w.gen
    # linear: 2-d, 3-d and 1-d x, with and without bias
    for label, xshape, out_f in [("2d", [4, 5], 3), ("3d", [2, 4, 5], 3), ("1d", [5], 2), ("wide", [3, 7], 6)]:
        in_f = xshape[-1]
        x = rnd(g, *xshape)
        weight = rnd(g, out_f, in_f, scale=0.5)
        bias = rnd(g, out_f)
        w.case("linear", f"linear_{label}_bias", OrderedDict(x=x, weight=weight, bias=bias),
               lambda x, weight, bias: F.linear(x, weight, bias))
        w.case("linear", f"linear_{label}_nobias", OrderedDict(x=x, weight=weight),
               lambda x, weight: F.linear(x, weight))

    # softmax / logSoftmax over several dims, including large logits (stability)
    for op, fn in [("softmax", torch.softmax), ("logSoftmax", torch.log_softmax)]:
        for label, shape, dim, scale in [("2d_dim0", [3, 4], 0, 1.0), ("2d_dim1", [3, 4], 1, 1.0),
                                         ("2d_dim_neg1", [3, 4], -1, 1.0), ("3d_dim1", [2, 3, 4], 1, 1.0),
                                         ("3d_dim0", [2, 3, 4], 0, 1.0), ("large", [3, 5], 1, 40.0)]:
            x = rnd(g, *shape, scale=scale)
            w.case(op, f"{op}_{label}", OrderedDict(x=x), lambda x, d=dim, fn=fn: fn(x, d), args={"dim": dim})

    # crossEntropy: every reduction, with and without label smoothing
    logits = rnd(g, 6, 4, scale=2.0)
    labels = labels_for(g, [6], 4)
    for reduction in ["mean", "sum", "none"]:
        for smoothing in [0.0, 0.1]:
            w.case("crossEntropy", f"crossEntropy_{reduction}_ls{smoothing:g}", OrderedDict(logits=logits),
                   lambda logits, r=reduction, s=smoothing: F.cross_entropy(logits, labels, reduction=r,
                                                                           label_smoothing=s),
                   args={"labels": labels.tolist(), "reduction": reduction, "labelSmoothing": smoothing})
    # ignoreIndex (PyTorch's default -100) with smoothing: ignored rows count nowhere
    ignored = labels.clone()
    ignored[1] = -100
    ignored[4] = -100
    for reduction in ["mean", "sum", "none"]:
        w.case("crossEntropy", f"crossEntropy_ignore_{reduction}_ls0.1", OrderedDict(logits=logits),
               lambda logits, r=reduction: F.cross_entropy(logits, ignored, reduction=r, label_smoothing=0.1),
               args={"labels": ignored.tolist(), "reduction": reduction, "labelSmoothing": 0.1})
    # K-dimensional input [N, C, H, W] with labels [N, H, W]; unbatched [C] with a 0-d label
    logits_k = rnd(g, 2, 3, 2, 2)
    labels_k = labels_for(g, [2, 2, 2], 3)
    for reduction in ["mean", "none"]:
        w.case("crossEntropy", f"crossEntropy_kdim_{reduction}_ls0.1", OrderedDict(logits=logits_k),
               lambda logits, r=reduction: F.cross_entropy(logits, labels_k, reduction=r, label_smoothing=0.1),
               args={"labels": labels_k.reshape(-1).tolist(), "reduction": reduction, "labelSmoothing": 0.1})
    logits_u = rnd(g, 5)
    w.case("crossEntropy", "crossEntropy_unbatched", OrderedDict(logits=logits_u),
           lambda logits: F.cross_entropy(logits, torch.tensor(3)),
           args={"labels": [3], "reduction": "mean", "labelSmoothing": 0.0})
    # large logits: the loss must not overflow
    big = rnd(g, 3, 4, scale=60.0)
    big_labels = labels_for(g, [3], 4)
    w.case("crossEntropy", "crossEntropy_large_logits", OrderedDict(logits=big),
           lambda logits: F.cross_entropy(logits, big_labels),
           args={"labels": big_labels.tolist(), "reduction": "mean", "labelSmoothing": 0.0})

    # nllLoss on log-probabilities
    # rounded to float32 so the reference runs on exactly the values the fixture records
    logp = torch.log_softmax(rnd(g, 5, 3), 1).float().double()
    nll_labels = labels_for(g, [5], 3)
    nll_labels[2] = -100
    for reduction in ["mean", "sum", "none"]:
        w.case("nllLoss", f"nllLoss_{reduction}", OrderedDict(logProbs=logp),
               lambda logProbs, r=reduction: F.nll_loss(logProbs, nll_labels, reduction=r),
               args={"labels": nll_labels.tolist(), "reduction": reduction})
