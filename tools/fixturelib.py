"""Shared machinery for golden fixtures: run a case in PyTorch and write what convkit must reproduce.

Each case: named inputs (float32 values, random from a seeded generator), an op called in float64 on
those exact values (so the reference is more accurate than either float32 implementation), the
output, a random gradOutput, and the gradient of every input that requires one.
"""
import json
import os

import torch

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")


def spec(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def rnd(gen, *shape, scale=1.0):
    """float32 normal values, returned as float64 so the reference runs in double precision."""
    return (torch.randn(tuple(shape), generator=gen, dtype=torch.float32) * scale).to(torch.float64)


class Writer:
    def __init__(self, family):
        self.family = family
        self.cases = []
        self.gen = torch.Generator().manual_seed(sum(map(ord, family)))

    def case(self, op, name, inputs, fn, args=None, grad=None, extra=None):
        """inputs: ordered dict name -> float64 tensor (None allowed and skipped);
        fn(**inputs) -> tensor; grad: names needing gradients (default: all inputs);
        extra: callable returning dict name -> tensor, read after the forward pass."""
        names = [k for k, v in inputs.items() if v is not None]
        grad = names if grad is None else grad
        leaves = {}
        for k, v in inputs.items():
            if v is None:
                leaves[k] = None
                continue
            leaf = v.detach().clone()
            leaf.requires_grad_(k in grad)
            leaves[k] = leaf
        out = fn(**leaves)
        record = {
            "op": op,
            "name": name,
            "args": args or {},
            "inputs": {k: spec(leaves[k]) for k in names},
            "requiresGrad": list(grad),
            "output": spec(out),
            "gradOutput": None,
            "grads": {},
        }
        if extra is not None:
            record["extra"] = {k: spec(v) for k, v in extra().items()}
        if grad and out.requires_grad:
            g = rnd(self.gen, *out.shape)
            out.backward(g)
            record["gradOutput"] = spec(g)
            for k in grad:
                if leaves[k].grad is None:
                    record["grads"][k] = spec(torch.zeros_like(leaves[k]))
                else:
                    record["grads"][k] = spec(leaves[k].grad)
        self.cases.append(record)

    def write(self):
        os.makedirs(FIXTURE_DIR, exist_ok=True)
        path = os.path.join(FIXTURE_DIR, f"{self.family}.json")
        doc = {"generator": "tools/gen_fixtures.py", "torch": torch.__version__, "cases": self.cases}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
        os.replace(tmp, path)
        print(f"{path}: {len(self.cases)} cases")
