import type { GraphBuilder, ValueRef } from "../graph/builder.js";
import type { Json, ScopeInfo } from "../graph/types.js";
import { ArgumentError, describe, verbatim } from "../tensor/errors.js";
import { checkPositiveInt } from "../tensor/shape.js";

/** Checks a positive integer block option (the engine's own check). */
export const positiveInt = checkPositiveInt;

/**
 * What every block shares: the activation choice, batch-norm options, and how a block names its scope and
 * its nodes.
 *
 * Naming matters beyond looks: parameter names are `scope path + node name + ".weight"`, and the zoo must
 * produce torchvision's `state_dict` keys exactly (`layer1.0.conv1.weight`, `features.0.weight`), so blocks
 * let the caller choose the names of the nodes that carry parameters, or build without a scope of their own
 * (`inline`) where torchvision flattens a block into its parent module.
 */

/** Activation after a conv (or inside a block); "none" adds no node. */
export type Activation = "none" | "relu" | "relu6" | "hardswish" | "silu" | "sigmoid" | "tanh";

const ACTIVATIONS: readonly Activation[] = ["none", "relu", "relu6", "hardswish", "silu", "sigmoid", "tanh"];

/** nn.BatchNorm2d options (defaults eps 1e-5, momentum 0.1, as PyTorch). */
export interface BatchNormOptions {
  eps?: number;
  momentum?: number | null;
}

/**
 * Hands out nn.Sequential-style local names "0", "1", "2"... in creation order, so a block (or several in a row)
 * can name its nodes like torchvision's `features.N` without the caller counting them.
 */
export class Sequential {
  private next_: number;
  constructor(start = 0) {
    this.next_ = start;
  }
  /** The next index as a name ("0", "1"...). */
  next(): string {
    return String(this.next_++);
  }
  /** The index the next call will hand out. */
  get index(): number {
    return this.next_;
  }
}

/** Checks an activation name. */
export function checkActivation(value: unknown, op: string, argument = "activation"): Activation {
  if (typeof value !== "string" || !ACTIVATIONS.includes(value as Activation)) {
    throw new ArgumentError(describe(op, argument, `one of ${ACTIVATIONS.join(", ")}`, value));
  }
  return value as Activation;
}

/** Adds the activation node (none for "none"); `name` is its local name. */
export function activate(b: GraphBuilder, x: ValueRef, activation: Activation, name?: string): ValueRef {
  const o = name === undefined ? {} : { name };
  switch (activation) {
    case "none":
      return x;
    case "relu":
      return b.relu(x, o);
    case "relu6":
      return b.relu6(x, o);
    case "hardswish":
      return b.hardSwish(x, o);
    case "silu":
      return b.silu(x, o);
    case "sigmoid":
      return b.sigmoid(x, o);
    case "tanh":
      return b.tanh(x, o);
  }
}

// Scope paths opened by blocks, per builder, so generated names do not repeat ("conv_bn_act1", "...2").
const opened = new WeakMap<GraphBuilder, Set<string>>();

function qualified(b: GraphBuilder, local: string): string {
  return b.currentScope ? `${b.currentScope}.${local}` : local;
}

/**
 * Runs `fn` in the block's scope: `name` if given, else `base` + the first free counter in the current scope.
 * The scope's kind and meta go to `graph.scopes`, for drawing, reports and rewrites.
 */
export function blockScope<T>(
  b: GraphBuilder,
  name: string | undefined,
  base: string,
  info: ScopeInfo,
  fn: () => T,
): T {
  let used = opened.get(b);
  if (used === undefined) {
    used = new Set();
    opened.set(b, used);
  }
  let local = name;
  if (local === undefined) {
    for (let i = 1; ; i++) {
      if (!used.has(qualified(b, `${base}${i}`))) {
        local = `${base}${i}`;
        break;
      }
    }
  }
  used.add(qualified(b, local));
  return b.scope(local, fn, info);
}

/** Scope meta from plain values (drops undefined, keeps JSON). */
export function meta(values: Record<string, Json | undefined>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined) out[k] = v;
  return out;
}

/** Channel count of an NCHW value, checked to be a 4-d tensor. */
export function channelsOf(b: GraphBuilder, x: ValueRef, op: string): number {
  const s = b.shapeOf(x);
  if (s.length !== 4) {
    throw new ArgumentError(
      describe(op, "input", "a 4-d value [N, C, H, W]", verbatim(`shape [${s.join(", ")}]`)),
    );
  }
  return s[1];
}
