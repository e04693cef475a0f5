/**
 * train_ddp.py of an export folder: trains model.py's network with DistributedDataParallel under torchrun
 * (nccl on GPUs, gloo on CPUs), with `convkit train`'s options and defaults (src/train/loop-config.ts; the
 * same mirror as tools/torch_train.py), and writes the result as a convkit model folder. Kept as a string so
 * that it ships inside dist/.
 */
export const TRAIN_DDP_PY = String.raw`#!/usr/bin/env python3
"""Train the exported convkit model with PyTorch DistributedDataParallel.

    torchrun --standalone --nproc_per_node=8 train_ddp.py --data DIR --epochs 30 --batch-size 1024 -o runs/ddp
    # on each of 2 machines (HOST: the first one's address, JOB: any id shared by the machines):
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 --rdzv_id=JOB train_ddp.py --data DIR --epochs 30 --batch-size 2048 -o runs/ddp
    python3 train_ddp.py --epochs 1                                             # one process, no torchrun

One process per GPU with the nccl backend, or per CPU process with gloo when there is no GPU (--backend).
The options mean what they mean for "convkit train": --batch-size is the number of images per optimisation
step over all processes (each takes batch-size / world-size), the learning-rate schedule steps once per epoch,
and the optimizer, learning-rate and weight-decay defaults are convkit's. Data: a folder of IDX files in the
(Fashion-)MNIST layout (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-...), by default the
embedded Fashion-MNIST subset copied into data/ beside this script. Inputs are scaled to [0, 1] and normalised
with model.NORMALIZE (convkit's training statistics) or, when the model has none, the training set's.

Rank 0 writes OUT/model/{graph.json,weights.safetensors} (convkit's saved-model folder: "convkit analyze
OUT/model" reads it, loadModel / loadPytorchStateDict load it), OUT/history.json and OUT/checkpoint.pt (every
epoch; --resume continues from it), and prints one JSON line per logged step and per epoch.
"""
import argparse
import contextlib
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model as exported  # noqa: E402  (model.py beside this script)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "warmup-cosine")
STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Train the exported convkit model with DistributedDataParallel "
                                             "(run under torchrun; see the top of this file).")
    ap.add_argument("--data", default=os.path.join(HERE, "data"),
                    help="folder of (Fashion-)MNIST IDX files (default: the embedded subset in data/)")
    ap.add_argument("--epochs", type=int, default=10, help="passes over the training set (default 10)")
    ap.add_argument("--batch-size", type=int, default=64,
                    help="images per optimisation step over all processes (default 64)")
    ap.add_argument("--lr", type=float, help="learning rate (default 0.05 for sgd, 0.001 for adam/adamw)")
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    ap.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    ap.add_argument("--nesterov", action="store_true", help="SGD with Nesterov momentum")
    ap.add_argument("--weight-decay", type=float, help="default 5e-4 sgd, 0 adam, 0.01 adamw")
    ap.add_argument("--schedule", choices=SCHEDULES, default="cosine", help="per-epoch lr schedule (default cosine)")
    ap.add_argument("--warmup-epochs", type=int, default=1, help="linear warm-up epochs of warmup-cosine (default 1)")
    ap.add_argument("--step-size", type=int, help="period of the step schedule (default max(1, round(epochs/3)))")
    ap.add_argument("--gamma", type=float, default=0.1, help="factor of the step schedule (default 0.1)")
    ap.add_argument("--augment", action="store_true", help="random crop (padding 2) and horizontal flip")
    ap.add_argument("--seed", type=int, default=0, help="seed of data order, augmentation and dropout")
    ap.add_argument("--weights", default=os.path.join(HERE, "weights.safetensors"),
                    help="initial weights (default: the exported convkit weights)")
    ap.add_argument("--fresh", action="store_true", help="start from PyTorch's default initialisation instead")
    ap.add_argument("--resize", action="store_true",
                    help="resize images (bilinear) and repeat channels when the data does not have the model's input shape")
    ap.add_argument("--backend", choices=("auto", "nccl", "gloo"), default="auto",
                    help="process-group backend (default: nccl with GPUs, else gloo)")
    ap.add_argument("--amp", action="store_true", help="mixed precision (float16 autocast + GradScaler; GPU only)")
    ap.add_argument("--sync-bn", action="store_true", help="synchronise batch-norm statistics across GPUs")
    ap.add_argument("--train-limit", type=int, help="use the first N training images only")
    ap.add_argument("--test-limit", type=int, help="evaluate on the first N test images only")
    ap.add_argument("--eval-batch-size", type=int, default=256)
    ap.add_argument("--max-steps", type=int, help="stop after this many optimisation steps (quick checks)")
    ap.add_argument("--log-every", type=int, default=50, help="print the loss every N steps (default 50)")
    ap.add_argument("--threads", type=int, help="torch CPU threads per process")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("-o", "--output", default=os.path.join("runs", "ddp-" + exported.MODEL_NAME),
                    help="output folder (default runs/ddp-<model>)")
    args = ap.parse_args(argv)
    # convkit train's defaults (src/train/loop-config.ts).
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 1e-3
    if args.weight_decay is None:
        args.weight_decay = {"sgd": 5e-4, "adam": 0.0, "adamw": 1e-2}[args.optimizer]
    if args.step_size is None:
        args.step_size = max(1, int(math.floor(args.epochs / 3 + 0.5)))
    for name in ("epochs", "batch_size", "warmup_epochs", "step_size", "eval_batch_size", "log_every"):
        if getattr(args, name) < 1:
            ap.error("--%s: expected a positive integer, got %s" % (name.replace("_", "-"), getattr(args, name)))
    for name in ("lr", "momentum", "weight_decay", "gamma"):
        if not getattr(args, name) >= 0:
            ap.error("--%s: expected a number >= 0" % name.replace("_", "-"))
    if args.schedule == "warmup-cosine" and args.warmup_epochs >= args.epochs:
        ap.error("--warmup-epochs: expected fewer than --epochs (%d) for warmup-cosine" % args.epochs)
    return args


# ------------------------------------------------------------------------------------------ processes

def setup(args):
    """Rank, world size, device, and the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    backend = args.backend if args.backend != "auto" else ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        raise SystemExit("train_ddp.py: --backend nccl needs GPUs; use --backend gloo on CPUs")
    if args.amp and not cuda:
        raise SystemExit("train_ddp.py: --amp needs a GPU")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    distributed = "RANK" in os.environ and world >= 1
    if distributed:
        dist.init_process_group(backend=backend)
    return rank, world, device, distributed, backend


def all_sum(values, device, distributed):
    """Sums a list of numbers over all processes."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if distributed:
        dist.all_reduce(t)
    return t.tolist()


def mixed_precision(args):
    """float16 autocast on the GPU with --amp, else nothing."""
    return torch.autocast("cuda", dtype=torch.float16) if args.amp else contextlib.nullcontext()


def log(rank, record):
    if rank == 0:
        print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------------ data

def find_idx(directory, stem):
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit("train_ddp.py: %s: no %s[.gz] (expected (Fashion-)MNIST IDX files)" % (directory, stem))


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", blob[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit("train_ddp.py: %s: expected an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, blob[4:4 + 4 * ndim])
    return np.frombuffer(blob[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def load_split(directory, split, limit):
    """uint8 images [N, C, H, W] and int64 labels [N]."""
    images_stem, labels_stem = STEMS[split]
    images = read_idx(find_idx(directory, images_stem))[:limit]
    labels = read_idx(find_idx(directory, labels_stem))[:limit]
    if images.ndim == 3:
        images = images[:, None]
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def channel_stats(images):
    """Population mean/std of the scaled pixels per channel, in double (convkit's channelStats)."""
    x = images.numpy().astype(np.float64) / 255.0
    mean = x.mean(axis=(0, 2, 3))
    std = np.sqrt(np.maximum(0.0, (x * x).mean(axis=(0, 2, 3)) - mean * mean))
    return [float(v) for v in mean], [float(v) for v in std]


class Prepare:
    """uint8 batch -> model input: scale to [0, 1], augment (pad 2 + random crop, flip; convkit's order),
    normalise, and with --resize bring the images to the model's input shape."""

    def __init__(self, mean, std, data_shape, model_shape, resize, device):
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.adapt = model_shape is not None and tuple(model_shape) != tuple(data_shape)
        if self.adapt and not resize:
            raise SystemExit("train_ddp.py: the model takes inputs %s but the images are %s; pass --resize to "
                             "resize them (and repeat channels), or export the model at the data's input size"
                             % (list(model_shape), list(data_shape)))
        if self.adapt and data_shape[0] not in (1, model_shape[0]):
            raise SystemExit("train_ddp.py: cannot turn %d-channel images into %d channels"
                             % (data_shape[0], model_shape[0]))
        self.model_shape = model_shape

    def __call__(self, images, generator=None):
        x = images.float() / 255.0
        if generator is not None:
            x = random_crop_flip(x, generator, 2)
        x = (x - self.mean) / self.std
        if self.adapt:
            c, h, w = self.model_shape
            if x.shape[1] != c:
                x = x.expand(-1, c, -1, -1)
            if tuple(x.shape[2:]) != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return x


def random_crop_flip(x, generator, pad):
    """Per image: a random crop of the zero-padded image at the original size, mirrored half the time."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    tops = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    lefts = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = (tops.view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    x = padded.gather(2, rows.expand(n, c, h, w + 2 * pad))
    cols = lefts.view(n, 1) + torch.arange(w, device=x.device)
    cols = torch.where(flips.view(n, 1), cols.flip(1), cols).view(n, 1, 1, w)
    return x.gather(3, cols.expand(n, c, h, w))


# ------------------------------------------------------------------------------------------ training

def make_optimizer(args, params):
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
                               weight_decay=args.weight_decay)
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer):
    """convkit's per-epoch schedules, as torch.optim.lr_scheduler objects."""
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


def evaluate(net, images, labels, prepare, args, rank, world, device, distributed):
    """Test loss and accuracy: each process takes every world-th image, the sums are added up."""
    net.eval()
    idx = torch.arange(rank, len(labels), world)
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(idx), args.eval_batch_size):
            part = idx[start:start + args.eval_batch_size]
            x = prepare(images[part].to(device))
            y = labels[part].to(device)
            with mixed_precision(args):
                logits = net(x)
            loss_sum += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    loss_sum, correct, count = all_sum([loss_sum, correct, len(idx)], device, distributed)
    return loss_sum / max(count, 1), correct / max(count, 1)


def save_result(args, net, history, normalize):
    """OUT/model (convkit's saved-model layout) and OUT/history.json."""
    out = os.path.join(args.output, "model")
    os.makedirs(out, exist_ok=True)
    exported.save_weights(net, os.path.join(out, "weights.safetensors"),
                          {"format": "pt", "graph": exported.MODEL_NAME, "source": "train_ddp.py"})
    graph_path = os.path.join(HERE, "graph.json")
    if os.path.exists(graph_path):
        with open(graph_path, encoding="utf-8") as f:
            graph = json.load(f)
        meta = dict(graph.get("meta") or {})
        meta["normalize"] = {"mean": normalize[0], "std": normalize[1]}
        meta["trainedWith"] = "train_ddp.py (PyTorch %s, %d processes)" % (torch.__version__, history["worldSize"])
        graph["meta"] = meta
        with open(os.path.join(out, "graph.json"), "w", encoding="utf-8") as f:
            json.dump(graph, f, indent=1)
            f.write("\n")
    with open(os.path.join(args.output, "history.json"), "w", encoding="utf-8") as f:
        json.dump(history, f, indent=1)
        f.write("\n")


def main(argv=None):
    args = parse_args(argv)
    rank, world, device, distributed, backend = setup(args)
    if args.batch_size % world != 0:
        raise SystemExit("train_ddp.py: --batch-size %d is not a multiple of the %d processes"
                         % (args.batch_size, world))
    per_process = args.batch_size // world

    if len(exported.INPUT_NAMES) != 1 or len(exported.OUTPUT_NAMES) != 1:
        raise SystemExit("train_ddp.py: trains classifiers with one input and one output; %s has inputs %s and "
                         "outputs %s" % (exported.MODEL_NAME, exported.INPUT_NAMES, exported.OUTPUT_NAMES))
    train_x, train_y = load_split(args.data, "train", args.train_limit)
    test_x, test_y = load_split(args.data, "test", args.test_limit)
    classes = int(max(train_y.max(), test_y.max())) + 1
    if exported.NUM_CLASSES is not None and classes > exported.NUM_CLASSES:
        raise SystemExit("train_ddp.py: %s has %d classes but the labels go up to %d; export it with more classes"
                         % (exported.MODEL_NAME, exported.NUM_CLASSES, classes - 1))
    mean, std = ((exported.NORMALIZE["mean"], exported.NORMALIZE["std"]) if exported.NORMALIZE
                 else channel_stats(train_x))
    prepare = Prepare(mean, std, tuple(train_x.shape[1:]), exported.INPUT_SHAPE, args.resize, device)

    torch.manual_seed(args.seed)
    net = exported.build_model()
    if not args.fresh:
        exported.load_weights(net, args.weights)
    if args.sync_bn:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(device)
    model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if distributed else net
    torch.manual_seed(args.seed * 1000 + rank)  # dropout masks differ between processes
    augment = torch.Generator().manual_seed(args.seed * 1000 + rank) if args.augment else None

    optimizer = make_optimizer(args, [p for p in net.parameters() if p.requires_grad])
    scheduler = make_scheduler(args, optimizer)
    scaler = torch.cuda.amp.GradScaler(enabled=args.amp)
    sampler = DistributedSampler(TensorDataset(train_x, train_y), num_replicas=world, rank=rank, shuffle=True,
                                 seed=args.seed)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=per_process, sampler=sampler,
                        pin_memory=device.type == "cuda")

    history = {"model": exported.MODEL_NAME, "torch": torch.__version__, "backend": backend, "worldSize": world,
               "device": str(device), "data": os.path.abspath(args.data), "train": len(train_y), "test": len(test_y),
               "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("output",)},
               "normalize": {"mean": mean, "std": std}, "epochs": [], "steps": []}
    first_epoch, steps = 0, 0
    checkpoint = os.path.join(args.output, "checkpoint.pt")
    if args.resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=device)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        first_epoch, steps, history = state["epoch"], state["steps"], state["history"]
        log(rank, {"resumed": checkpoint, "epoch": first_epoch, "steps": steps})
    log(rank, {"model": exported.MODEL_NAME, "processes": world, "backend": backend, "device": str(device),
               "batchPerProcess": per_process, "train": len(train_y), "test": len(test_y)})

    stop = False
    for epoch in range(first_epoch, args.epochs):
        model.train()
        sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        loss_sum, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
        for images, labels in loader:
            x = prepare(images.to(device, non_blocking=True), augment)
            y = labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with mixed_precision(args):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            steps += 1
            loss_sum += float(loss) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if steps == 1 or steps % args.log_every == 0:
                (mean_loss,) = all_sum([float(loss) / world], device, distributed)
                record = {"step": steps, "epoch": epoch + 1, "loss": mean_loss, "lr": lr}
                history["steps"].append(record)
                log(rank, record)
            if args.max_steps is not None and steps >= args.max_steps:
                stop = True
                break
        loss_sum, correct, seen = all_sum([loss_sum, correct, seen], device, distributed)
        test_loss, test_acc = evaluate(net, test_x, test_y, prepare, args, rank, world, device, distributed)
        record = {"epoch": epoch + 1, "steps": steps, "lr": lr, "trainLoss": loss_sum / max(seen, 1),
                  "trainAccuracy": correct / max(seen, 1), "testLoss": test_loss, "testAccuracy": test_acc,
                  "images": int(seen), "seconds": time.perf_counter() - t0}
        history["epochs"].append(record)
        log(rank, record)
        if scheduler is not None:
            scheduler.step()
        if rank == 0:
            os.makedirs(args.output, exist_ok=True)
            torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict() if scheduler is not None else None,
                        "scaler": scaler.state_dict(), "epoch": epoch + 1, "steps": steps, "history": history},
                       checkpoint + ".tmp")
            os.replace(checkpoint + ".tmp", checkpoint)
        if stop:
            break

    if rank == 0:
        save_result(args, net, history, (mean, std))
        log(rank, {"done": True, "steps": steps, "output": os.path.abspath(args.output)})
    if distributed:
        dist.barrier(device_ids=[device.index] if device.type == "cuda" else None)
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
`;
