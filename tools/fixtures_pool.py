"""Golden cases for pooling (max, average, adaptive) and channel shuffle.

Inputs are random normals, so ties inside a max-pool window have probability zero and the argmax (and thus
the gradient) is unambiguous, except in the cases named "ties", which test PyTorch's tie rule on purpose. Sizes are chosen so that ceil_mode changes the output (8x8 k3 s2, 6x6 k3 s2 p1)
and so that PyTorch's "drop a last window that starts in the right padding" rule fires (5x5 k2 s2 p1).
"""
import torch
import torch.nn.functional as F

from fixturelib import rnd


def maxpool(w, name, shape, k, s=None, p=0, d=1, ceil=False):
    args = {"kernelSize": k, "padding": p, "dilation": d, "ceilMode": ceil}
    if s is not None:
        args["stride"] = s
    w.case(
        "maxPool2d",
        name,
        {"x": rnd(w.gen, *shape)},
        lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil),
        args=args,
    )


def avgpool(w, name, shape, k, s=None, p=0, ceil=False, include=True, divisor=None):
    args = {"kernelSize": k, "padding": p, "ceilMode": ceil, "countIncludePad": include}
    if s is not None:
        args["stride"] = s
    if divisor is not None:
        args["divisorOverride"] = divisor
    w.case(
        "avgPool2d",
        name,
        {"x": rnd(w.gen, *shape)},
        lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include, divisor_override=divisor),
        args=args,
    )


def adaptive(w, kind, name, shape, size):
    fn = F.adaptive_avg_pool2d if kind == "avg" else F.adaptive_max_pool2d
    w.case(
        "adaptiveAvgPool2d" if kind == "avg" else "adaptiveMaxPool2d",
        name,
        {"x": rnd(w.gen, *shape)},
        lambda x: fn(x, size),
        args={"outputSize": size},
    )


def shuffle(w, name, shape, groups):
    n, c, h, wd = shape

    def fn(x):
        # nn.ChannelShuffle has no backward in torch 1.13, so the gradient comes from the view/transpose
        # definition; its forward is checked against nn.ChannelShuffle here.
        y = x.view(n, groups, c // groups, h, wd).transpose(1, 2).reshape(n, c, h, wd)
        assert torch.equal(y.detach(), torch.nn.ChannelShuffle(groups)(x.detach()))
        return y

    w.case("channelShuffle", name, {"x": rnd(w.gen, *shape)}, fn, args={"groups": groups})


def build(w):
    # max pooling
    maxpool(w, "k2 default stride 6x6", (2, 2, 6, 6), 2)
    maxpool(w, "k3 s1 5x5", (1, 2, 5, 5), 3, 1)
    maxpool(w, "k3 s2 7x7", (1, 2, 7, 7), 3, 2)
    maxpool(w, "k3 s2 7x7 ceil", (1, 2, 7, 7), 3, 2, ceil=True)
    maxpool(w, "k3 s2 8x8 floor", (1, 2, 8, 8), 3, 2)
    maxpool(w, "k3 s2 8x8 ceil", (1, 2, 8, 8), 3, 2, ceil=True)
    maxpool(w, "k3 s2 p1 6x6 floor", (1, 2, 6, 6), 3, 2, 1)
    maxpool(w, "k3 s2 p1 6x6 ceil", (1, 2, 6, 6), 3, 2, 1, ceil=True)
    maxpool(w, "k2 s2 p1 5x5 ceil drops last window", (1, 2, 5, 5), 2, 2, 1, ceil=True)
    maxpool(w, "k(2,3) s(1,2) p(1,1) 5x7", (1, 3, 5, 7), [2, 3], [1, 2], [1, 1])
    maxpool(w, "k3 d2 7x7", (1, 2, 7, 7), 3, 1, 0, 2)
    maxpool(w, "k5 s2 4x4 ceil (kernel larger than input, still one window)", (1, 2, 4, 4), 5, 2, ceil=True)
    maxpool(w, "k3 s2 p1 d2 8x8 ceil", (1, 2, 8, 8), 3, 2, 1, 2, ceil=True)
    maxpool(w, "k(3,2) s(2,1) d(1,2) 7x6", (2, 1, 7, 6), [3, 2], [2, 1], 0, [1, 2])
    # Asymmetric padding [top, left, bottom, right] has no PyTorch pooling argument; the reference pads
    # with -inf explicitly and pools without padding (same thing when ceil_mode is off).
    w.case(
        "maxPool2d",
        "k3 s2 asymmetric pad [1,0,0,1] 6x7",
        {"x": rnd(w.gen, 1, 2, 6, 7)},
        lambda x: F.max_pool2d(F.pad(x, (0, 1, 1, 0), value=float("-inf")), 3, 2),
        args={"kernelSize": 3, "stride": 2, "padding": [1, 0, 0, 1]},
    )

    # Ties on purpose (small integers): PyTorch's CPU kernel sends the gradient to the first maximum in
    # row-major scan order of each window; these cases pin that rule down, overlapping windows included.
    for name, k, st, pad in (("ties k3 s2 p1 7x7", 3, 2, 1), ("ties k2 s1 5x5", 2, 1, 0)):
        xt = torch.randint(0, 3, (1, 2, 7 if k == 3 else 5, 7 if k == 3 else 5), generator=w.gen).to(torch.float64)
        w.case(
            "maxPool2d",
            name,
            {"x": xt},
            lambda x, k=k, st=st, pad=pad: F.max_pool2d(x, k, st, pad),
            args={"kernelSize": k, "stride": st, "padding": pad},
        )
    xt = torch.randint(0, 2, (1, 2, 7, 5), generator=w.gen).to(torch.float64)
    w.case("adaptiveMaxPool2d", "ties 7x5 to 3x2", {"x": xt}, lambda x: F.adaptive_max_pool2d(x, [3, 2]),
           args={"outputSize": [3, 2]})

    # average pooling
    avgpool(w, "k2 default stride 6x6", (2, 2, 6, 6), 2)
    avgpool(w, "k3 s2 p1 6x6 include pad", (1, 2, 6, 6), 3, 2, 1)
    avgpool(w, "k3 s2 p1 6x6 exclude pad", (1, 2, 6, 6), 3, 2, 1, include=False)
    avgpool(w, "k3 s2 p1 6x6 ceil include pad", (1, 2, 6, 6), 3, 2, 1, ceil=True)
    avgpool(w, "k3 s2 p1 6x6 ceil exclude pad", (1, 2, 6, 6), 3, 2, 1, ceil=True, include=False)
    avgpool(w, "k3 s3 p1 6x6 ceil include pad (overhang)", (1, 2, 6, 6), 3, 3, 1, ceil=True)
    avgpool(w, "k3 s3 p1 6x6 ceil exclude pad (overhang)", (1, 2, 6, 6), 3, 3, 1, ceil=True, include=False)
    avgpool(w, "k3 s2 8x8 ceil", (2, 1, 8, 8), 3, 2, ceil=True)
    avgpool(w, "k2 s2 p1 5x5 ceil drops last window", (1, 2, 5, 5), 2, 2, 1, ceil=True)
    avgpool(w, "k(2,3) s(1,2) p(1,1) 5x7", (1, 2, 5, 7), [2, 3], [1, 2], [1, 1])
    avgpool(w, "k(2,3) s(1,2) p(1,1) 5x7 exclude pad", (1, 2, 5, 7), [2, 3], [1, 2], [1, 1], include=False)
    avgpool(w, "k5 s2 4x5 ceil (kernel larger than input)", (1, 2, 4, 5), 5, 2, ceil=True)
    avgpool(w, "k5 s2 4x5 ceil exclude pad (kernel larger than input)", (1, 2, 4, 5), 5, 2, ceil=True, include=False)
    avgpool(w, "k3 s2 p1 6x6 divisor 5", (1, 2, 6, 6), 3, 2, 1, divisor=5)
    avgpool(w, "k3 s3 p1 6x6 ceil divisor 3", (1, 2, 6, 6), 3, 3, 1, ceil=True, divisor=3)
    w.case(
        "avgPool2d",
        "k3 s1 asymmetric pad [0,1,1,0] include pad 5x5",
        {"x": rnd(w.gen, 1, 2, 5, 5)},
        lambda x: F.avg_pool2d(F.pad(x, (1, 0, 0, 1)), 3, 1),
        args={"kernelSize": 3, "stride": 1, "padding": [0, 1, 1, 0]},
    )

    # adaptive pooling, from odd sizes so bins overlap and differ in size
    for kind in ("avg", "max"):
        adaptive(w, kind, "7x5 to 1x1", (2, 2, 7, 5), [1, 1])
        adaptive(w, kind, "7x5 to 2x3", (2, 2, 7, 5), [2, 3])
        adaptive(w, kind, "7x5 to 3x3", (1, 2, 7, 5), [3, 3])
        adaptive(w, kind, "7x5 to 7x5 (identity)", (1, 2, 7, 5), [7, 5])
        adaptive(w, kind, "5x4 to 7x6 (upsampling)", (1, 2, 5, 4), [7, 6])
        adaptive(w, kind, "6x9 to 4", (1, 2, 6, 9), 4)

    # channel shuffle
    shuffle(w, "C6 g2", (2, 6, 2, 3), 2)
    shuffle(w, "C6 g3", (1, 6, 3, 2), 3)
    shuffle(w, "C8 g4", (2, 8, 2, 2), 4)
    shuffle(w, "C12 g3", (1, 12, 2, 2), 3)
    shuffle(w, "C4 g1 (identity)", (1, 4, 2, 2), 1)
    shuffle(w, "C4 g4", (1, 4, 1, 2), 4)
