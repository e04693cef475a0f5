/**
 * Child process for the kill test in checkpoint.test.ts (not a test itself): saves checkpoints into
 * argv[2] forever, each one filled with its own number, and prints "saved N" after each save.
 * The parent kills it with SIGKILL at a random moment and checks what is left.
 */
import { Rng } from "../../src/tensor/rng.js";
import { saveCheckpoint } from "../../src/train/checkpoint.js";

const dir = process.argv[2];
const size = 1 << 18; // 1 MiB of float32 per tensor, so writes take long enough to be interrupted
for (let n = 1; ; n++) {
  const fill = (k: number) => new Float32Array(size).fill(n + k);
  const rng = new Rng(n);
  saveCheckpoint(dir, {
    epoch: n,
    step: 10 * n,
    weights: {
      "conv.weight": { shape: [size], data: fill(0) },
      "fc.bias": { shape: [4], data: new Float32Array(4).fill(n) },
    },
    optimizer: {
      type: "SGD",
      paramGroups: [{ params: [0, 1], lr: 0.1, momentum: 0.9 }],
      state: [{ step: n, buffers: { momentumBuffer: fill(0.5) } }, null],
    },
    rng: { default: rng.getState() },
    schedule: { lastEpoch: n, baseLrs: [0.1] },
    extra: { n },
  });
  process.stdout.write(`saved ${n}\n`);
}
