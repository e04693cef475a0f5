"""Golden cases for batch normalisation (training and evaluation, with and without affine parameters).

Each case records in `extra` the running statistics after the call (F.batch_norm updates them in place in
training). The fixture library records inputs after the forward pass, so the op works on clones of the
running statistics and the recorded inputs keep their values from before the update.
"""
import torch.nn.functional as F

from fixturelib import rnd


def bn(w, name, shape, training, affine=True, running=True, momentum=0.1, eps=1e-5):
    c = shape[1]
    inputs = {
        "x": rnd(w.gen, *shape, scale=1.5) + 0.7,
        "runningMean": rnd(w.gen, c, scale=0.3) if running else None,
        "runningVar": (rnd(w.gen, c).abs() + 0.5) if running else None,
        "weight": (rnd(w.gen, c) + 1.0) if affine else None,
        "bias": rnd(w.gen, c) if affine else None,
    }
    state = {}

    def fn(x, runningMean, runningVar, weight, bias):
        state["runningMean"] = None if runningMean is None else runningMean.clone()
        state["runningVar"] = None if runningVar is None else runningVar.clone()
        return F.batch_norm(
            x, state["runningMean"], state["runningVar"], weight, bias, training=training, momentum=momentum, eps=eps
        )

    grad = ["x"] + (["weight", "bias"] if affine else [])
    extra = (lambda: {k: v for k, v in state.items() if v is not None}) if running else None
    w.case(
        "batchNorm2d",
        name,
        inputs,
        fn,
        args={"training": training, "momentum": momentum, "eps": eps},
        grad=grad,
        extra=extra,
    )


def build(w):
    bn(w, "train affine 2x3x4x5", (2, 3, 4, 5), True)
    bn(w, "train no affine 2x3x4x5", (2, 3, 4, 5), True, affine=False)
    bn(w, "train affine momentum 0.3 eps 1e-3 4x2x3x3", (4, 2, 3, 3), True, momentum=0.3, eps=1e-3)
    bn(w, "train affine no running stats 3x4x2x2", (3, 4, 2, 2), True, running=False)
    bn(w, "train affine N=1 1x3x3x3", (1, 3, 3, 3), True)
    bn(w, "train affine 1x1 spatial 5x3x1x1", (5, 3, 1, 1), True)
    bn(w, "eval affine 2x3x4x5", (2, 3, 4, 5), False)
    bn(w, "eval no affine 2x3x4x5", (2, 3, 4, 5), False, affine=False)
    bn(w, "eval affine eps 1e-3 1x4x3x2", (1, 4, 3, 2), False, eps=1e-3)
