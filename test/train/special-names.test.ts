import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { GraphModel } from "../../src/graph/executor.js";
import type { Weights } from "../../src/graph/types.js";
import { convAttrs } from "../../src/rewrite/units.js";
import { Rng } from "../../src/tensor/rng.js";
import { loadCheckpoint, restoreWeights, saveCheckpoint } from "../../src/train/checkpoint.js";
import { train } from "../../src/train/loop.js";
import { plainName, SPECIAL_NAMES, type SpecialName } from "../helpers/special-names.js";
import { tinyData } from "./loop-fixtures.js";

// Checkpoints hold the model's parameter names and the caller's generator names: "__proto__" or "constructor"
// must come back as they went in.

const root = mkdtempSync(join(tmpdir(), "convkit-train-special-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A tiny Fashion-MNIST classifier whose names are all special, or its twin with ordinary names. */
function net(special: boolean): GraphModel {
  const n = (name: SpecialName) => (special ? name : plainName(name));
  const b = new GraphBuilder("tiny", { seed: 2 });
  const x = b.input(n("constructor"), [1, 28, 28]);
  let y = b.scope(n("toString"), () => {
    const c = b.node(
      "conv2d",
      [x],
      convAttrs({ inChannels: 1, outChannels: 4, kernelSize: [3, 3], padding: [1, 1, 1, 1] }),
      { name: n("valueOf"), params: { weight: { name: n("__proto__") }, bias: { name: n("valueOf") } } },
    )[0];
    return b.maxPool2d(b.relu(b.batchNorm2d(c, { name: n("hasOwnProperty") })), { kernelSize: 4 });
  });
  y = b.dropout(b.flatten(y), 0.2);
  const head = b.node(
    "linear",
    [y],
    { inFeatures: 4 * 7 * 7, outFeatures: 10, bias: true },
    {
      name: n("__lookupGetter__"),
      params: { weight: { name: n("toLocaleString") } },
    },
  )[0];
  b.output(head);
  const { graph, weights } = b.build();
  return new GraphModel(graph, weights);
}

/** The special model's weights under the twin's names. */
function asPlainWeights(w: Weights): Weights {
  const plain = (segment: string) =>
    (SPECIAL_NAMES as readonly string[]).includes(segment) ? plainName(segment as SpecialName) : segment;
  return new Map([...w].map(([name, data]) => [name.split(".").map(plain).join("."), data]));
}

describe("checkpoints: names that JavaScript objects treat specially are ordinary names", () => {
  it("saveCheckpoint / loadCheckpoint keep weights and generator states under such names", () => {
    const dir = join(root, "api");
    const rngs = Object.fromEntries(
      ["__proto__", "constructor", "toString"].map((name, i) => [name, new Rng(i + 1).getState()]),
    );
    const weights = Object.fromEntries(
      ["__proto__", "constructor", "valueOf"].map((name, i) => [
        name,
        new Tensor(Float32Array.of(i, -i), [2]),
      ]),
    );
    saveCheckpoint(dir, { epoch: 1, step: 3, weights, rng: rngs });
    const back = loadCheckpoint(dir);
    expect(Object.keys(back.rng)).toEqual(["__proto__", "constructor", "toString"]);
    for (const [name, state] of Object.entries(rngs)) expect(back.rng[name], name).toEqual(state);
    expect([...back.weights.keys()]).toEqual(["__proto__", "constructor", "valueOf"]);
    const target = Object.fromEntries(
      Object.keys(weights).map((name) => [name, new Tensor(new Float32Array(2), [2])]),
    );
    restoreWeights(target, back.weights);
    for (const [name, t] of Object.entries(weights))
      expect(Array.from(target[name].data), name).toEqual(Array.from(t.data));
  });

  it("a run stopped and resumed from its checkpoint ends where the twin with ordinary names ends", async () => {
    const data = tinyData(160, 64);
    const base = { train: data.train, test: data.test, batchSize: 32, lr: 0.05, seed: 3, epochs: 2 };
    const reference = net(false);
    const full = await train(reference, base);

    const dir = join(root, "resume");
    const controller = new AbortController();
    const stopped = await train(net(true), {
      ...base,
      checkpointDir: dir,
      checkpointEvery: 2,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.kind === "step" && e.globalStep === 7) controller.abort();
      },
    });
    expect(stopped.stopped).toBe("aborted");
    expect([...loadCheckpoint(dir).weights.keys()]).toEqual([...net(true).weights().keys()]);
    const resumed = net(true);
    const r = await train(resumed, { ...base, checkpointDir: dir, resume: true });
    expect(r.resumedFrom?.step).toBe(7);
    expect(r.stopped).toBe("completed");
    expect(r.final.testAccuracy).toBe(full.final.testAccuracy);
    const got = asPlainWeights(resumed.weights());
    const want = reference.weights();
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [name, w] of want) expect(Array.from(got.get(name)!), name).toEqual(Array.from(w));
  });
});
