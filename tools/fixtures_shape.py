"""Golden cases for src/ops/shape.ts and src/ops/reduce.ts.

Multi-input ops name their inputs x0, x1, ... in call order. split returns several tensors; to fit
the one-output fixture format, the torch side returns torch.cat of the pieces, each flattened, and
the test does the same with convkit's pieces (args.pieceShapes records every piece's shape so the
test checks those too).
"""
from collections import OrderedDict

import torch

import fixturelib
from fixturelib import rnd


def rnd_shape(gen, shape, scale=1.0):
    """rnd for any shape, including the scalar shape []."""
    n = 1
    for d in shape:
        n *= d
    return rnd(gen, n, scale=scale).reshape(shape)


def build(w):
    cases(w)


def cases(w):
    g = w.gen
    x234 = rnd(g, 2, 3, 4)
    for shape in [[6, 4], [4, -1], [-1], [2, 3, 2, 2], [-1, 1, 3]]:
        w.case("reshape", f"reshape_{shape}", OrderedDict(x=x234), lambda x, s=shape: torch.reshape(x, s),
               args={"shape": shape})
    w.case("reshape", "reshape_to_scalar", OrderedDict(x=rnd(g, 1, 1)), lambda x: torch.reshape(x, []),
           args={"shape": []})

    x2345 = rnd(g, 2, 3, 4, 5)
    x2314 = rnd(g, 2, 3, 1, 4)
    for start, end in [(0, -1), (1, -1), (1, 2), (0, 1), (-2, -1), (2, 2)]:
        w.case("flatten", f"flatten_{start}_{end}", OrderedDict(x=x2314),
               lambda x, s=start, e=end: torch.flatten(x, s, e), args={"startDim": start, "endDim": end})
    w.case("flatten", "flatten_defaults", OrderedDict(x=x234), lambda x: torch.flatten(x), args={})
    w.case("flatten", "flatten_scalar", OrderedDict(x=rnd_shape(g, [])), lambda x: torch.flatten(x), args={})

    for d0, d1 in [(0, 2), (1, -1), (0, 0), (-3, -2)]:
        w.case("transpose", f"transpose_{d0}_{d1}", OrderedDict(x=x234),
               lambda x, a=d0, b=d1: torch.transpose(x, a, b), args={"dim0": d0, "dim1": d1})
    w.case("transpose", "transpose_2d", OrderedDict(x=rnd(g, 3, 5)), lambda x: torch.transpose(x, 0, 1),
           args={"dim0": 0, "dim1": 1})

    for dims in [[0, 2, 3, 1], [3, 1, 0, 2], [-1, 0, 1, 2], [0, 1, 2, 3]]:
        w.case("permute", f"permute_{dims}", OrderedDict(x=x2345), lambda x, d=dims: x.permute(*d),
               args={"dims": dims})

    concat_cases = [
        ("axis0", [[2, 3], [1, 3], [3, 3]], 0),
        ("axis1", [[2, 1, 4], [2, 3, 4]], 1),
        ("axis_neg1", [[2, 3, 1], [2, 3, 2], [2, 3, 3]], -1),
        ("single", [[2, 2]], 1),
        ("legacy_empty", [[0], [2, 3], [2, 2]], 1),
    ]
    for label, shapes, axis in concat_cases:
        inputs = OrderedDict((f"x{i}", rnd_shape(g, s)) for i, s in enumerate(shapes))
        w.case("concat", f"concat_{label}", inputs, lambda axis=axis, **xs: torch.cat(list(xs.values()), axis),
               args={"axis": axis})

    split_cases = [
        ("int_uneven", [5, 3], 2, 0),
        ("int_even", [2, 6], 3, 1),
        ("int_larger", [2, 3], 7, -1),
        ("sections", [2, 5, 2], [1, 3, 1], 1),
        ("sections_zero", [4, 2], [0, 4, 0], 0),
    ]
    for label, shape, sizes, axis in split_cases:
        x = rnd_shape(g, shape)
        pieces = torch.split(x, sizes, axis)
        w.case("split", f"split_{label}", OrderedDict(x=x),
               lambda x, s=sizes, a=axis: torch.cat([p.reshape(-1) for p in torch.split(x, s, a)]),
               args={"splitSizeOrSections": sizes, "axis": axis, "pieceShapes": [list(p.shape) for p in pieces]})

    for dim, start, length in [(0, 1, 1), (2, -3, 2), (1, 3, 0)]:
        w.case("narrow", f"narrow_{dim}_{start}_{length}", OrderedDict(x=x234),
               lambda x, d=dim, s=start, n=length: torch.narrow(x, d, s, n),
               args={"dim": dim, "start": start, "length": length})

    # Reductions; dims None means the argument is omitted (reduce everything).
    for op, fn in [("sum", torch.sum), ("mean", torch.mean)]:
        for dims, keepdim in [(None, False), (0, False), (1, True), ([0, 2], False), ([-1], True),
                              ([1, 3], True), ([0, 1, 2, 3], False), ([], True), ([2], False)]:
            x = x2345 if not (isinstance(dims, list) and dims == [2]) else x234

            def f(x, dims=dims, keepdim=keepdim, fn=fn):
                return fn(x) if dims is None else fn(x, dims, keepdim)

            args = {"keepdim": keepdim}
            if dims is not None:
                args["dims"] = dims
            w.case(op, f"{op}_{dims}_keepdim{keepdim}", OrderedDict(x=x), f, args=args)
        w.case(op, f"{op}_scalar_dim0", OrderedDict(x=rnd_shape(g, [])), lambda x, fn=fn: fn(x, 0, True),
               args={"dims": 0, "keepdim": True})
