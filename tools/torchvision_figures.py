#!/usr/bin/env python3
"""Reference figures for the model zoo (src/zoo), computed with Debian's torch/torchvision.

Run: /usr/bin/python3 tools/torchvision_figures.py  ->  writes test/fixtures/torchvision-figures.json

For every zoo model that torchvision has, and for the zoo models it lacks (re-implemented below in a few
lines of PyTorch, mirroring src/zoo's parameter names), this records:
  - params:  number of trainable parameters (sum of p.numel() over model.parameters()), the figure torchvision
             publishes;
  - buffers: number of buffer elements (BN running statistics and num_batches_tracked);
  - macs:    multiply-accumulates at batch 1, counted with forward hooks on Conv2d and Linear modules only
             (torchvision's convention: conv = Cout*Hout*Wout*(Cin/groups)*kH*kW, linear = in*out per row,
             biases, BN, activations, pooling and additions not counted). The deformable models also count
             torchvision.ops.DeformConv2d-like layers with the conv formula (bilinear sampling not counted);
  - stateDict: state_dict key -> shape.
Weights are randomly initialised (no download); init_weights=False where torchvision offers it, for speed.

It also records "blocks": small goldens of torchvision's block modules (shufflenetv2/mobilenetv2
InvertedResidual, BasicBlock, Bottleneck, Inception, _DenseBlock, _Transition, SqueezeExcitation,
Conv2dNormActivation) and of the mirrors below, with random weights: state_dict, input and eval-mode output
(float64 reference from float32-rounded values), for test/blocks/torchvision-blocks.test.ts.
"""
import json
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models
from torchvision.ops import deform_conv2d

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torchvision-figures.json")


# ----------------------------------------------------------------------------------------------------------
# Models torchvision lacks, written to mirror src/zoo (same structure, same parameter names).


class ConvBnAct(nn.Module):
    """src/blocks/conv-bn-act.ts with its default names: .conv, .bn (activation functional)."""

    def __init__(self, cin, cout, k, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.act else x


class DepthwiseSeparable(nn.Module):
    """Howard et al. 2017, Fig. 3: 3x3 depthwise-BN-ReLU, 1x1 pointwise-BN-ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.depthwise = ConvBnAct(cin, cin, 3, stride, groups=cin)
        self.pointwise = ConvBnAct(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]

    def __init__(self, num_classes=1000):
        super().__init__()
        layers = [ConvBnAct(3, 32, 3, 2)]
        cin = 32
        for cout, s in self.CFG:
            layers.append(DepthwiseSeparable(cin, cout, s))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


class ShuffleV1Unit(nn.Module):
    """Zhang et al. 2017, Fig. 2 (b)/(c); names as src/blocks/shufflenet.ts (flat conv1/bn1...)."""

    def __init__(self, cin, cout, groups, stride, first_group_conv=True):
        super().__init__()
        self.stride, self.groups = stride, groups
        mid = cout // 4
        branch_out = cout - cin if stride == 2 else cout
        g1 = groups if first_group_conv else 1
        self.conv1 = nn.Conv2d(cin, mid, 1, groups=g1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_out)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.channel_shuffle(y, self.groups) if self.groups > 1 else y
        y = self.bn3(self.conv3(self.bn2(self.conv2(y))))
        if self.stride == 2:
            return F.relu(torch.cat([F.avg_pool2d(x, 3, 2, 1), y], 1))
        return F.relu(x + y)


class ShuffleNetV1(nn.Module):
    """g = 3, 1.0x: stage outputs 240/480/960, repeats 4/8/4 (Zhang et al. 2017, Table 1)."""

    def __init__(self, num_classes=1000, groups=3):
        super().__init__()
        self.conv1 = ConvBnAct(3, 24, 3, 2)
        cin = 24
        for i, (cout, n) in enumerate(zip([240, 480, 960], [4, 8, 4])):
            units = []
            for j in range(n):
                units.append(ShuffleV1Unit(cin, cout, groups, 2 if j == 0 else 1, not (i == 0 and j == 0)))
                cin = cout
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
        self.fc = nn.Linear(960, num_classes)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x), 3, 2, 1)
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=16):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def _se_bottleneck_forward(self, x):
    """torchvision's Bottleneck.forward with SE between bn3 and the addition."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.se_module(self.bn3(self.conv3(out)))
    return self.relu(out + identity)


def se_resnet50(num_classes=1000):
    """torchvision's resnet50 with SE after bn3, before the addition (Hu et al.), reduction 16."""
    net = models.resnet50(num_classes=num_classes)
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in layer:
            block.se_module = SqueezeExcite(block.bn3.num_features)
            block.forward = types.MethodType(_se_bottleneck_forward, block)
    return net


class DeformConvPack(nn.Module):
    """A 3x3 DCNv2 layer as src/blocks/deformable.ts builds it: weight (and bias) on the layer, a zero-initialised
    conv_offset predicting 2*9 offsets + 9 mask logits, mask = 2*sigmoid(logits) (src/ops/deform-layer.ts)."""

    def __init__(self, conv):
        super().__init__()
        self.weight = conv.weight
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        k = conv.kernel_size[0] * conv.kernel_size[1]
        self.k = k
        self.conv_offset = nn.Conv2d(conv.in_channels, 3 * k, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x):
        out = self.conv_offset(x)
        offset, logits = out[:, : 2 * self.k], out[:, 2 * self.k :]
        mask = 2 * torch.sigmoid(logits)
        return deform_conv2d(x, offset, self.weight, None, self.stride, self.padding, self.dilation, mask)


def deformable_resnet50(num_classes=1000):
    """torchvision's resnet50 with conv2 of every bottleneck in layer2..layer4 made DCNv2 (Zhu et al. 2019)."""
    net = models.resnet50(num_classes=num_classes)
    for layer in (net.layer2, net.layer3, net.layer4):
        for block in layer:
            block.conv2 = DeformConvPack(block.conv2)
    return net


class LeNet5(nn.Module):
    """LeCun et al. 1998 on 1x32x32: conv 6@5x5, tanh, avg-pool, conv 16@5x5, tanh, avg-pool, 120, 84, 10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.tanh(self.fc1(torch.flatten(x, 1)))
        return self.fc3(torch.tanh(self.fc2(x)))


# ----------------------------------------------------------------------------------------------------------

IMAGENET = (1, 3, 224, 224)

# zoo name -> (constructor, input shape, source)
MODELS = {
    "alexnet": (lambda: models.alexnet(), IMAGENET, "torchvision"),
    "vgg11": (lambda: models.vgg11(init_weights=False), IMAGENET, "torchvision"),
    "vgg16": (lambda: models.vgg16(init_weights=False), IMAGENET, "torchvision"),
    "resnet18": (lambda: models.resnet18(), IMAGENET, "torchvision"),
    "resnet50": (lambda: models.resnet50(), IMAGENET, "torchvision"),
    "resnext50_32x4d": (lambda: models.resnext50_32x4d(), IMAGENET, "torchvision"),
    "mobilenet_v2": (lambda: models.mobilenet_v2(), IMAGENET, "torchvision"),
    "shufflenet_v2_x1_0": (lambda: models.shufflenet_v2_x1_0(), IMAGENET, "torchvision"),
    "googlenet": (lambda: models.googlenet(aux_logits=False, init_weights=False), IMAGENET, "torchvision"),
    "densenet121": (lambda: models.densenet121(), IMAGENET, "torchvision"),
    "lenet5": (LeNet5, (1, 1, 32, 32), "reimplementation"),
    "mobilenet_v1": (MobileNetV1, IMAGENET, "reimplementation"),
    "shufflenet_v1_g3": (ShuffleNetV1, IMAGENET, "reimplementation"),
    "se_resnet50": (se_resnet50, IMAGENET, "reimplementation"),
    "deformable_resnet50": (deformable_resnet50, IMAGENET, "reimplementation"),
}


def count_macs(model, shape):
    total = [0]

    def conv_hook(m, inputs, out):
        # weight [Cout, Cin/groups, kH, kW]: per output element, Cin/groups * kH * kW multiply-adds.
        w = m.weight
        total[0] += out.numel() // out.shape[0] * w.shape[1] * w.shape[2] * w.shape[3]

    def linear_hook(m, inputs, out):
        total[0] += (out.numel() // out.shape[0]) * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, DeformConvPack)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        out = model(torch.randn(*shape))
    for h in handles:
        h.remove()
    return total[0], list(out.shape)


def figures(name):
    make, shape, source = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    macs, out_shape = count_macs(model, shape)
    state = {k: list(v.shape) for k, v in model.state_dict().items()}
    return {
        "source": source,
        "inputShape": list(shape),
        "outputShape": out_shape,
        "params": params,
        "buffers": buffers,
        "macs": macs,
        "stateDict": state,
    }


# ----------------------------------------------------------------------------------------------------------
# Block goldens: torchvision's own block modules (and the mirrors above) with random weights, in eval mode,
# on a small input, so test/blocks can check that src/blocks computes exactly what torchvision computes under
# the same parameter names. Values are rounded to float32 first and the reference runs in float64.


def _tv(module_path):
    import importlib

    return importlib.import_module(module_path)


def _randomise(module, gen):
    for name, t in module.state_dict().items():
        if t.dtype != torch.float32:
            continue  # num_batches_tracked
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "running_var":
            v = 0.5 + torch.rand(t.shape, generator=gen)
        elif leaf == "running_mean" or leaf == "bias":
            v = 0.1 * torch.randn(t.shape, generator=gen)
        elif t.dim() == 1:  # BN weight
            v = 0.5 + torch.rand(t.shape, generator=gen)
        else:
            fan_in = max(1, t[0].numel())
            scale = 0.1 if "conv_offset" in name else 1.0 / fan_in**0.5
            v = scale * torch.randn(t.shape, generator=gen)
        t.copy_(v.float())


def _flat(t):
    return [float("%.7g" % v) for v in t.detach().double().flatten().tolist()]


def _bottleneck(inplanes, planes, stride, groups, base_width):
    r = _tv("torchvision.models.resnet")
    down = nn.Sequential(r.conv1x1(inplanes, planes * 4, stride), nn.BatchNorm2d(planes * 4))
    return r.Bottleneck(inplanes, planes, stride, down, groups, base_width)


def _basic(inplanes, planes, stride):
    r = _tv("torchvision.models.resnet")
    down = nn.Sequential(r.conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    return r.BasicBlock(inplanes, planes, stride, down)


class _Deform(nn.Module):
    def __init__(self, cin, cout, modulated):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.empty(cout))
        self.modulated = modulated
        self.conv_offset = nn.Conv2d(cin, (3 if modulated else 2) * 9, 3, 1, 1)

    def forward(self, x):
        out = self.conv_offset(x)
        if not self.modulated:
            return deform_conv2d(x, out, self.weight, self.bias, padding=1)
        mask = 2 * torch.sigmoid(out[:, 18:])
        return deform_conv2d(x, out[:, :18], self.weight, self.bias, padding=1, mask=mask)


# case name -> (module factory, input shape)
BLOCKS = {
    "conv_norm_activation": (lambda: torchvision.ops.Conv2dNormActivation(3, 4, 3, 2), (1, 3, 7, 7)),
    "shufflenet_v2_unit_s1": (lambda: _tv("torchvision.models.shufflenetv2").InvertedResidual(8, 8, 1), (1, 8, 4, 4)),
    "shufflenet_v2_unit_s2": (lambda: _tv("torchvision.models.shufflenetv2").InvertedResidual(4, 8, 2), (1, 4, 6, 6)),
    "shufflenet_v1_unit_s1": (lambda: ShuffleV1Unit(12, 12, 3, 1), (1, 12, 4, 4)),
    "shufflenet_v1_unit_s2": (lambda: ShuffleV1Unit(6, 24, 3, 2, False), (1, 6, 6, 6)),
    "mobilenet_v2_unit_t6": (lambda: _tv("torchvision.models.mobilenetv2").InvertedResidual(4, 4, 1, 6), (1, 4, 5, 5)),
    "mobilenet_v2_unit_t1": (lambda: _tv("torchvision.models.mobilenetv2").InvertedResidual(6, 4, 2, 1), (1, 6, 6, 6)),
    "basic_block": (lambda: _basic(4, 6, 2), (1, 4, 6, 6)),
    "bottleneck_resnext": (lambda: _bottleneck(8, 2, 2, 2, 64), (1, 8, 6, 6)),
    "inception": (lambda: _tv("torchvision.models.googlenet").Inception(8, 4, 3, 5, 2, 3, 2), (1, 8, 5, 5)),
    "dense_block": (lambda: _tv("torchvision.models.densenet")._DenseBlock(2, 6, 2, 3, 0.0), (1, 6, 4, 4)),
    "transition": (lambda: _tv("torchvision.models.densenet")._Transition(12, 6), (1, 12, 4, 4)),
    "squeeze_excitation": (lambda: torchvision.ops.SqueezeExcitation(16, 4), (1, 16, 3, 3)),
    "depthwise_separable": (lambda: DepthwiseSeparable(4, 6, 2), (1, 4, 6, 6)),
    "deformable_v1": (lambda: _Deform(3, 4, False), (1, 3, 5, 5)),
    "deformable_v2": (lambda: _Deform(3, 4, True), (1, 3, 5, 5)),
}


def block_golden(name):
    make, shape = BLOCKS[name]
    gen = torch.Generator().manual_seed(1234)
    module = make().eval()
    with torch.no_grad():
        _randomise(module, gen)
        x = torch.randn(*shape, generator=gen)
        state = {k: [list(v.shape), _flat(v)] for k, v in module.state_dict().items()}
        # Reference in float64 from exactly the stored (float32-rounded) values.
        module = module.double()
        module.load_state_dict({k: torch.tensor(v[1], dtype=torch.float64).reshape(v[0]) for k, v in state.items()})
        xd = torch.tensor(_flat(x), dtype=torch.float64).reshape(shape)
        out = module(xd)
    return {
        "module": type(module).__name__,
        "state": state,
        "input": [list(shape), _flat(xd)],
        "output": [list(out.shape), _flat(out)],
    }


def main(argv):
    names = argv or list(MODELS)
    doc = {
        "generator": "tools/torchvision_figures.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "convention": "params = trainable parameters; macs at batch 1 from forward hooks on Conv2d and Linear "
        "(plus the deformable layers with the conv formula); biases, BN, pooling, activations not counted",
        "models": {},
    }
    for name in names:
        doc["models"][name] = figures(name)
        f = doc["models"][name]
        print(f"{name:22s} {f['source']:17s} params {f['params']:>12,d}  macs {f['macs']:>15,d}", file=sys.stderr)
    # One line per state_dict entry would be long; one line per model keeps the file small and diffable enough.
    lines = ["{"]
    head = {k: v for k, v in doc.items() if k != "models"}
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "models": {')
    items = list(doc["models"].items())
    for i, (name, f) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(f, separators=(',', ':'))}{comma}")
    lines.append("  },")
    lines.append('  "blocks": {')
    block_names = list(BLOCKS)
    for i, name in enumerate(block_names):
        comma = "," if i < len(block_names) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(block_golden(name), separators=(',', ':'))}{comma}")
    lines.append("  }")
    lines.append("}")
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.relpath(OUT)} ({os.path.getsize(OUT):,d} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
