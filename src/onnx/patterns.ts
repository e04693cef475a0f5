import { attrFloat, attrInt, attrInts } from "./attrs.js";
import type { ImportContext } from "./context.js";
import { reshapeDims } from "./fold.js";
import type { OnnxNode } from "./proto.js";

/**
 * Multi-node ONNX patterns that are one primitive in the graph. Each is recognised at its first node and
 * only when the intermediate values have no other reader (so nothing else depends on them); the later
 * nodes are marked absorbed and their output takes the primitive's value.
 *
 * - channel shuffle: Reshape [N, g, C/g, H, W] (or [N, g, C/g, H*W]) -> Transpose(0, 2, 1, ...) -> Reshape
 *   back to [N, C, H, W] (what `torch.nn.functional.channel_shuffle`/ShuffleNet's view-transpose-view exports);
 * - SiLU: Mul(x, Sigmoid(x)) (what PyTorch 1.13 exports for nn.SiLU);
 * - hard swish: Mul(x, HardSigmoid(x)) with PyTorch's alpha 1/6, beta 1/2 (nn.Hardswish before opset 14).
 *
 * MatMul + Add -> linear is in the MatMul converter; Pad -> Conv/pool in the Pad converter.
 */

function sameList(a: readonly number[] | undefined, b: readonly number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

function count(ctx: ImportContext, key: string): void {
  ctx.patterns[key] = (ctx.patterns[key] ?? 0) + 1;
}

function channelShuffle(ctx: ImportContext, r1: OnnxNode): boolean {
  const xv = ctx.vals.get(r1.inputs[0]);
  if (xv?.kind !== "act") return false;
  const x = xv.name;
  const xs = ctx.shape(x);
  if (xs.length !== 4) return false;
  const t = ctx.onlyReader(r1.outputs[0]);
  if (t === null || t.opType !== "Transpose") return false;
  const r2 = ctx.onlyReader(t.outputs[0]);
  if (r2 === null || r2.opType !== "Reshape") return false;
  if (attrInt(r1, "allowzero", 0) !== 0 || attrInt(r2, "allowzero", 0) !== 0) return false;
  const s1 = ctx.ensureKnown(r1.inputs[1]);
  const s2 = ctx.ensureKnown(r2.inputs[1]);
  if (s1 === null || s2 === null) return false;
  let d1: number[];
  let d2: number[];
  const perm = attrInts(t, "perm");
  try {
    d1 = reshapeDims(r1, xs, Array.from(s1.a.data), false);
    if (perm === undefined || perm.length !== d1.length) return false;
    d2 = reshapeDims(
      r2,
      perm.map((p) => d1[p]),
      Array.from(s2.a.data),
      false,
    );
  } catch {
    return false;
  }
  const [n, c, h, w] = xs;
  const fiveD = d1.length === 5 && sameList(perm, [0, 2, 1, 3, 4]) && d1[3] === h && d1[4] === w;
  const fourD = d1.length === 4 && sameList(perm, [0, 2, 1, 3]) && d1[3] === h * w;
  if (!(fiveD || fourD) || d1[0] !== n || d1[1] * d1[2] !== c || !sameList(d2, xs)) return false;
  const out = ctx.emit(r1, "channelShuffle", [x], { groups: d1[1] }, {}, { local: "channel_shuffle" });
  ctx.absorbed.add(t);
  ctx.absorbed.add(r2);
  ctx.setAct(r2.outputs[0], out[0]);
  count(ctx, "channelShuffle");
  return true;
}

/** Mul(x, f(x)) where `gate` computes f(x): the Mul node, or null. */
function gatedMul(ctx: ImportContext, gate: OnnxNode): OnnxNode | null {
  const mul = ctx.onlyReader(gate.outputs[0]);
  if (mul === null || mul.opType !== "Mul" || mul.inputs.length !== 2) return null;
  const x = gate.inputs[0];
  const [a, b] = mul.inputs;
  const ok = (a === x && b === gate.outputs[0]) || (b === x && a === gate.outputs[0]);
  return ok && ctx.vals.get(x)?.kind === "act" ? mul : null;
}

function silu(ctx: ImportContext, sig: OnnxNode): boolean {
  const mul = gatedMul(ctx, sig);
  if (mul === null) return false;
  const out = ctx.emit(sig, "silu", [ctx.act(sig, 0)], {}, {});
  ctx.absorbed.add(mul);
  ctx.setAct(mul.outputs[0], out[0]);
  count(ctx, "silu");
  return true;
}

/** PyTorch's hardsigmoid is ONNX HardSigmoid(alpha = 1/6, beta = 0.5) (stored as float32). */
export function isTorchHardSigmoid(node: OnnxNode): boolean {
  return (
    Math.fround(attrFloat(node, "alpha", 0.2)) === Math.fround(1 / 6) &&
    Math.fround(attrFloat(node, "beta", 0.5)) === Math.fround(0.5)
  );
}

function hardSwish(ctx: ImportContext, hs: OnnxNode): boolean {
  if (!isTorchHardSigmoid(hs)) return false;
  const mul = gatedMul(ctx, hs);
  if (mul === null) return false;
  const out = ctx.emit(hs, "hardSwish", [ctx.act(hs, 0)], {}, {});
  ctx.absorbed.add(mul);
  ctx.setAct(mul.outputs[0], out[0]);
  count(ctx, "hardSwish");
  return true;
}

/** Tries the pattern starting at `node`; true when it converted the node (and absorbed its partners). */
export function convertPatternOrNull(ctx: ImportContext, node: OnnxNode): boolean {
  switch (node.opType) {
    case "Reshape":
      return channelShuffle(ctx, node);
    case "Sigmoid":
      return silu(ctx, node);
    case "HardSigmoid":
      return hardSwish(ctx, node);
    default:
      return false;
  }
}
