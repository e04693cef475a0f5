import { describe, expect, it } from "vitest";
import { randn } from "../../src/autograd/factories.js";
import { basicBlock, bottleneck } from "../../src/blocks/residual.js";
import { GraphModel } from "../../src/graph/executor.js";
import { ArgumentError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { expectClose } from "../helpers/close.js";
import { buildBlock, figures, forwardBackward, ops } from "./helpers.js";

const bn = (c: number) => 2 * c;

describe("basicBlock", () => {
  it("stride 2 with a projection shortcut: torchvision's names, params and MACs by hand", () => {
    const [cIn, h, planes] = [4, 8, 8];
    const hOut = h / 2;
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      basicBlock(b, x, { name: "0", planes, stride: 2 }),
    );
    expect(out.shape).toEqual([1, planes, hOut, hOut]);
    expect(
      Object.keys(graph.params)
        .filter((k) => k.endsWith("weight"))
        .sort(),
    ).toEqual([
      "0.bn1.weight",
      "0.bn2.weight",
      "0.conv1.weight",
      "0.conv2.weight",
      "0.downsample.0.weight",
      "0.downsample.1.weight",
    ]);
    expect(graph.scopes?.["0"].kind).toBe("basicBlock");
    const w = planes * cIn * 9 + planes * planes * 9 + planes * cIn;
    expect(figures(graph)).toEqual({
      params: w + 3 * bn(planes),
      buffers: 3 * (bn(planes) + 1),
      macs: hOut * hOut * w,
    });
    forwardBackward(graph, weights);
  });

  it("same shapes: identity shortcut (no downsample nodes); refusing an identity where shapes differ", () => {
    const { graph, weights } = buildBlock([6, 5, 5], (b, x) => basicBlock(b, x, { planes: 6 }));
    expect(ops(graph)).toEqual(["conv2d", "batchNorm2d", "relu", "conv2d", "batchNorm2d", "add", "relu"]);
    expect(figures(graph).macs).toBe(25 * 2 * 6 * 6 * 9);
    forwardBackward(graph, weights);
    expect(() => buildBlock([4, 5, 5], (b, x) => basicBlock(b, x, { planes: 6, downsample: false }))).toThrow(
      ArgumentError,
    );
  });
});

describe("bottleneck", () => {
  it("ResNet-50 bottleneck (planes 4, expansion 4) with projection: params and MACs by hand", () => {
    const [cIn, h, planes] = [8, 6, 4];
    const out4 = planes * 4;
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      bottleneck(b, x, { name: "blk", planes }),
    );
    expect(out.shape).toEqual([1, out4, h, h]);
    const w = cIn * planes + planes * planes * 9 + planes * out4 + cIn * out4;
    expect(figures(graph)).toEqual({
      params: w + bn(planes) * 2 + bn(out4) * 2,
      buffers: 2 * (bn(planes) + 1) + 2 * (bn(out4) + 1),
      macs: h * h * w,
    });
    expect(graph.scopes?.blk).toMatchObject({ kind: "bottleneck", meta: { width: planes, expansion: 4 } });
    forwardBackward(graph, weights);
  });

  it("ResNeXt: groups and width per group set the 3x3 width; stride on the 3x3 conv", () => {
    const [cIn, h, planes, groups, wpg] = [32, 6, 8, 4, 16];
    const width = Math.floor((planes * wpg) / 64) * groups;
    const { graph, weights, out } = buildBlock([cIn, h, h], (b, x) =>
      bottleneck(b, x, { name: "blk", planes, groups, widthPerGroup: wpg, stride: 2 }),
    );
    const hOut = h / 2;
    expect(out.shape).toEqual([1, planes * 4, hOut, hOut]);
    expect(graph.params["blk.conv2.weight"].shape).toEqual([width, width / groups, 3, 3]);
    const conv2 = graph.nodes.find((n) => n.name === "blk.conv2");
    expect(conv2?.op === "conv2d" && conv2.attrs.stride).toEqual([2, 2]);
    const macs =
      h * h * cIn * width +
      hOut * hOut * ((width * width * 9) / groups + width * planes * 4 + cIn * planes * 4);
    expect(figures(graph).macs).toBe(macs);
    forwardBackward(graph, weights);
  });

  it("SE after bn3, before the addition (scope se_module), reduction 16", () => {
    const [c, h, planes] = [64, 3, 16];
    const { graph, weights } = buildBlock([c, h, h], (b, x) =>
      bottleneck(b, x, { name: "blk", planes, se: true }),
    );
    const order = graph.nodes.map((n) => n.name);
    expect(order.indexOf("blk.se_module.scale")).toBeGreaterThan(order.indexOf("blk.bn3"));
    expect(order.indexOf("blk.se_module.scale")).toBeLessThan(order.indexOf("blk.add"));
    expect(graph.params["blk.se_module.fc1.weight"].shape).toEqual([c / 16, c, 1, 1]);
    const plain = buildBlock([c, h, h], (b, x) => bottleneck(b, x, { name: "blk", planes })).graph;
    expect(figures(graph).params - figures(plain).params).toBe(2 * c * (c / 16) + c / 16 + c);
    expect(figures(graph).macs - figures(plain).macs).toBe(2 * c * (c / 16));
    forwardBackward(graph, weights);
  });

  it("deformable conv2 keeps torchvision's conv2.weight; a fresh deformable block equals the plain one", () => {
    const [cIn, h, planes] = [16, 5, 4];
    const deform = buildBlock([cIn, h, h], (b, x) =>
      bottleneck(b, x, { name: "blk", planes, deformable: true }),
    );
    const plain = buildBlock([cIn, h, h], (b, x) => bottleneck(b, x, { name: "blk", planes }));
    const extra = Object.keys(deform.graph.params).filter((k) => !(k in plain.graph.params));
    expect(extra.sort()).toEqual(["blk.conv2.conv_offset.bias", "blk.conv2.conv_offset.weight"]);
    expect(deform.graph.params["blk.conv2.weight"]).toEqual(plain.graph.params["blk.conv2.weight"]);
    expect(figures(deform.graph).params - figures(plain.graph).params).toBe(27 * planes * 9 + 27);
    const x = randn([2, cIn, h, h], { rng: new Rng(5) });
    const model = new GraphModel(deform.graph, deform.weights);
    model.loadWeights(plain.weights, { strict: false });
    const got = model.forward(x);
    const want = new GraphModel(plain.graph, plain.weights).forward(x);
    expectClose(got.data, want.data, { rtol: 1e-5, label: "fresh deformable bottleneck" });
    forwardBackward(deform.graph, deform.weights);
  });
});
