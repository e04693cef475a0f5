"""Golden cases for the graph executor: a tiny network with most primitive kinds (conv with and without bias,
grouped conv, batch norm, relu, residual add, concat, channel shuffle, squeeze-and-excitation with sigmoid and
broadcast mul, max pool, deformable conv fed by an offset conv, global average pool, flatten, linear), run in
PyTorch float64 through its state_dict names.

The test (test/graph/golden.test.ts) builds the same network with GraphBuilder, using the same names, loads these
parameters by name and compares the output and every gradient: it proves the executor and the state_dict naming
together. Inputs are the image `x` followed by every state_dict entry; buffers (running statistics and
num_batches_tracked) are inputs without gradients. The training case records the updated buffers in `extra`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call
from torchvision.ops import DeformConv2d

from fixturelib import rnd


class Stem(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)


class SE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Conv2d(6, 2, 1)
        self.fc2 = nn.Conv2d(2, 6, 1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.b = nn.Conv2d(4, 2, 1)
        self.se = SE()


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Stem()
        self.block = Block()
        self.offset = nn.Conv2d(6, 18, 3, padding=1)
        self.deform = DeformConv2d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        x = F.relu(self.stem.bn(self.stem.conv(x)))
        a = F.relu(self.block.a(x)) + x
        b = F.relu(self.block.b(x))
        y = torch.cat([a, b], 1)
        n, c, h, w = y.shape
        y = y.view(n, 3, c // 3, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle, 3 groups
        s = torch.sigmoid(self.block.se.fc2(F.relu(self.block.se.fc1(F.adaptive_avg_pool2d(y, 1)))))
        y = y * s
        y = F.max_pool2d(y, 2)
        y = F.relu(self.deform(y, self.offset(y)))
        y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return self.fc(y)


def case(w, name, training):
    torch.manual_seed(7)
    model = TinyNet().double()
    state = model.state_dict()
    inputs = {"x": rnd(w.gen, 2, 3, 8, 8)}
    for k, v in state.items():
        v = v.to(torch.float64)
        if k.endswith("running_mean"):
            v = rnd(w.gen, *v.shape, scale=0.2)
        elif k.endswith("running_var"):
            v = rnd(w.gen, *v.shape).abs() + 0.5
        elif k.endswith("num_batches_tracked"):
            v = torch.tensor(3.0, dtype=torch.float64)
        else:
            # float32-representable values, so the float32 side starts from the same numbers
            v = v.to(torch.float32).to(torch.float64)
        inputs[k] = v
    buffers = [k for k, _ in model.named_buffers()]
    after = {}

    def fn(**kw):
        # The fixture library records inputs after the call; run on clones so the recorded buffers stay as given.
        tensors = {k: (v.clone() if k in buffers else v) for k, v in kw.items() if k != "x"}
        model.train(training)
        out = functional_call(model, tensors, (kw["x"],))
        for k in buffers:
            after[k] = tensors[k]
        return out

    grad = [k for k in inputs if k not in buffers]
    extra = (lambda: dict(after)) if training else None
    w.case("graph", name, inputs, fn, args={"training": training}, grad=grad, extra=extra)


def build(w):
    case(w, "tinynet eval", False)
    case(w, "tinynet train", True)
