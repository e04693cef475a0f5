import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/index.js";
import { ZOO } from "../../src/zoo/index.js";

/**
 * The zoo against figures computed with Debian's torch/torchvision by tools/torchvision_figures.py (random init,
 * no download): trainable parameter count, buffer count, MACs at batch 1 (torchvision's convention: conv and
 * linear only, counted here by src/analyze), the state_dict's keys with their shapes, and the output shape. For the
 * models torchvision lacks the reference is the tool's few-line PyTorch mirror. Only shape inference runs here.
 */

interface Figures {
  source: "torchvision" | "reimplementation";
  inputShape: number[];
  outputShape: number[];
  params: number;
  buffers: number;
  macs: number;
  stateDict: Record<string, number[]>;
}

const FIXTURE = new URL("../fixtures/torchvision-figures.json", import.meta.url);
const MODELS: Record<string, Figures> = JSON.parse(readFileSync(FIXTURE, "utf8")).models;

describe("zoo figures equal torchvision's", () => {
  it("every zoo model with a torchvision constructor has figures (and nothing else claims one)", () => {
    for (const [name, entry] of Object.entries(ZOO)) {
      if (entry.torchvision !== undefined) {
        expect(entry.torchvision, name).toBe(name);
        expect(MODELS[name]?.source, name).toBe("torchvision");
      } else if (MODELS[name] !== undefined) {
        expect(MODELS[name].source, name).toBe("reimplementation");
      }
    }
    expect(Object.keys(MODELS).filter((n) => !(n in ZOO))).toEqual([]);
  });

  for (const [name, fig] of Object.entries(MODELS)) {
    it(`${name} (${fig.source}): params, buffers, MACs, state_dict keys and shapes, output shape`, () => {
      const { graph } = ZOO[name].build();
      expect(graph.inputs[0].shape).toEqual(["N", ...fig.inputShape.slice(1)]);
      const a = analyze(graph);
      expect(a.totals.params, `${name} params`).toBe(fig.params);
      expect(a.totals.buffers, `${name} buffers`).toBe(fig.buffers);
      expect(a.totals.macs, `${name} MACs`).toBe(fig.macs);
      expect(a.layers.at(-1)?.outputShape, `${name} output`).toEqual(fig.outputShape);
      const ours = Object.fromEntries(Object.entries(graph.params).map(([k, v]) => [k, v.shape]));
      const missing = Object.keys(fig.stateDict).filter((k) => !(k in ours));
      const extra = Object.keys(ours).filter((k) => !(k in fig.stateDict));
      expect(missing, `${name}: state_dict keys we lack`).toEqual([]);
      expect(extra, `${name}: keys torch does not have`).toEqual([]);
      expect(ours, `${name}: shapes`).toEqual(fig.stateDict);
    });
  }
});

/** The published figures (torchvision docs, papers), to the precision they are published at. */
const PUBLISHED: [name: string, params: number, gmacs: number, decimals: number][] = [
  ["resnet18", 11_689_512, 1.814, 3],
  ["resnet50", 25_557_032, 4.089, 3],
  ["vgg16", 138_357_544, 15.47, 2],
  ["mobilenet_v2", 3_504_872, 0.3, 2],
  ["shufflenet_v2_x1_0", 2_278_604, 0.145, 3],
  ["googlenet", 6_624_904, 1.498, 3],
  ["densenet121", 7_978_856, 2.834, 3],
  ["resnext50_32x4d", 25_028_904, 4.23, 2],
];

describe("sanity: published numbers", () => {
  for (const [name, params, gmacs, decimals] of PUBLISHED) {
    it(`${name}: ${params.toLocaleString("en")} params, ${gmacs} G MACs`, () => {
      const a = analyze(ZOO[name].build().graph).totals;
      expect(a.params).toBe(params);
      expect(Number((a.macs / 1e9).toFixed(decimals))).toBe(gmacs);
    });
  }

  it("papers: LeNet-5 61,706 params; MobileNet v1 4.2 M / 569 M mult-adds; ShuffleNet v1 g=3 137 M; SE-ResNet-50 28.09 M", () => {
    const t = (name: string) => analyze(ZOO[name].build().graph).totals;
    expect(t("lenet5").params).toBe(61_706);
    const mv1 = t("mobilenet_v1");
    expect([Number((mv1.params / 1e6).toFixed(1)), Math.round(mv1.macs / 1e6)]).toEqual([4.2, 569]);
    expect(Math.round(t("shufflenet_v1_g3").macs / 1e6)).toBe(137);
    expect(Number((t("se_resnet50").params / 1e6).toFixed(2))).toBe(28.09);
  });
});
