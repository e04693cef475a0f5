import type { Graph } from "../graph/types.js";

/** README.md of an export folder: what is there and the exact commands (see docs/scale-out.md). */
export function exportReadme(graph: Graph, className: string): string {
  const input = graph.inputs.map((i) => `\`${i.name}\` [${i.shape.join(", ")}]`).join(", ");
  const normalized = graph.meta?.normalize !== undefined && graph.meta?.normalize !== null;
  return `# ${graph.name}: PyTorch export of a convkit model

Written by \`convkit export ${graph.name} --to pytorch\`. Input ${input}; class \`${className}\` in \`model.py\`.

| file | what |
|---|---|
| \`model.py\` | the network: one \`nn.Module\` class per block, \`build_model()\`, \`load_weights()\` / \`save_weights()\` (safetensors, with a built-in reader/writer when the \`safetensors\` package is missing) |
| \`weights.safetensors\` | convkit's weights; the names are the \`state_dict\` keys |
| \`graph.json\` | the convkit graph (copied next to the trained weights, so convkit can read them back) |
| \`train_ddp.py\` | training with DistributedDataParallel under \`torchrun\` (nccl on GPUs, gloo on CPUs) |
| \`data/\` | the embedded Fashion-MNIST subset (5,000 + 1,000 images), train_ddp.py's default data |

Needs Python 3 with PyTorch and torchvision (Debian: \`apt install python3-torch python3-torchvision\`).

## Check

    python3 model.py

builds the model, loads \`weights.safetensors\` and runs a random batch.

## Train

One machine, all its GPUs (here 8; the batch size counts images per step over all GPUs):

    torchrun --standalone --nproc_per_node=8 train_ddp.py --data /path/to/fashion-mnist --epochs 30 --batch-size 1024 -o runs/ddp

Several machines (run the same command on each; \`HOST\` is the first machine's address):

    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 --rdzv_id=${graph.name} train_ddp.py --data /path/to/fashion-mnist --epochs 30 --batch-size 2048 -o runs/ddp

On CPUs only (gloo), e.g. a quick check on the embedded data:

    torchrun --standalone --nproc_per_node=2 train_ddp.py --epochs 1 -o runs/ddp-check

\`python3 train_ddp.py --help\` lists the options; they mean what they mean for \`convkit train\` (\`--optimizer sgd|adam|adamw\`, \`--schedule none|step|cosine|warmup-cosine\`, \`--lr\`, \`--weight-decay\`, \`--augment\`, \`--seed\`). Inputs are normalised with ${normalized ? "the statistics convkit trained with (model.NORMALIZE)" : "the training set's per-channel mean and std"}. With a much larger batch than convkit's 64, raise \`--lr\` with it (the linear rule: SGD 0.05 x batch / 64, with \`--schedule warmup-cosine\`). \`--resume\` continues from \`runs/ddp/checkpoint.pt\`.

## Back to convkit

\`runs/ddp/model/\` holds \`graph.json\` + \`weights.safetensors\`, convkit's saved-model folder:

    convkit analyze runs/ddp/model

and in TypeScript \`loadModel("runs/ddp/model")\`, or \`loadPytorchStateDict(graph, bytes)\` for any state dict saved with \`save_weights(model, path)\` (names and shapes are checked; a DDP \`module.\` prefix is removed).
`;
}
