"""Golden cases for conv2d: torch.nn.functional.conv2d in float64, one table covering every option.

args are written in convkit's spelling: stride / dilation as a number or [h, w], padding as a number, [h, w],
'same', 'valid' or an explicit [top, left, bottom, right] list (run in torch as F.pad then padding 0).
Tensors are kept tiny so the JSON stays small.
"""
import warnings

import torch
import torch.nn.functional as F

from fixturelib import rnd

# name, N, Cin, H, W, Cout, (kH, kW), stride, padding, dilation, groups, bias
CASES = [
    # kernel shapes
    ("k1x1_pointwise", 1, 4, 3, 4, 3, (1, 1), 1, 0, 1, 1, True),
    ("k3x3_pad1_odd_spatial", 1, 1, 7, 9, 2, (3, 3), 1, 1, 1, 1, True),
    ("k3x3_nopad_nobias", 1, 2, 5, 5, 3, (3, 3), 1, 0, 1, 1, False),
    ("k5x5_pad2", 1, 1, 5, 6, 2, (5, 5), 1, 2, 1, 1, True),
    ("k7x7_pad3_stride2_stem", 1, 1, 8, 7, 1, (7, 7), 2, 3, 1, 1, False),
    ("k1x3_pad_0_1", 2, 2, 3, 5, 2, (1, 3), 1, [0, 1], 1, 1, True),
    ("k3x1_pad_1_0", 1, 2, 5, 4, 2, (3, 1), 1, [1, 0], 1, 1, True),
    ("k1x7_pad_0_3", 1, 2, 3, 9, 2, (1, 7), 1, [0, 3], 1, 1, True),
    ("k2x4_valid", 1, 2, 5, 6, 2, (2, 4), 1, "valid", 1, 1, True),
    ("k5x5_equals_input", 1, 2, 5, 5, 2, (5, 5), 1, 0, 1, 1, True),
    # stride
    ("stride2_pad1_odd", 1, 2, 5, 7, 2, (3, 3), 2, 1, 1, 1, True),
    ("stride_2_1", 1, 2, 7, 5, 2, (3, 3), [2, 1], 1, 1, 1, True),
    ("stride_1_2_nobias", 1, 2, 5, 8, 2, (3, 3), [1, 2], 1, 1, 1, False),
    ("stride3_k2_leftover", 1, 2, 8, 7, 2, (2, 2), 3, 0, 1, 1, True),
    ("k1x1_stride2_downsample", 2, 3, 5, 4, 2, (1, 1), 2, 0, 1, 1, False),
    # dilation
    ("dilation2_pad2", 1, 2, 5, 6, 2, (3, 3), 1, 2, 2, 1, True),
    ("dilation_1_3_pad_1_3", 1, 1, 3, 8, 2, (3, 3), 1, [1, 3], [1, 3], 1, True),
    ("stride2_dilation3", 1, 1, 10, 9, 2, (3, 3), 2, 1, 3, 1, True),
    ("stride_2_1_dilation_1_2", 1, 2, 5, 7, 2, (3, 3), [2, 1], 0, [1, 2], 1, False),
    ("k2x2_dilation2_nopad", 1, 3, 6, 5, 2, (2, 2), 1, 0, 2, 1, True),
    # padding
    ("pad_1_2", 1, 2, 4, 5, 2, (3, 3), 1, [1, 2], 1, 1, True),
    ("same_3x3", 1, 2, 5, 6, 2, (3, 3), 1, "same", 1, 1, True),
    ("same_even_2x4", 1, 2, 5, 6, 2, (2, 4), 1, "same", 1, 1, True),
    ("same_even_2x4_dilation_3_1", 1, 2, 5, 6, 2, (2, 4), 1, "same", [3, 1], 1, False),
    ("same_3x3_dilation2", 1, 2, 5, 5, 2, (3, 3), 1, "same", 2, 1, True),
    ("same_2x3_dilation_1_2", 1, 1, 5, 7, 2, (2, 3), 1, "same", [1, 2], 1, True),
    ("same_1x1", 2, 2, 3, 4, 2, (1, 1), 1, "same", 1, 1, True),
    ("valid_3x3", 1, 2, 5, 6, 2, (3, 3), 1, "valid", 1, 1, False),
    ("explicit_1_0_2_1", 1, 2, 5, 6, 2, (3, 3), 1, [1, 0, 2, 1], 1, 1, True),
    ("explicit_0_2_1_0_stride2", 1, 2, 7, 6, 2, (3, 3), 2, [0, 2, 1, 0], 1, 1, True),
    ("explicit_2_1_0_3_dil2_groups2", 1, 2, 5, 4, 2, (3, 3), 1, [2, 1, 0, 3], 2, 2, True),
    # groups
    ("groups2_4to4", 1, 4, 3, 4, 4, (3, 3), 1, 1, 1, 2, True),
    ("groups2_4to2_nobias", 1, 4, 3, 4, 2, (3, 3), 1, 1, 1, 2, False),
    ("groups3_6to3_stride2", 1, 6, 4, 4, 3, (3, 3), 2, 1, 1, 3, True),
    ("groups4_pointwise_8to4", 1, 8, 2, 3, 4, (1, 1), 1, 0, 1, 4, True),
    ("depthwise_3x3", 1, 3, 4, 5, 3, (3, 3), 1, 1, 1, 3, True),
    ("depthwise_stride2", 1, 3, 5, 6, 3, (3, 3), 2, 1, 1, 3, False),
    ("depthwise_5x5_dil2_same", 1, 2, 5, 6, 2, (5, 5), 1, "same", 2, 2, True),
    ("depthwise_multiplier2", 1, 2, 4, 5, 4, (3, 3), 1, 1, 1, 2, True),
    ("depthwise_multiplier3_stride_2_1", 1, 2, 5, 4, 6, (3, 3), [2, 1], 1, 1, 2, False),
    # batch
    ("batch3_3x3_pad1", 3, 1, 3, 4, 2, (3, 3), 1, 1, 1, 1, True),
    ("batch2_groups2_stride2_dil2", 2, 2, 5, 5, 2, (3, 3), 2, 2, 2, 2, True),
    ("tiny_1x1_input", 2, 3, 1, 1, 2, (1, 1), 1, 0, 1, 1, True),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _torch_conv(x, weight, bias, stride, padding, dilation, groups):
    if isinstance(padding, list) and len(padding) == 4:
        top, left, bottom, right = padding
        x = F.pad(x, (left, right, top, bottom))
        padding = 0
    elif isinstance(padding, list):
        padding = tuple(padding)
    return F.conv2d(x, weight, bias, stride=_pair(stride), padding=padding, dilation=_pair(dilation), groups=groups)


def _check_same_padding(x, weight, kernel, dilation, groups):
    """Documents (and asserts) where PyTorch puts the odd pixel of 'same': on the bottom/right."""
    (kh, kw), (dh, dw) = kernel, _pair(dilation)
    th, tw = dh * (kh - 1), dw * (kw - 1)
    explicit = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
    with warnings.catch_warnings():  # torch warns that it pads a copy for uneven 'same': that is the point here
        warnings.simplefilter("ignore", UserWarning)
        a = F.conv2d(x, weight, None, padding="same", dilation=(dh, dw), groups=groups)
    b = _torch_conv(x, weight, None, 1, explicit, dilation, groups)
    assert torch.allclose(a, b, rtol=0, atol=1e-12), f"'same' is not [top, left, bottom, right] = {explicit}"


def build(w):
    for name, n, cin, h, wd, cout, kernel, stride, padding, dilation, groups, has_bias in CASES:
        x = rnd(w.gen, n, cin, h, wd)
        weight = rnd(w.gen, cout, cin // groups, *kernel, scale=0.5)
        bias = rnd(w.gen, cout) if has_bias else None
        if padding == "same":
            _check_same_padding(x, weight, kernel, dilation, groups)
        args = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        w.case(
            "conv2d",
            name,
            {"x": x, "weight": weight, "bias": bias},
            lambda x, weight, bias=None, s=stride, p=padding, d=dilation, g=groups: _torch_conv(
                x, weight, bias, s, p, d, g
            ),
            args=args,
        )
