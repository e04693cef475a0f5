#!/usr/bin/python3
"""Exports torchvision CNNs to ONNX for convkit's import/export tests, with their reference figures.

    /usr/bin/python3 tools/make_onnx_models.py OUT_DIR [--models resnet18,mobilenet_v2] [--opsets 13,17]

For every model (random initialisation, `weights=None`: nothing is downloaded) it writes

    OUT_DIR/<model>_op<opset>.onnx   exported with torch.onnx.export at each opset
    OUT_DIR/<model>.json             {"params", "macs", "input": [1, 3, 224, 224], ...} measured in PyTorch
    OUT_DIR/manifest.json            the models, files and versions (written last: its presence means done)

Export settings, and why:
- dynamic axes N (batch), H and W on the input: the file declares ["N", 3, "H", "W"], so one file serves the
  fast numerical check at 64x64 and the analyzer check at 224x224, and the exporter leaves the
  Shape/Gather/Unsqueeze/Concat chains (ShuffleNet's channel shuffle, torch.chunk) in the file for the importer
  to fold.
- training=PRESERVE on a model in eval mode: inference semantics, but BatchNormalization nodes are kept with
  their state_dict names (layer1.0.bn1.running_mean...) instead of being folded into the convolutions, so the
  parameter count equals torchvision's.
- BatchNorm running statistics and affine parameters are drawn at random (seeded) instead of the 0/1 defaults,
  so that a mistake in mapping them shows in the outputs. This changes no parameter count or MAC figure.

MACs follow torchvision's convention: multiply-adds of Conv2d and Linear layers at batch 1 and 224x224, bias
excluded, measured with forward hooks: Conv2d = out.numel() * (in_channels / groups) * kh * kw,
Linear = out.numel() * in_features.
"""

import argparse
import json
import os
import sys
import time

import torch
import torchvision

MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None),
    "shufflenet_v2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(weights=None),
    "squeezenet1_0": lambda: torchvision.models.squeezenet1_0(weights=None),
    "googlenet": lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True),
    "densenet121": lambda: torchvision.models.densenet121(weights=None),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(weights=None),
}


def build(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = MODELS[name]()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model.eval()


def count_macs(model: torch.nn.Module, shape=(1, 3, 224, 224)) -> int:
    total = [0]

    def conv_hook(m, _inp, out):
        kh, kw = m.kernel_size
        total[0] += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m, _inp, out):
        total[0] += out.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(torch.zeros(*shape))
    for h in handles:
        h.remove()
    return total[0]


def export(model: torch.nn.Module, path: str, opset: int) -> None:
    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        x,
        path,
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "output": {0: "N"}},
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--opsets", default="13,17")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in MODELS:
            sys.exit(f"make_onnx_models.py: unknown model {n!r}; expected one of {', '.join(MODELS)}")
    opsets = [int(o) for o in args.opsets.split(",") if o]
    os.makedirs(args.out_dir, exist_ok=True)
    import warnings

    warnings.filterwarnings("ignore")  # the exporter's notes on PRESERVE mode and constant folding
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    for name in names:
        t0 = time.time()
        model = build(name)
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model)
        files = {}
        for opset in opsets:
            fname = f"{name}_op{opset}.onnx"
            export(model, os.path.join(args.out_dir, fname), opset)
            files[str(opset)] = fname
        info = {"model": name, "params": params, "macs": macs, "input": [1, 3, 224, 224], "files": files}
        with open(os.path.join(args.out_dir, f"{name}.json"), "w") as f:
            json.dump(info, f, indent=1)
        manifest["models"][name] = info
        print(f"{name}: params {params}, MACs {macs}, {time.time() - t0:.1f} s", flush=True)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
