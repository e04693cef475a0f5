#!/usr/bin/python3
"""Runs exported model.py files for test/export/*.test.ts: one Python process for many export folders.

    /usr/bin/python3 test/export/check_export.py MANIFEST.json RESULT.json

MANIFEST: {"cases": [{"name", "dir", "mode", "input"?, "output"?}]}, mode one of
  - "eval": build, load_weights(dir/weights.safetensors), eval mode, run the inputs (safetensors by graph input
    name), write the outputs (by graph output name) to "output";
  - "train": the same in training mode (batch statistics), writing the outputs and the state dict after the step;
  - "roundtrip": build, load_weights, save_weights to "output" (bitwise comparison happens in TypeScript).
Every case reports its state_dict names/shapes/dtypes and its error, if any, in RESULT.
The exported model's own read_safetensors / write_safetensors are used, so they are tested too.
"""
import importlib.util
import json
import sys
import time
import traceback

import torch


def load_module(name, directory):
    spec = importlib.util.spec_from_file_location(name, directory + "/model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_case(index, case):
    module = load_module("exported_%d" % index, case["dir"])
    mode = case["mode"]
    model = module.build_model()
    module.load_weights(model, case["dir"] + "/weights.safetensors")
    state = model.state_dict()
    report = {"keys": {k: list(v.shape) for k, v in state.items()},
              "dtypes": {k: str(v.dtype) for k, v in state.items()},
              "className": type(model).__name__}
    if mode in ("eval", "train"):
        inputs = module.read_safetensors(case["input"])
        args = [inputs[name] for name in module.INPUT_NAMES]
        model.train(mode == "train")
        with torch.set_grad_enabled(mode == "train"):
            out = model(*args)
        outs = out if isinstance(out, tuple) else (out,)
        tensors = {name: t.detach().float() for name, t in zip(module.OUTPUT_NAMES, outs)}
        if mode == "train":
            for k, v in model.state_dict().items():
                tensors["state:" + k] = v.detach().float()
        module.write_safetensors(case["output"], tensors)
    elif mode == "roundtrip":
        module.save_weights(model, case["output"], {"source": "check_export.py"})
    return report


def main():
    manifest, result_path = sys.argv[1], sys.argv[2]
    with open(manifest, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    torch.manual_seed(0)
    results = {"torch": torch.__version__, "cases": {}}
    for i, case in enumerate(cases):
        t0 = time.perf_counter()
        try:
            report = run_case(i, case)
            report["ok"] = True
        except Exception as e:  # reported per case, so one failure names its model
            report = {"ok": False, "error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()}
        report["seconds"] = time.perf_counter() - t0
        results["cases"][case["name"]] = report
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
