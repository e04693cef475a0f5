"""PyTorch peer for bench/run.ts: a line-oriented JSON server on stdin/stdout.

Started once by bench/peers/torch.ts. Prints a ready line, then answers one JSON request per line:
  {"cmd": "measure", "shape": {...BenchShape}, "batch": N, "direction": "forward"|"backward",
   "reps": R, "minSampleMs": T, "slowCallMs": S}
with {"samples": [per-call ms...], "inner": calls per sample}. Same sampling plan as bench/timing.ts:
one warm-up call, a second call to size the inner loop, then R samples. One intra-op thread.
Backward is aten.convolution_backward for the input and weight gradients (no bias), so no forward is timed
with it. A shape with "deformable" runs torchvision.ops.deform_conv2d (v2: with a mask); its backward is
torch.autograd.grad of the input, offset, mask and weight gradients over a recorded forward (retained, so
only the backward is timed). Random normal data, offsets N(0, 1) pixels, mask U(0, 1).
"""

import json
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except Exception as exc:  # no torch: the benchmark notes the peer as absent
    print(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    sys.exit(0)

try:
    import torchvision
    from torchvision.ops import deform_conv2d
except Exception:  # no torchvision: deformable shapes answer with an error line
    torchvision = None

torch.set_num_threads(1)
torch.manual_seed(0)


def time_calls(fn, reps, min_sample_ms, slow_call_ms):
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1e3
    if first > slow_call_ms:
        return [first], 1
    t = time.perf_counter()
    fn()
    second = (time.perf_counter() - t) * 1e3
    inner = max(1, int(-(-min_sample_ms // max(second, 1e-3))))
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t) * 1e3 / inner)
    return samples, inner


def deform_call(req):
    s = req["shape"]
    n = req["batch"]
    if torchvision is None:
        raise RuntimeError("torchvision is not installed (Debian: python3-torchvision)")
    stride, pad, dil = s["stride"], s["padding"], s["dilation"]
    og = s["deformable"]["offsetGroups"]
    kk = s["k"] * s["k"]
    x = torch.randn(n, s["cIn"], s["h"], s["w"])
    w = torch.randn(s["cOut"], s["cIn"] // s["groups"], s["k"], s["k"])
    h_out = (s["h"] + 2 * pad - dil * (s["k"] - 1) - 1) // stride + 1
    w_out = (s["w"] + 2 * pad - dil * (s["k"] - 1) - 1) // stride + 1
    offset = torch.randn(n, 2 * og * kk, h_out, w_out)
    mask = torch.rand(n, og * kk, h_out, w_out)

    def forward():
        return deform_conv2d(x, offset, w, None, (stride, stride), (pad, pad), (dil, dil), mask)

    if req["direction"] == "forward":
        return forward  # no input requires grad: nothing is recorded
    leaves = [t.requires_grad_() for t in (x, offset, mask, w)]
    y = forward()
    gy = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, leaves, gy, retain_graph=True)


def measure(req):
    s = req["shape"]
    n = req["batch"]
    if s.get("deformable"):
        fn = deform_call(req)
        samples, inner = time_calls(fn, req["reps"], req["minSampleMs"], req["slowCallMs"])
        return {"samples": samples, "inner": inner}
    stride, pad, dil, groups = s["stride"], s["padding"], s["dilation"], s["groups"]
    x = torch.randn(n, s["cIn"], s["h"], s["w"])
    w = torch.randn(s["cOut"], s["cIn"] // groups, s["k"], s["k"])
    with torch.no_grad():
        y = F.conv2d(x, w, None, stride, pad, dil, groups)
        if req["direction"] == "forward":
            fn = lambda: F.conv2d(x, w, None, stride, pad, dil, groups)  # noqa: E731
        else:
            gy = torch.randn_like(y)
            fn = lambda: torch.ops.aten.convolution_backward(  # noqa: E731
                gy, x, w, None, [stride] * 2, [pad] * 2, [dil] * 2, False, [0, 0], groups, [True, True, False]
            )
        samples, inner = time_calls(fn, req["reps"], req["minSampleMs"], req["slowCallMs"])
    return {"samples": samples, "inner": inner}


print(
    json.dumps(
        {
            "ready": True,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__ if torchvision is not None else None,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "threads": torch.get_num_threads(),
        }
    ),
    flush=True,
)
for line in sys.stdin:
    req = json.loads(line)
    if req.get("cmd") == "quit":
        break
    try:
        reply = measure(req)
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(reply), flush=True)
