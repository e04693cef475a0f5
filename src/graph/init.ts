import { ArgumentError, describe } from "../tensor/errors.js";
import type { Rng } from "../tensor/rng.js";
import { numel } from "../tensor/shape.js";

/**
 * Parameter initialisers. `"default"` is PyTorch's own `reset_parameters` for the layer:
 * conv/linear weight kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fanIn), 1/sqrt(fanIn)), and the bias the same
 * bound; batch-norm weight 1 and bias 0. The others cover what torchvision's models do on top
 * (kaiming_normal fan_out for ResNet convs, zero-initialised last BN gamma, normal(0, 0.01) linear...).
 */
export type InitSpec =
  | "default"
  | "zeros"
  | "ones"
  | { kind: "constant"; value: number }
  | { kind: "uniform"; low: number; high: number }
  | { kind: "normal"; mean?: number; std: number }
  /** torch.nn.init.kaiming_normal_ with nonlinearity 'relu' (gain sqrt(2)). */
  | { kind: "kaimingNormal"; mode?: "fanIn" | "fanOut" }
  /** torch.nn.init.kaiming_uniform_ with nonlinearity 'leaky_relu' and slope `a` (PyTorch's default a=sqrt(5)). */
  | { kind: "kaimingUniform"; a?: number; mode?: "fanIn" | "fanOut" }
  /** torch.nn.init.xavier_uniform_ (gain 1). */
  | { kind: "xavierUniform" };

/**
 * PyTorch's `_calculate_fan_in_and_fan_out`: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive
 * field (for grouped convs fan_in counts one group's channels because the weight is [Cout, Cin/groups, kH, kW]).
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const field = numel(shape.slice(2));
  return { fanIn: shape[1] * field, fanOut: shape[0] * field };
}

/**
 * Fills a new buffer of `shape` following `spec`. `fallback` says what "default" means for this role
 * ("kaimingUniform" for weights, `{bias: fanIn}` for biases: U(-1/sqrt(fanIn), 1/sqrt(fanIn)), a constant otherwise).
 */
export function initialise(
  spec: InitSpec,
  shape: readonly number[],
  rng: Rng,
  fallback: { kind: "weight" } | { kind: "bias"; fanIn: number } | { kind: "constant"; value: number },
  where: string,
): Float32Array {
  const data = new Float32Array(numel(shape));
  const uniform = (low: number, high: number): Float32Array => {
    for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * rng.uniform();
    return data;
  };
  if (spec === "default") {
    if (fallback.kind === "weight")
      return initialise({ kind: "kaimingUniform" }, shape, rng, fallback, where);
    if (fallback.kind === "bias") {
      const bound = fallback.fanIn > 0 ? 1 / Math.sqrt(fallback.fanIn) : 0;
      return uniform(-bound, bound);
    }
    return data.fill(fallback.value);
  }
  if (spec === "zeros") return data;
  if (spec === "ones") return data.fill(1);
  const { fanIn, fanOut } = fans(shape);
  switch (spec.kind) {
    case "constant":
      return data.fill(spec.value);
    case "uniform":
      return uniform(spec.low, spec.high);
    case "normal": {
      const mean = spec.mean ?? 0;
      for (let i = 0; i < data.length; i++) data[i] = mean + spec.std * rng.normal();
      return data;
    }
    case "kaimingNormal": {
      const fan = spec.mode === "fanOut" ? fanOut : fanIn;
      const std = Math.SQRT2 / Math.sqrt(fan);
      for (let i = 0; i < data.length; i++) data[i] = std * rng.normal();
      return data;
    }
    case "kaimingUniform": {
      const a = spec.a ?? Math.sqrt(5);
      const fan = spec.mode === "fanOut" ? fanOut : fanIn;
      const gain = Math.sqrt(2 / (1 + a * a));
      const bound = Math.sqrt(3) * (gain / Math.sqrt(fan));
      return uniform(-bound, bound);
    }
    case "xavierUniform": {
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      return uniform(-bound, bound);
    }
    default:
      throw new ArgumentError(describe(where, "init", "an InitSpec", spec));
  }
}
