"""Golden cases for src/ops/elementwise.ts and src/ops/activation.ts.

Binary ops run on pairs of shapes that exercise every broadcasting rule (equal shapes, [N, C, H, W]
with [N, C, 1, 1] as in squeeze-and-excitation, [C, 1, 1] (rank mismatch), scalar-shaped [], both
sides broadcasting) and with a plain number on either side (args.scalar / args.scalarSide; the
number gets no gradient). Divisors are kept away from zero.

Activations run on their exact kink points (0, -3, 3, 6 and neighbours), saturating values and
random values; torch's gradient at a kink is the reference.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

from fixturelib import rnd

BINARY = OrderedDict(add=torch.add, sub=torch.sub, mul=torch.mul, div=torch.div)

SHAPE_PAIRS = [
    ("same", [2, 3], [2, 3]),
    ("nchw_nc11", [2, 3, 4, 5], [2, 3, 1, 1]),
    ("nchw_c11", [2, 3, 4, 5], [3, 1, 1]),
    ("matrix_scalarshape", [2, 3], []),
    ("scalarshape_matrix", [], [2, 3]),
    ("col_row", [3, 1], [1, 4]),
    ("vector_rank3", [4], [2, 3, 4]),
    ("mixed", [2, 1, 3], [4, 1]),
    ("nc11_nchw", [2, 3, 1, 1], [2, 3, 2, 2]),
]

KINKS = [0.0, -3.0, 3.0, 6.0, -6.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 5.5, 6.5, 3.5, -3.5]
SATURATING = [-50.0, -20.0, -8.0, 8.0, 20.0, 50.0]
# Pads the kinks case to 32 elements with the kinks again at the end. Why 32: PyTorch 1.13's CPU
# hardswish_backward disagrees with itself at x = 3 (its vectorized loop gives 1, its scalar loop,
# used for the tail that does not fill a 2-vector block, gives 3/2). With a multiple of 16 elements
# every element goes through the vectorized loop, the path that handles the bulk of real tensors.
PADDING = [-2.9, 2.9, 5.9, 6.1, -0.1, 0.1, 0.01, -0.01, -3.0, 3.0, 0.0]

ACTIVATIONS = OrderedDict(
    relu=(F.relu, {}),
    relu6=(F.relu6, {}),
    leakyRelu=(lambda x: F.leaky_relu(x, 0.01), {}),
    sigmoid=(torch.sigmoid, {}),
    hardSigmoid=(F.hardsigmoid, {}),
    hardSwish=(F.hardswish, {}),
    silu=(F.silu, {}),
    tanh=(torch.tanh, {}),
)


def rnd_shape(gen, shape, scale=1.0):
    """rnd for any shape, including the scalar shape [] (torch.randn needs at least one size)."""
    n = 1
    for d in shape:
        n *= d
    return rnd(gen, n, scale=scale).reshape(shape)


def away_from_zero(t):
    """|t| >= 0.5, rounded to float32 so the reference runs on exactly the values the fixture records."""
    return (torch.sign(t) * (0.5 + t.abs())).float().double()


def build(w):
    g = w.gen
    for op, fn in BINARY.items():
        for label, sa, sb in SHAPE_PAIRS:
            a = rnd_shape(g, sa)
            b = rnd_shape(g, sb)
            if op == "div":
                b = away_from_zero(b)
            w.case(op, f"{op}_{label}", OrderedDict(a=a, b=b), lambda a, b, fn=fn: fn(a, b))
        # A plain number on either side: it broadcasts as a 0-d constant and gets no gradient.
        for side in ["b", "a"]:
            x = rnd(g, 2, 3)
            if op == "div" and side == "a":
                x = away_from_zero(x)
            scalar = 1.75

            def f(x, fn=fn, side=side):
                return fn(x, scalar) if side == "b" else fn(torch.tensor(scalar, dtype=torch.float64), x)

            w.case(op, f"{op}_number_{side}", OrderedDict(x=x), f, args={"scalar": scalar, "scalarSide": side})

    x = rnd(g, 3, 4)
    pos = (rnd(g, 3, 4).abs() + 0.1).float().double()
    w.case("neg", "neg", OrderedDict(x=x), lambda x: torch.neg(x))
    w.case("exp", "exp", OrderedDict(x=x), lambda x: torch.exp(x))
    w.case("log", "log", OrderedDict(x=pos), lambda x: torch.log(x))
    w.case("sqrt", "sqrt", OrderedDict(x=pos), lambda x: torch.sqrt(x))
    for e in [2.0, 3.0, -1.0, 0.0]:
        w.case("pow", f"pow_{e:g}", OrderedDict(x=x), lambda x, e=e: torch.pow(x, e), args={"exponent": e})
    w.case("pow", "pow_0.5", OrderedDict(x=pos), lambda x: torch.pow(x, 0.5), args={"exponent": 0.5})

    for op, (fn, args) in ACTIVATIONS.items():
        kinks = torch.tensor(KINKS + SATURATING + PADDING, dtype=torch.float32).double()
        w.case(op, f"{op}_kinks", OrderedDict(x=kinks), lambda x, fn=fn: fn(x), args=args)
        w.case(op, f"{op}_random", OrderedDict(x=rnd(g, 2, 3, 5, scale=4.0)), lambda x, fn=fn: fn(x), args=args)
    for slope in [0.2, 0.0]:
        kinks = torch.tensor(KINKS + SATURATING + PADDING, dtype=torch.float32).double()
        w.case(
            "leakyRelu",
            f"leakyRelu_slope{slope:g}",
            OrderedDict(x=kinks),
            lambda x, s=slope: F.leaky_relu(x, s),
            args={"negativeSlope": slope},
        )
