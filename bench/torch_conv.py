"""PyTorch peer for bench/run.ts: a line-oriented JSON server on stdin/stdout.

Started once by bench/peers/torch.ts. Prints a ready line, then answers one JSON request per line:
  {"cmd": "measure", "shape": {...BenchShape}, "batch": N, "direction": "forward"|"backward",
   "reps": R, "minSampleMs": T, "slowCallMs": S}
with {"samples": [per-call ms...], "inner": calls per sample}. Same sampling plan as bench/timing.ts:
one warm-up call, a second call to size the inner loop, then R samples. One intra-op thread.
Backward is aten.convolution_backward for the input and weight gradients (no bias), so no forward is timed
with it. Random normal data (timing does not depend on the values).
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


def measure(req):
    s = req["shape"]
    n = req["batch"]
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
