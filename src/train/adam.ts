import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";
import { checkRange, Optimizer, type ParamGroupInput, type ParamState } from "./optimizer.js";

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

type AdamInput = Partial<AdamOptions>;

/**
 * The update shared by Adam and AdamW, exactly torch.optim's single-tensor code (1.13):
 *
 *   t += 1;  g = grad (negated when maximize)
 *   Adam:  g = g + weightDecay·θ            AdamW:  θ = θ·(1 − lr·weightDecay)
 *   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²
 *   amsgrad: vmax = max(vmax, v), used for v below (the raw average, not the bias-corrected one,
 *            which is what torch's code does although its docs' pseudo-code says v̂)
 *   θ = θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected validate(o: AdamOptions, where: string): void {
    checkRange(o.lr, where, "lr", 0);
    checkRange(o.eps, where, "eps", 0);
    checkRange(o.weightDecay, where, "weightDecay", 0);
    if (!Array.isArray(o.betas) || o.betas.length !== 2)
      throw new ArgumentError(describe(where, "betas", "two numbers [beta1, beta2]", o.betas));
    checkRange(o.betas[0], where, "betas[0]", 0, 1);
    checkRange(o.betas[1], where, "betas[1]", 0, 1);
    if (typeof o.amsgrad !== "boolean")
      throw new ArgumentError(describe(where, "amsgrad", "a boolean", o.amsgrad));
    if (typeof o.maximize !== "boolean")
      throw new ArgumentError(describe(where, "maximize", "a boolean", o.maximize));
  }

  protected update(param: Tensor, grad: Float32Array, state: ParamState, o: AdamOptions): void {
    const theta = param.data;
    const n = theta.length;
    const { lr, eps, weightDecay, amsgrad } = o;
    const [beta1, beta2] = o.betas;
    const sign = o.maximize ? -1 : 1;
    if (state.buffers.expAvg === undefined) {
      state.buffers.expAvg = new Float32Array(n);
      state.buffers.expAvgSq = new Float32Array(n);
      if (amsgrad) state.buffers.maxExpAvgSq = new Float32Array(n);
    }
    if (amsgrad && state.buffers.maxExpAvgSq === undefined) state.buffers.maxExpAvgSq = new Float32Array(n);
    const m = state.buffers.expAvg;
    const v = state.buffers.expAvgSq;
    const vmax = state.buffers.maxExpAvgSq;
    state.step++;
    const t = state.step;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const shrink = this.decoupled ? 1 - lr * weightDecay : 1;
    const coupled = this.decoupled ? 0 : weightDecay;
    for (let i = 0; i < n; i++) {
      if (this.decoupled) theta[i] *= shrink;
      const g = sign * grad[i] + coupled * theta[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      let second = v[i];
      if (amsgrad) {
        if (second > vmax[i]) vmax[i] = second;
        second = vmax[i];
      }
      theta[i] -= (stepSize * m[i]) / (Math.sqrt(second) / bc2Sqrt + eps);
    }
  }
}

/** Adam (torch.optim.Adam): weight decay is added to the gradient (L2). Defaults: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 0. */
export class Adam extends AdamBase {
  readonly type = "Adam";
  protected readonly decoupled = false;

  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamOptions>[], options: AdamInput = {}) {
    super(params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0,
      amsgrad: false,
      maximize: false,
      ...options,
    });
  }
}

/** AdamW (torch.optim.AdamW): decoupled weight decay θ ← θ·(1 − lr·wd) before the Adam step. Default weightDecay 1e-2. */
export class AdamW extends AdamBase {
  readonly type = "AdamW";
  protected readonly decoupled = true;

  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamOptions>[], options: AdamInput = {}) {
    super(params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 1e-2,
      amsgrad: false,
      maximize: false,
      ...options,
    });
  }
}
