#!/usr/bin/python3
"""Train a convkit model in PyTorch, for the issue's "within 1 point of PyTorch" check (docs/training.md).

The network is rebuilt from convkit's exported graph JSON by a small interpreter (GraphModule below: one
branch per graph op, the same primitive ops the TypeScript executor runs), so it is the same network by
construction, and it starts from convkit's initial weights (read from weights.safetensors with the tiny
reader below). Data, normalisation, augmentation, optimizer, schedule and their defaults mirror
src/train/loop-config.ts; only the random streams differ (shuffling and augmentation draw from torch's
generator), which is why the comparison is of final accuracy, not of histories.

    convkit train fmnist-vgg-large --epochs 15 --augment --save-initial -o runs/vgg   # writes runs/vgg/initial first
    /usr/bin/python3 tools/torch_train.py runs/vgg/initial --epochs 15 --augment --threads 1,2

Prints one JSON line per thread count: final test accuracy and loss, training images/s (forward, backward
and optimizer step only, like convkit's history) and the per-epoch history; `--json FILE` writes them all.
`--max-steps N` stops early (the quick test in test/train/loop-torch.test.ts); `--compare-logits FILE`
checks the interpreter against convkit's own eval-mode logits before training.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
EMBEDDED_DIR = os.path.join(HERE, "..", "data", "fashion-mnist-subset")
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


# ------------------------------------------------------------------------------------------ safetensors

_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """{name: float32 ndarray}: 8-byte little-endian header length, JSON header, raw little-endian data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[begin:end], dtype=dtype).astype(np.float32)
        out[name] = arr.reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    """The reader's inverse (float32 only), for tests that hand arrays back to convkit."""
    header, offset, chunks = {}, 0, []
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        chunks.append(b)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


# ------------------------------------------------------------------------------------------ graph -> nn.Module

class GraphModule(nn.Module):
    """Runs a convkit graph (graph.json) with torch ops. Parameters and buffers keep the graph's order."""

    def __init__(self, graph, weights):
        super().__init__()
        self.graph = graph
        self.key = {}
        self.weights = nn.ParameterDict()
        for i, (name, info) in enumerate(graph["params"].items()):
            key = "p%d" % i
            self.key[name] = key
            if name not in weights:
                raise ValueError("weights: missing tensor %r" % name)
            t = torch.tensor(np.asarray(weights[name], dtype=np.float32).reshape(info["shape"]))
            if info["kind"] == "parameter":
                self.weights[key] = nn.Parameter(t)
            else:
                self.register_buffer(key, t)

    def tensor(self, node, role):
        name = node.get("params", {}).get(role)
        if name is None:
            return None
        key = self.key[name]
        return self.weights[key] if key in self.weights else getattr(self, key)

    def forward(self, x):
        g = self.graph
        if len(g["inputs"]) != 1 or len(g["outputs"]) != 1:
            raise ValueError("only single-input, single-output graphs")
        values = {g["inputs"][0]["name"]: x}
        for node in g["nodes"]:
            args = [values[v] for v in node["inputs"]]
            try:
                outs = self.run(node, args)
            except Exception as e:
                raise type(e)("node %s (%s): %s" % (node["name"], node["op"], e)) from e
            for name, value in zip(node["outputs"], outs):
                values[name] = value
        return values[g["outputs"][0]]

    def run(self, node, x):
        op, a, p = node["op"], node.get("attrs", {}), lambda role: self.tensor(node, role)
        if op == "conv2d":
            t, l, b, r = a["padding"]
            inp, pad = (x[0], (t, l)) if (t, l) == (b, r) else (F.pad(x[0], (l, r, t, b)), 0)
            return [F.conv2d(inp, p("weight"), p("bias"), tuple(a["stride"]), pad, tuple(a["dilation"]), a["groups"])]
        if op == "deformConv2d":
            from torchvision.ops import deform_conv2d
            t, l, b, r = a["padding"]
            if (t, l) != (b, r):
                raise NotImplementedError("asymmetric padding of deformConv2d")
            mask = x[2] if a.get("mask") else None
            return [deform_conv2d(x[0], x[1], p("weight"), p("bias"), tuple(a["stride"]), (t, l),
                                  tuple(a["dilation"]), mask)]
        if op == "batchNorm2d":
            return [self.batch_norm(node, x[0])]
        if op == "linear":
            return [F.linear(x[0], p("weight"), p("bias"))]
        simple = {"relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "hardSigmoid": F.hardsigmoid,
                  "hardSwish": F.hardswish, "silu": F.silu, "tanh": torch.tanh, "identity": lambda v: v}
        if op in simple:
            return [simple[op](x[0])]
        if op == "leakyRelu":
            return [F.leaky_relu(x[0], a["negativeSlope"])]
        binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
        if op in binary:
            return [binary[op](x[0], x[1])]
        if op == "concat":
            return [torch.cat(x, a["axis"])]
        if op == "split":
            return list(torch.split(x[0], a["sizes"], a["axis"]))
        if op == "reshape":
            return [x[0].reshape([x[0].shape[i] if d == 0 else d for i, d in enumerate(a["shape"])])]
        if op == "flatten":
            return [torch.flatten(x[0], a["startDim"], a["endDim"])]
        if op == "transpose":
            return [x[0].transpose(a["dim0"], a["dim1"])]
        if op == "permute":
            return [x[0].permute(a["dims"])]
        if op == "channelShuffle":
            n, c, h, w = x[0].shape
            gr = a["groups"]
            return [x[0].reshape(n, gr, c // gr, h, w).transpose(1, 2).reshape(n, c, h, w)]
        if op == "maxPool2d":
            t, l, b, r = a["padding"]
            inp, pad = (x[0], (t, l)) if (t, l) == (b, r) else (F.pad(x[0], (l, r, t, b), value=-math.inf), 0)
            return [F.max_pool2d(inp, tuple(a["kernelSize"]), tuple(a["stride"]), pad, tuple(a["dilation"]),
                                 ceil_mode=a["ceilMode"])]
        if op == "avgPool2d":
            t, l, b, r = a["padding"]
            if (t, l) != (b, r):
                raise NotImplementedError("asymmetric padding of avgPool2d")
            return [F.avg_pool2d(x[0], tuple(a["kernelSize"]), tuple(a["stride"]), (t, l), a["ceilMode"],
                                 a["countIncludePad"], a.get("divisorOverride"))]
        if op == "adaptiveAvgPool2d":
            return [F.adaptive_avg_pool2d(x[0], tuple(a["outputSize"]))]
        if op == "adaptiveMaxPool2d":
            return [F.adaptive_max_pool2d(x[0], tuple(a["outputSize"]))]
        if op == "dropout":
            return [F.dropout(x[0], a["p"], self.training)]
        if op in ("sum", "mean"):
            fn = torch.sum if op == "sum" else torch.mean
            return [fn(x[0], dim=a["dims"], keepdim=a["keepdim"]) if a["dims"] else fn(x[0])]
        if op == "softmax":
            return [F.softmax(x[0], a["axis"])]
        if op == "logSoftmax":
            return [F.log_softmax(x[0], a["axis"])]
        if op == "constant":
            return [p("value")]
        raise NotImplementedError("op %s" % op)

    def batch_norm(self, node, x):
        """nn.BatchNorm2d.forward: num_batches_tracked += 1 in training; momentum None = cumulative average."""
        a = node["attrs"]
        weight, bias = self.tensor(node, "weight"), self.tensor(node, "bias")
        if not a["trackRunningStats"]:
            return F.batch_norm(x, None, None, weight, bias, True, 0.0, a["eps"])
        mean, var = self.tensor(node, "runningMean"), self.tensor(node, "runningVar")
        momentum = a["momentum"]
        if self.training:
            tracked = self.tensor(node, "numBatchesTracked")
            tracked.add_(1)
            if momentum is None:
                momentum = 1.0 / float(tracked)
        return F.batch_norm(x, mean, var, weight, bias, self.training, momentum or 0.0, a["eps"])


# ------------------------------------------------------------------------------------------ data

def find_idx(directory, stem):
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", blob[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: expected an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def has_dataset(directory):
    return all(find_idx(directory, s) is not None for pair in STEMS.values() for s in pair)


def load_split(directory, split, limit):
    images_stem, labels_stem = STEMS[split]
    images = read_idx(find_idx(directory, images_stem))[:limit]
    labels = read_idx(find_idx(directory, labels_stem))[:limit]
    return images.reshape(images.shape[0], 1, images.shape[1], images.shape[2]), labels.astype(np.int64)


def resolve_data_dir(args):
    """The same order as convkit's loadFashionMnist: --embedded, --data, the system copy, the embedded subset."""
    if args.embedded:
        return EMBEDDED_DIR, "embedded"
    if args.data:
        return args.data, "dir"
    return (SYSTEM_DIR, "system") if has_dataset(SYSTEM_DIR) else (EMBEDDED_DIR, "embedded")


def channel_stats(images):
    """Population mean/std of the scaled pixels per channel, in double (like convkit's channelStats)."""
    x = images.astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = np.sqrt(np.maximum(0.0, (x * x).mean(axis=(0, 2, 3)) - mean * mean))
    return [float(v) for v in mean], [float(v) for v in std]


def make_batch(images, labels, idx, mean, std, augment, gen):
    """Scale, (pad 2 + random crop + flip on raw pixels, zero fill), normalise: convkit's DataLoader order."""
    x = torch.from_numpy(images[idx].astype(np.float32) / np.float32(255.0))
    if augment:
        pad = 2
        n, c, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        tops = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
        lefts = torch.randint(0, 2 * pad + 1, (n,), generator=gen).tolist()
        flips = (torch.rand(n, generator=gen) < 0.5).tolist()
        out = torch.empty_like(x)
        for i in range(n):
            crop = padded[i, :, tops[i]:tops[i] + h, lefts[i]:lefts[i] + w]
            out[i] = crop.flip(-1) if flips[i] else crop
        x = out
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s, torch.from_numpy(labels[idx])


# ------------------------------------------------------------------------------------------ training

def defaults(args):
    """loop-config.ts's defaults for what was not given."""
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3
    if args.weight_decay is None:
        args.weight_decay = {"sgd": 5e-4, "adam": 0.0, "adamw": 1e-2}[args.optimizer]
    if args.step_size is None:
        args.step_size = max(1, round(args.epochs / 3))


def make_optimizer(args, params):
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
                               weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer):
    s = torch.optim.lr_scheduler
    if args.schedule == "none":
        return None
    if args.schedule == "step":
        return s.StepLR(optimizer, args.step_size, args.gamma)
    if args.schedule == "cosine":
        return s.CosineAnnealingLR(optimizer, args.epochs)
    warm = args.warmup_epochs
    return s.SequentialLR(optimizer, [s.LinearLR(optimizer, 0.1, 1.0, warm),
                                      s.CosineAnnealingLR(optimizer, args.epochs - warm)], [warm])


def evaluate(model, images, labels, mean, std, batch_size):
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            idx = np.arange(start, min(len(labels), start + batch_size))
            x, y = make_batch(images, labels, idx, mean, std, False, None)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y)) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
    return loss_sum / len(labels), correct / len(labels)


def train_once(args, graph, weights, data, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    (train_x, train_y), (test_x, test_y), mean, std = data
    model = GraphModule(graph, weights)
    params = [p for p in model.weights.values()]
    optimizer = make_optimizer(args, params)
    scheduler = make_scheduler(args, optimizer)
    n = len(train_y)
    history, steps, train_seconds_total, images_total = [], 0, 0.0, 0
    t_run = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(n, generator=gen).numpy()
        loss_sum, correct, seen, train_seconds = 0.0, 0, 0, 0.0
        t_epoch = time.perf_counter()
        for start in range(0, n, args.batch_size):
            if args.max_steps is not None and steps >= args.max_steps:
                break
            x, y = make_batch(train_x, train_y, order[start:start + args.batch_size], mean, std, args.augment, gen)
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            train_seconds += time.perf_counter() - t0
            loss_sum += float(loss) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            steps += 1
        test_loss, test_acc = evaluate(model, test_x, test_y, mean, std, args.eval_batch_size)
        record = {"epoch": epoch + 1, "trainLoss": loss_sum / max(seen, 1), "trainAccuracy": correct / max(seen, 1),
                  "testLoss": test_loss, "testAccuracy": test_acc, "lr": lr, "images": seen,
                  "seconds": time.perf_counter() - t_epoch,
                  "imagesPerSecond": seen / train_seconds if train_seconds > 0 else 0.0}
        history.append(record)
        train_seconds_total += train_seconds
        images_total += seen
        if not args.quiet:
            print("threads %d epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | lr %.3g | %.0f img/s"
                  % (threads, epoch + 1, args.epochs, record["trainLoss"], 100 * record["trainAccuracy"], test_loss,
                     100 * test_acc, lr, record["imagesPerSecond"]), file=sys.stderr, flush=True)
        if scheduler is not None:
            scheduler.step()
        if args.max_steps is not None and steps >= args.max_steps:
            break
    last = history[-1]
    if args.save_weights:
        state = {name: model.tensor({"params": {"w": name}}, "w").detach().numpy() for name in graph["params"]}
        write_safetensors(args.save_weights, state)
    return {"threads": threads, "testAccuracy": last["testAccuracy"], "testLoss": last["testLoss"],
            "trainLoss": last["trainLoss"], "steps": steps,
            "imagesPerSecond": images_total / train_seconds_total if train_seconds_total > 0 else 0.0,
            "seconds": time.perf_counter() - t_run, "history": history}


def compare_logits(graph, weights, path):
    """Max |convkit - torch| of eval-mode logits on the images stored in `path` (tensors images, logits)."""
    ref = read_safetensors(path)
    model = GraphModule(graph, weights).eval()
    with torch.no_grad():
        got = model(torch.from_numpy(ref["images"])).numpy()
    return float(np.max(np.abs(got - ref["logits"]))), float(np.max(np.abs(ref["logits"])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="folder with graph.json and weights.safetensors (convkit's saveModel layout)")
    ap.add_argument("--data", help="folder of Fashion-MNIST IDX files")
    ap.add_argument("--embedded", action="store_true", help="the embedded 5,000/1,000 subset")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--weight-decay", type=float)
    ap.add_argument("--schedule", choices=["none", "step", "cosine", "warmup-cosine"], default="cosine")
    ap.add_argument("--warmup-epochs", type=int, default=1)
    ap.add_argument("--step-size", type=int)
    ap.add_argument("--gamma", type=float, default=0.1)
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-batch-size", type=int, default=256)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts, one run each")
    ap.add_argument("--train-limit", type=int)
    ap.add_argument("--test-limit", type=int)
    ap.add_argument("--max-steps", type=int, help="stop after this many steps (quick checks)")
    ap.add_argument("--compare-logits", help="safetensors with convkit's images and eval-mode logits")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--save-weights", help="write the last run's final weights (safetensors, graph names)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    defaults(args)
    with open(os.path.join(args.model, "graph.json"), encoding="utf-8") as f:
        graph = json.load(f)
    weights = read_safetensors(os.path.join(args.model, "weights.safetensors"))
    out = {"model": graph["name"], "torch": torch.__version__}
    if args.compare_logits:
        out["logitsMaxAbsDiff"], out["logitsMaxAbs"] = compare_logits(graph, weights, args.compare_logits)
    directory, source = resolve_data_dir(args)
    train = load_split(directory, "train", args.train_limit)
    test = load_split(directory, "test", args.test_limit)
    norm = (graph.get("meta") or {}).get("normalize")
    mean, std = (norm["mean"], norm["std"]) if norm else channel_stats(train[0])
    out.update({"data": {"dir": os.path.abspath(directory), "source": source, "train": len(train[1]),
                         "test": len(test[1])},
                "hyperparameters": {k: v for k, v in vars(args).items()
                                    if k not in ("model", "json", "quiet", "compare_logits", "threads")},
                "normalize": {"mean": mean, "std": std}, "runs": []})
    for threads in [int(t) for t in args.threads.split(",") if t.strip()]:
        run = train_once(args, graph, weights, (train, test, mean, std), threads)
        out["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "history"}), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "runs"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
