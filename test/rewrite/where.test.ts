import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Node } from "../../src/graph/types.js";
import { globToRegExp, parseWhere, stageOf } from "../../src/rewrite/where.js";
import { ArgumentError } from "../../src/tensor/errors.js";

function conv(
  name: string,
  scope: string,
  a: { cin: number; cout: number; k: [number, number]; s?: number; g?: number; d?: number },
): Node {
  return {
    name,
    op: "conv2d",
    scope,
    inputs: ["x"],
    outputs: [name],
    params: { weight: `${name}.weight` },
    attrs: {
      inChannels: a.cin,
      outChannels: a.cout,
      kernelSize: a.k,
      stride: [a.s ?? 1, a.s ?? 1],
      padding: [0, 0, 0, 0],
      dilation: [a.d ?? 1, a.d ?? 1],
      groups: a.g ?? 1,
      bias: false,
    },
  };
}

const relu: Node = {
  name: "stage2.relu",
  op: "relu",
  scope: "stage2",
  inputs: ["x"],
  outputs: ["r"],
  params: {},
  attrs: {},
};

describe("where: selector language", () => {
  const big = conv("stage2.block1.conv1", "stage2.block1", { cin: 64, cout: 128, k: [5, 5], s: 2 });
  const small = conv("stage1.conv1", "stage1", { cin: 3, cout: 32, k: [3, 3], g: 1 });
  const asym = conv("layer3.0.conv2", "layer3.0", { cin: 64, cout: 64, k: [1, 7], g: 4, d: 2 });

  it("matches conjunctions of op, kernel, scope glob, channels, stride, groups and stage", () => {
    const sel = parseWhere("kernel>=5, op=conv2d, scope=stage2.*, channels>=64, stride=2, groups=1, stage=2");
    expect(sel.matches(big)).toBe(true);
    expect(sel.matches(small)).toBe(false);
    expect(parseWhere("kernel>=5 && cin=64 and cout>100 & stage!=1").matches(big)).toBe(true);
    expect(parseWhere("").matches(relu)).toBe(true);
  });

  it("compares kernels by their largest side, per axis, or as AxB", () => {
    expect(parseWhere("kernel=7").matches(asym)).toBe(true);
    expect(parseWhere("kh=1, kw=7").matches(asym)).toBe(true);
    expect(parseWhere("kernel=1x7").matches(asym)).toBe(true);
    expect(parseWhere("kernel=7x1").matches(asym)).toBe(false);
    expect(parseWhere("kernel!=7x1").matches(asym)).toBe(true);
    expect(parseWhere("dilation=2, groups=4").matches(asym)).toBe(true);
  });

  it("channels needs both in and out channels to satisfy the comparison", () => {
    expect(parseWhere("channels>=64").matches(big)).toBe(true);
    expect(parseWhere("channels>=64").matches(small)).toBe(false);
    expect(parseWhere("cout>=32").matches(small)).toBe(true);
  });

  it("a node without the property never matches a clause on it", () => {
    expect(parseWhere("kernel>=1").matches(relu)).toBe(false);
    expect(parseWhere("groups=1").matches(relu)).toBe(false);
    expect(parseWhere("op=relu, scope=stage2").matches(relu)).toBe(true);
  });

  it("size reads the input height from the given shapes", () => {
    const shapes = new Map([["x", [1, 3, 28, 28]]]);
    expect(parseWhere("size=28").matches(small, { shapes })).toBe(true);
    expect(parseWhere("size<28").matches(small, { shapes })).toBe(false);
    expect(parseWhere("size=28").matches(small)).toBe(false);
  });

  it("stage comes from a stageN or layerN scope segment", () => {
    expect(stageOf(big)).toBe(2);
    expect(stageOf(asym)).toBe(3);
    expect(stageOf({ name: "features.0", scope: "features" })).toBeNull();
    expect(parseWhere("stage=3").matches(asym)).toBe(true);
  });

  it("globs: * spans dots, ? is one character, the rest is literal", () => {
    expect(globToRegExp("stage2.*").test("stage2.block1.conv1")).toBe(true);
    expect(globToRegExp("stage2.*").test("stage20")).toBe(false);
    expect(globToRegExp("layer?.0").test("layer3.0")).toBe(true);
    expect(globToRegExp("a+b").test("a+b")).toBe(true);
    expect(parseWhere("name=*.conv1").matches(small)).toBe(true);
    expect(parseWhere("name!=*.conv1").matches(small)).toBe(false);
  });

  it("errors name the clause and the bad token", () => {
    const bad: [string, RegExp][] = [
      ["kernal>=5", /clause "kernal>=5": unknown key "kernal" \(expected one of op, name/],
      ["kernel>>5", /clause "kernel>>5": expected an integer after "kernel>", got ">5"/],
      ["kernel 5", /clause "kernel 5": expected a comparison .* after "kernel", got "5"/],
      ["kernel>=five", /expected an integer after "kernel>=", got "five"/],
      ["op=conv", /unknown op "conv" \(expected one of conv2d, .*did you mean conv2d/],
      ["op>conv2d", /"op" compares with = or != only, got ">"/],
      ["kernel>=5,,op=conv2d", /empty clause/],
      ["kernel=", /expected a value after "kernel=", got nothing/],
      ["kernel>3x3", /"kernel=AxB" compares with = or != only/],
      [">=5", /expected a key/],
    ];
    for (const [text, message] of bad) {
      expect(() => parseWhere(text), text).toThrow(ArgumentError);
      expect(() => parseWhere(text), text).toThrow(message);
    }
  });

  it("property: numeric clauses agree with a direct comparison on random convs", () => {
    const ops = ["=", "!=", "<", "<=", ">", ">="] as const;
    const cmp = (a: number, op: (typeof ops)[number], b: number) =>
      op === "="
        ? a === b
        : op === "!="
          ? a !== b
          : op === "<"
            ? a < b
            : op === "<="
              ? a <= b
              : op === ">"
                ? a > b
                : a >= b;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(...ops),
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom("kernel", "kh", "kw", "stride"),
        (kh, kw, s, op, v, key) => {
          const node = conv("n", "", { cin: 4, cout: 4, k: [kh, kw], s });
          const actual = key === "kernel" ? Math.max(kh, kw) : key === "kh" ? kh : key === "kw" ? kw : s;
          expect(parseWhere(`${key}${op}${v}`).matches(node)).toBe(cmp(actual, op, v));
        },
      ),
    );
  });
});
