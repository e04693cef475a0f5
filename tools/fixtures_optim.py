"""Golden fixtures for optimizers and learning-rate schedules (torch.optim, torch.optim.lr_scheduler).

Writer.case records one op's forward/backward, which does not fit an optimizer, so this family
appends its own records to w.cases (written by the same Writer into test/fixtures/optim.json):

  optimizer: {"op": "optimizer", "name", "optimizer": "SGD"|"Adam"|"AdamW", "args": options in
              convkit's camelCase, "groups": per-group overrides with parameter indices or null,
              "params": initial tensors, "grads": [step][param] tensors, "expected": [step][param]
              parameters after that step}
  schedule:  {"op": "schedule", "name", "schedule": kind, "args", "baseLrs", "lrs": [epoch][group]
              for epochs 0..EPOCHS, read with get_last_lr() after construction and after each step()}

The optimizers run in float64 on float32-representable inputs, so the reference is more accurate
than convkit's float32 parameters. The gradients are given, not computed, so the only thing tested
is the update rule.
"""
import warnings

import torch

from fixturelib import rnd, spec

STEPS = 5
EPOCHS = 20
SHAPES = [(3, 4), (5,)]
# Per-step gradient scales: varying magnitudes make amsgrad's running max and eps matter.
GRAD_SCALES = [1.0, 3.0, 0.2, 0.5, 2.0]

CAMEL = {"weight_decay": "weightDecay", "step_size": "stepSize", "T_max": "tMax", "eta_min": "etaMin",
         "start_factor": "startFactor", "end_factor": "endFactor", "total_iters": "totalIters"}


def camel(d):
    return {CAMEL.get(k, k): (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def optimizer_case(w, name, cls, args, groups=None):
    params0 = [rnd(w.gen, *s) for s in SHAPES]
    # The second parameter's gradients are small, so eps and weight decay are visible in its update.
    grads = [[rnd(w.gen, *s, scale=GRAD_SCALES[t] * (1.0 if i == 0 else 1e-3)) for i, s in enumerate(SHAPES)]
             for t in range(STEPS)]
    params = [p.clone().requires_grad_(True) for p in params0]
    if groups is None:
        opt = cls(params, **args)
    else:
        opt = cls([dict(params=[params[i] for i in g["params"]], **{k: v for k, v in g.items() if k != "params"})
                   for g in groups], **args)
    expected = []
    for t in range(STEPS):
        for p, g in zip(params, grads[t]):
            p.grad = g.clone()
        opt.step()
        expected.append([spec(p) for p in params])
    w.cases.append({
        "op": "optimizer",
        "name": name,
        "optimizer": cls.__name__,
        "args": camel(args),
        "groups": None if groups is None else [camel(g) for g in groups],
        "params": [spec(p) for p in params0],
        "grads": [[spec(g) for g in step] for step in grads],
        "expected": expected,
    })


def make_scheduler(opt, kind, args):
    S = torch.optim.lr_scheduler
    if kind == "step":
        return S.StepLR(opt, **args)
    if kind == "multiStep":
        return S.MultiStepLR(opt, **args)
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, **args)
    if kind == "linear":
        return S.LinearLR(opt, **args)
    if kind == "warmupCosine":
        w, total = args["warmupEpochs"], args["totalEpochs"]
        return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=args["startFactor"], end_factor=1.0, total_iters=w),
                                    S.CosineAnnealingLR(opt, T_max=total - w, eta_min=args["etaMin"])], milestones=[w])
    if kind == "sequential":
        return S.SequentialLR(opt, [make_scheduler(opt, k, a) for k, a in args["schedules"]],
                              milestones=args["milestones"])
    raise ValueError(kind)


def schedule_case(w, name, kind, args, base_lrs=(0.1, 0.02)):
    params = [torch.zeros(1, requires_grad=True) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)], lr=base_lrs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's step(0) triggers the epoch-argument deprecation warning
        sched = make_scheduler(opt, kind, args)
        lrs = [list(sched.get_last_lr())]
        for _ in range(EPOCHS):
            opt.step()
            sched.step()
            lrs.append(list(sched.get_last_lr()))
    if kind == "sequential":
        args = {"schedules": [[k, camel(a)] for k, a in args["schedules"]], "milestones": args["milestones"]}
    w.cases.append({"op": "schedule", "name": name, "schedule": kind, "args": camel(args),
                    "baseLrs": list(base_lrs), "lrs": lrs})


def build(w):
    torch.set_default_dtype(torch.float64)
    SGD, Adam, AdamW = torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW
    optimizer_case(w, "sgd plain", SGD, {"lr": 0.1})
    optimizer_case(w, "sgd momentum", SGD, {"lr": 0.1, "momentum": 0.9})
    optimizer_case(w, "sgd nesterov", SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    optimizer_case(w, "sgd weight decay", SGD, {"lr": 0.1, "weight_decay": 0.1})
    optimizer_case(w, "sgd dampening", SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.5})
    optimizer_case(w, "sgd momentum + weight decay + nesterov", SGD,
                   {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01, "nesterov": True})
    optimizer_case(w, "sgd maximize", SGD, {"lr": 0.1, "momentum": 0.5, "maximize": True})
    optimizer_case(w, "sgd param groups", SGD, {"lr": 0.1, "momentum": 0.9},
                   groups=[{"params": [0], "lr": 0.2, "momentum": 0.5}, {"params": [1], "weight_decay": 0.3}])
    optimizer_case(w, "adam", Adam, {"lr": 0.01})
    optimizer_case(w, "adam default lr", Adam, {})
    optimizer_case(w, "adam weight decay", Adam, {"lr": 0.01, "weight_decay": 0.1})
    optimizer_case(w, "adam betas eps", Adam, {"lr": 0.02, "betas": (0.8, 0.9), "eps": 1e-4})
    optimizer_case(w, "adam amsgrad", Adam, {"lr": 0.01, "amsgrad": True})
    optimizer_case(w, "adam maximize", Adam, {"lr": 0.01, "maximize": True})
    optimizer_case(w, "adamw", AdamW, {"lr": 0.01, "weight_decay": 0.1})
    optimizer_case(w, "adamw default weight decay", AdamW, {"lr": 0.01})
    optimizer_case(w, "adamw amsgrad", AdamW, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True})
    optimizer_case(w, "adamw param groups", AdamW, {"lr": 0.01},
                   groups=[{"params": [1], "weight_decay": 0.5, "lr": 0.03}, {"params": [0], "betas": (0.5, 0.99)}])

    schedule_case(w, "step", "step", {"step_size": 5, "gamma": 0.5})
    schedule_case(w, "multi-step with a repeated milestone", "multiStep", {"milestones": [3, 8, 8, 15], "gamma": 0.1})
    schedule_case(w, "cosine", "cosine", {"T_max": 20, "eta_min": 0.001})
    schedule_case(w, "cosine past tMax", "cosine", {"T_max": 7})
    schedule_case(w, "linear", "linear", {"start_factor": 0.25, "end_factor": 1.0, "total_iters": 4})
    schedule_case(w, "linear decay", "linear", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 10})
    schedule_case(w, "warm-up then cosine", "warmupCosine",
                  {"warmupEpochs": 3, "totalEpochs": 20, "startFactor": 0.1, "etaMin": 1e-4})
    schedule_case(w, "sequential linear then step", "sequential",
                  {"schedules": [["linear", {"start_factor": 0.5, "total_iters": 2}], ["step", {"step_size": 3, "gamma": 0.5}]],
                   "milestones": [4]})
    torch.set_default_dtype(torch.float32)
