import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkRange, Optimizer, type ParamGroupInput, type ParamState } from "./optimizer.js";

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/**
 * Stochastic gradient descent with momentum, exactly torch.optim.SGD (1.13, single-tensor path):
 *
 *   g = grad (negated when maximize) + weightDecay·θ
 *   b = g on the first step, else momentum·b + (1 − dampening)·g      (when momentum ≠ 0)
 *   g = g + momentum·b (nesterov) or b
 *   θ = θ − lr·g
 *
 * The momentum buffer starts as a copy of the first gradient: dampening does not apply to it.
 * Arithmetic is in double per element; parameters and buffers are stored in float32 like torch's.
 */
export class SGD extends Optimizer<SGDOptions> {
  readonly type = "SGD";

  constructor(
    params: readonly Tensor[] | readonly ParamGroupInput<SGDOptions>[],
    options: Partial<SGDOptions> & { lr: number },
  ) {
    super(params, {
      momentum: 0,
      dampening: 0,
      weightDecay: 0,
      nesterov: false,
      maximize: false,
      ...options,
    });
  }

  protected validate(o: SGDOptions, where: string): void {
    checkRange(o.lr, where, "lr", 0);
    checkRange(o.momentum, where, "momentum", 0);
    checkRange(o.dampening, where, "dampening", Number.NEGATIVE_INFINITY);
    checkRange(o.weightDecay, where, "weightDecay", 0);
    if (typeof o.nesterov !== "boolean")
      throw new ArgumentError(describe(where, "nesterov", "a boolean", o.nesterov));
    if (typeof o.maximize !== "boolean")
      throw new ArgumentError(describe(where, "maximize", "a boolean", o.maximize));
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new ArgumentError(
        describe(where, "nesterov", "momentum > 0 and dampening 0 (as torch requires)", {
          momentum: o.momentum,
          dampening: o.dampening,
        }),
      );
    }
  }

  protected update(param: Tensor, grad: Float32Array, state: ParamState, o: SGDOptions): void {
    const theta = param.data;
    const n = theta.length;
    const sign = o.maximize ? -1 : 1;
    const { lr, momentum, dampening, weightDecay, nesterov } = o;
    state.step++;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) theta[i] -= lr * (sign * grad[i] + weightDecay * theta[i]);
      return;
    }
    let buf = state.buffers.momentumBuffer;
    const first = buf === undefined;
    if (buf === undefined) {
      buf = new Float32Array(n);
      state.buffers.momentumBuffer = buf;
    }
    for (let i = 0; i < n; i++) {
      const g = sign * grad[i] + weightDecay * theta[i];
      buf[i] = first ? g : momentum * buf[i] + (1 - dampening) * g;
      const d = nesterov ? g + momentum * buf[i] : buf[i];
      theta[i] -= lr * d;
    }
  }
}
