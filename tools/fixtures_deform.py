"""Golden cases for deformConv2d: torchvision.ops.deform_conv2d (v1 and v2) in float64.

Covers offset groups 1/2/4, weight groups 1/2/4 (aligned and not with the offset groups), masks, stride,
dilation, padding forms, non-square kernels, batch 2, large offsets (many samples outside the image), and
sampling positions that are exactly integers (integer offsets; zero offsets with padding, which puts taps
exactly on y = -1 / x = -1), where the offset gradient is torchvision's one-sided slope.
"""
import torch
from torchvision.ops import deform_conv2d

from fixturelib import rnd


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _case(w, name, n, cin, h, wd, cout, k, stride=1, padding=0, dilation=1, groups=1, og=1, mask=False,
          bias=True, scale=1.0, offsets="random"):
    kh, kw = _pair(k)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    hout = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wout = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    off_shape = (n, 2 * og * kh * kw, hout, wout)
    if offsets == "random":
        offset = rnd(w.gen, *off_shape, scale=scale)
    elif offsets == "integer":
        offset = torch.randint(-3, 4, off_shape, generator=w.gen).to(torch.float64)
    else:
        offset = torch.zeros(off_shape, dtype=torch.float64)
    inputs = {
        "input": rnd(w.gen, n, cin, h, wd),
        "offset": offset,
        "weight": rnd(w.gen, cout, cin // groups, kh, kw, scale=0.5),
        "bias": rnd(w.gen, cout) if bias else None,
        "mask": torch.rand(n, og * kh * kw, hout, wout, generator=w.gen, dtype=torch.float32).to(torch.float64)
        if mask
        else None,
    }
    args = {"stride": stride, "padding": padding, "dilation": dilation}

    def fn(input, offset, weight, bias, mask):
        return deform_conv2d(input, offset, weight, bias, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                             mask=mask)

    w.case("deformConv2d", name, inputs, fn, args=args)


def build(w):
    _case(w, "v1 3x3 pad 1", 1, 2, 3, 4, 2, 3, padding=1)
    _case(w, "v1 batch 2 large offsets", 2, 2, 4, 5, 2, 3, scale=4.0)
    _case(w, "v2 batch 2 pad 1 large offsets", 2, 2, 2, 3, 2, 3, padding=1, mask=True, scale=3.0)
    _case(w, "v2 stride 2 pad 1", 1, 2, 5, 6, 2, 3, stride=2, padding=1, mask=True, scale=1.5)
    _case(w, "v1 dilation 2 pad 2", 1, 2, 3, 4, 2, 3, padding=2, dilation=2, scale=2.0)
    _case(w, "v2 stride 2 dilation 2 pad [1, 2] offsets x5", 2, 2, 6, 5, 2, 3, stride=2, padding=[1, 2],
          dilation=2, mask=True, scale=5.0)
    _case(w, "v1 offset groups 2", 1, 4, 4, 4, 2, 3, og=2, scale=2.0)
    _case(w, "v2 offset groups 2 batch 2", 2, 4, 3, 4, 2, 3, og=2, mask=True, scale=3.0)
    _case(w, "v1 weight groups 2", 1, 4, 4, 5, 4, 3, groups=2, scale=1.5)
    _case(w, "v2 weight groups 2 offset groups 2", 1, 4, 4, 4, 4, 3, groups=2, og=2, mask=True, scale=3.0)
    _case(w, "v2 weight groups 2 offset groups 4 kernel 2x2", 1, 4, 3, 4, 2, 2, groups=2, og=4, mask=True, scale=2.0)
    _case(w, "v1 weight groups 4 offset groups 2", 1, 4, 5, 4, 4, 3, stride=2, padding=1, groups=4, og=2,
          scale=2.0)
    _case(w, "v2 kernel 1x3 pad [0, 1]", 2, 2, 3, 4, 3, [1, 3], padding=[0, 1], mask=True, scale=2.0)
    _case(w, "v1 kernel 3x2 pad [1, 0] stride [2, 1]", 1, 3, 5, 4, 2, [3, 2], stride=[2, 1], padding=[1, 0],
          scale=2.0)
    _case(w, "v2 kernel 1x1 offsets x3", 2, 3, 3, 4, 2, 1, mask=True, scale=3.0)
    _case(w, "v1 no bias odd sizes stride 2 dilation [1, 2]", 1, 3, 7, 5, 2, 3, stride=2, padding=1,
          dilation=[1, 2], bias=False, scale=1.5)
    _case(w, "v2 kernel 2x3 dilation [2, 1] pad [1, 0] offsets x5", 1, 4, 3, 4, 2, [2, 3], padding=[1, 0],
          dilation=[2, 1], og=2, mask=True, scale=5.0)
    _case(w, "v1 integer offsets", 1, 2, 3, 4, 2, 3, padding=1, offsets="integer")
    _case(w, "v2 integer offsets groups 2 offset groups 2", 1, 4, 4, 4, 2, 3, groups=2, og=2,
          mask=True, offsets="integer")
    _case(w, "v2 zero offsets pad 1 (taps exactly on -1)", 1, 2, 3, 4, 2, 3, padding=1, mask=True, offsets="zero")
    _case(w, "v1 zero offsets pad 2 dilation 2", 1, 2, 4, 3, 2, 3, padding=2, dilation=2, offsets="zero")
