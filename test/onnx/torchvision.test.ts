import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { exportOnnx } from "../../src/onnx/export.js";
import { importOnnx } from "../../src/onnx/import.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { type Feed, randomData, runGraph, runOrt } from "./helpers.js";
import {
  torchUnavailable,
  torchvisionModels,
  ZOO_MODELS,
  ZOO_OPSETS,
  type Zoo,
} from "./torchvision-models.js";

/**
 * torchvision CNNs exported by PyTorch 1.13 (tools/make_onnx_models.py: random init, randomised BatchNorm
 * statistics, dynamic N/H/W), at opsets 13 and 17:
 * - convkit's output equals ONNX Runtime's within 1e-4 relative on a seeded 1x3x64x64 input (the graph
 *   imported at the file's declared input ["N", 3, "H", "W"] with H = W = 64; our executor is plain
 *   TypeScript, so the small size keeps this fast);
 * - the analyzer gives torchvision's parameter count and MACs (measured in PyTorch with forward hooks at
 *   224x224; the graph imported at H = W = 224);
 * - import -> export -> ONNX Runtime gives the same output again.
 */

const unavailable = torchUnavailable();
const SIZE = 64;
const worst: Record<string, number> = {};
let zoo: Zoo;

// PyTorch is a test requirement (README, .ci/run): without it this suite fails with the reason rather than
// being skipped, so a green run always means the torchvision models were checked.
describe("torchvision models against ONNX Runtime", () => {
  beforeAll(() => {
    if (unavailable !== null) {
      throw new Error(`${unavailable}: install Debian's python3-torch and python3-torchvision (see README)`);
    }
    const z = torchvisionModels();
    if (typeof z === "string") throw new Error(z);
    zoo = z;
  }, 900_000);

  afterAll(() => {
    const lines = Object.entries(worst).map(([k, v]) => `  ${k.padEnd(32)} ${v.toExponential(2)}`);
    if (lines.length > 0) console.log(`worst relative difference vs ONNX Runtime:\n${lines.join("\n")}`);
  });

  const input: Feed = { data: randomData(3 * SIZE * SIZE, new Rng(2024)), dims: [1, 3, SIZE, SIZE] };

  for (const name of ZOO_MODELS) {
    for (const opset of ZOO_OPSETS) {
      it(`${name} opset ${opset}`, async () => {
        const entry = zoo.models[name];
        const bytes = new Uint8Array(readFileSync(join(zoo.dir, entry.files[String(opset)])));

        const small = importOnnx(bytes, { dims: { H: SIZE, W: SIZE }, source: `${name}_op${opset}.onnx` });
        expect(small.info.opset).toBe(opset);
        expect(small.graph.inputs[0].shape).toEqual(["N", 3, SIZE, SIZE]);
        expect(small.info.fixedDims).toBeNull();
        const ours = runGraph(small.graph, small.weights, { input })[small.graph.outputs[0]];
        const ref = (await runOrt(bytes, { input })).output;
        expect(ours.dims).toEqual(ref.dims);
        const key = `${name} opset ${opset}`;
        worst[key] = expectClose(ours.data, ref.data, { rtol: 1e-4, label: key });

        // Parameters and MACs at 224x224, as torchvision reports them.
        const big = importOnnx(bytes, { dims: { H: 224, W: 224 } });
        const a = analyze(big.graph, [1, 3, 224, 224]);
        expect(a.totals.params, `${name} parameters`).toBe(entry.params);
        expect(a.totals.macs, `${name} MACs`).toBe(entry.macs);

        // Round trip: what we export runs in ONNX Runtime with the same result.
        const again = (await runOrt(exportOnnx(small.graph, small.weights), { input }))[
          small.graph.outputs[0]
        ];
        expectClose(again.data, ref.data, { rtol: 1e-4, label: `${key} re-exported` });
      }, 120_000);
    }
  }
});
