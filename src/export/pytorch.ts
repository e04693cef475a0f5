import type { Graph } from "../graph/types.js";
import { validateGraph } from "../graph/validate.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { generateClasses, MODULE_LEVEL_NAMES, RESERVED_CLASS_NAMES } from "./classes.js";
import { planModules } from "./module-plan.js";
import { isPlainIdentifier, pascalCase, pyJson, pyNum, pyStr } from "./python-names.js";
import type { RuntimeHelper } from "./python-ops.js";
import { RUNTIME_BLOCK, RUNTIME_WEIGHTS, runtimeHelpers } from "./python-runtime.js";
import { exportReadme } from "./readme.js";
import { TRAIN_DDP_PY } from "./train-ddp-py.js";

/**
 * `exportPytorch(graph)`: the Graph as a readable PyTorch module (model.py).
 *
 * - One class per block scope (ResNet's `Bottleneck`, `Stage`...), named from `graph.scopes` kinds, with the
 *   scope's layers as attributes named by their parameter paths, so `model.state_dict()` keys are exactly the
 *   graph's parameter names (`layer1.0.conv1.weight`) and convkit's weights.safetensors loads with
 *   `strict=True`. Blocks that differ only in numbers (channels, kernel sizes) share one class with constructor
 *   arguments. See module-plan.ts for how scopes and parameters become modules, classes.ts for the classes,
 *   python-ops.ts for the op-by-op translation.
 * - Each forward is the scope's nodes in the graph's topological order, one line per node, variables named after
 *   the nodes; values are released (`del`) after their last use so peak memory stays as in hand-written code.
 * - The file ends with the weight I/O (safetensors through the package when installed, else a built-in reader)
 *   and `build_model()`; `python model.py` builds the model, loads the weights beside it and runs a random batch.
 */

export interface PytorchExportOptions {
  /** Name of the top-level class (default: the graph name in PascalCase, e.g. "Resnet18"). */
  className?: string;
  /** convkit's version, written in the header (default "unknown"). */
  convkitVersion?: string;
}

export interface PytorchModule {
  /** The Python source of model.py. */
  source: string;
  /** The top-level class. */
  className: string;
  /** Every generated class in definition order: the scope paths it serves ("" for the root), its arguments. */
  classes: { name: string; paths: string[]; params: string[] }[];
}

export interface PytorchExport {
  /** model.py. */
  modelPy: string;
  /** train_ddp.py (the same for every model; it imports model.py). */
  trainDdpPy: string;
  /** README.md of the export folder. */
  readme: string;
  /** The top-level nn.Module class of model.py. */
  className: string;
  /** Every generated class: the scope paths it serves, its constructor arguments. */
  classes: { name: string; paths: string[]; params: string[] }[];
}

/** The text files of a PyTorch export of `graph` (pure: nothing is written; writePytorchExport writes them). */
export function exportPytorch(graph: Graph, options: PytorchExportOptions = {}): PytorchExport {
  const module = exportPytorchModule(graph, options);
  return {
    modelPy: module.source,
    trainDdpPy: TRAIN_DDP_PY,
    readme: exportReadme(graph, module.className),
    className: module.className,
    classes: module.classes,
  };
}

/** The Python module text for `graph` (validated first). */
export function exportPytorchModule(graph: Graph, options: PytorchExportOptions = {}): PytorchModule {
  const shapes = validateGraph(graph);
  const plan = planModules(graph);
  const used = new Set<RuntimeHelper>();
  const ctx = {
    rank: (v: string) => shapes.get(v)?.length ?? 0,
    use: (h: RuntimeHelper) => {
      used.add(h);
    },
  };
  const rootName = rootClassName(graph, options.className);
  const classes = generateClasses(graph, plan, ctx, rootName);

  const lines: string[] = [];
  lines.push(header(graph, rootName, options.convkitVersion ?? "unknown"));
  lines.push(imports(used));
  lines.push(constants(graph, shapes));
  lines.push(
    `# ------------------------------------------------------------------------------------------ runtime\n\n${[RUNTIME_BLOCK, ...runtimeHelpers(used)].map((t) => t.trimEnd()).join("\n\n\n")}`,
  );
  lines.push(
    `# ------------------------------------------------------------------------------------------ model\n\n${classes.map((c) => c.text).join("\n\n\n")}`,
  );
  lines.push(RUNTIME_WEIGHTS.trimEnd());
  lines.push(footer(rootName));
  return {
    source: `${lines.join("\n\n\n")}\n`,
    className: rootName,
    classes: classes.map((c) => ({ name: c.name, paths: c.paths, params: c.params })),
  };
}

function rootClassName(graph: Graph, given: string | undefined): string {
  if (given !== undefined) {
    if (!isPlainIdentifier(given) || RESERVED_CLASS_NAMES.has(given) || MODULE_LEVEL_NAMES.includes(given)) {
      throw new ArgumentError(
        describe("exportPytorch", "className", "a Python identifier not used by the runtime", given),
      );
    }
    return given;
  }
  const name = pascalCase(graph.name) || "Model";
  return RESERVED_CLASS_NAMES.has(name) || MODULE_LEVEL_NAMES.includes(name) ? `${name}Model` : name;
}

// ---------------------------------------------------------------- file sections

function header(graph: Graph, className: string, version: string): string {
  const name = pyStr(graph.name).slice(1, -1);
  return `"""PyTorch module of the convkit graph "${name}", generated by convkit ${version} (convkit export --to pytorch).

One nn.Module class per block of the graph; state_dict keys equal convkit's parameter names, so the
convkit weights load as they are:

    from model import build_model, load_weights
    model = build_model()                        # ${className}
    load_weights(model, "weights.safetensors")   # strict: every name and shape checked
    model.eval()

Train it on many GPUs with train_ddp.py (torchrun); save_weights(model, path) writes a state dict that
convkit loads back (loadPytorchStateDict, or a model folder graph.json + weights.safetensors).
Generated code: edit freely, but re-export after changing the convkit graph.
"""`;
}

function imports(used: ReadonlySet<RuntimeHelper>): string {
  const lines = [
    "import json",
    "import math",
    "import os",
    "import struct",
    "import sys",
    "",
    "import torch",
    "import torch.nn.functional as F",
    "from torch import nn",
  ];
  const tv: string[] = [];
  if (used.has("DeformConv2d")) tv.push("DeformConv2d");
  if (used.has("deform_conv2d")) tv.push("deform_conv2d");
  if (tv.length > 0) lines.push(`from torchvision.ops import ${tv.join(", ")}`);
  return lines.join("\n");
}

function constants(graph: Graph, shapes: Map<string, number[]>): string {
  const meta = graph.meta ?? {};
  const input = graph.inputs.length === 1 ? graph.inputs[0].shape.slice(1) : null;
  const inputShape = input?.every((d) => typeof d === "number")
    ? `(${(input as number[]).map(pyNum).join(", ")})`
    : "None";
  const out = graph.outputs.length === 1 ? shapes.get(graph.outputs[0]) : undefined;
  const numClasses =
    typeof meta.numClasses === "number"
      ? pyNum(meta.numClasses)
      : out !== undefined && out.length === 2
        ? pyNum(out[1])
        : "None";
  const normalize = meta.normalize as { mean?: unknown; std?: unknown } | undefined;
  const norm =
    normalize !== undefined &&
    normalize !== null &&
    Array.isArray(normalize.mean) &&
    Array.isArray(normalize.std)
      ? pyJson({ mean: normalize.mean, std: normalize.std })
      : "None";
  return [
    `MODEL_NAME = ${pyStr(graph.name)}`,
    "# Per-sample input [C, H, W] (the batch dimension is free), classes, and the input normalisation the",
    "# model was trained with in convkit (None: train_ddp.py computes it from the training set).",
    `INPUT_SHAPE = ${inputShape}`,
    `NUM_CLASSES = ${numClasses}`,
    `NORMALIZE = ${norm}`,
    `INPUT_NAMES = [${graph.inputs.map((i) => pyStr(i.name)).join(", ")}]`,
    `OUTPUT_NAMES = [${graph.outputs.map(pyStr).join(", ")}]`,
  ].join("\n");
}

function footer(className: string): string {
  return `def build_model():
    """The model with freshly initialised weights (load_weights fills in convkit's)."""
    return ${className}()


if __name__ == "__main__":
    # Self-check: build, load the weights beside this file, run a random batch.
    here = os.path.dirname(os.path.abspath(__file__))
    net = build_model()
    weights = os.path.join(here, "weights.safetensors")
    if os.path.exists(weights):
        load_weights(net, weights)
    net.eval()
    count = sum(p.numel() for p in net.parameters())
    if INPUT_SHAPE is not None:
        with torch.no_grad():
            y = net(torch.randn(2, *INPUT_SHAPE))
        shapes = [tuple(t.shape) for t in (y if isinstance(y, tuple) else (y,))]
        print("%s: %d parameters; output %s for input %s" % (MODEL_NAME, count, shapes, (2,) + INPUT_SHAPE))
    else:
        print("%s: %d parameters" % (MODEL_NAME, count))`;
}
