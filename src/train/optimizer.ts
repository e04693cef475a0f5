import type { Tensor } from "../autograd/tensor.js";
import { ArgumentError, DataError, describe, FormatError } from "../tensor/errors.js";

/** A hyper-parameter value as optimizers keep them (and as checkpoints store them in JSON). */
export type OptionValue = number | boolean | readonly number[];

/** Every optimizer's options have a learning rate; schedules change it per group. */
export interface BaseOptions {
  lr: number;
}

/** A parameter group as given to a constructor: some parameters and options overriding the defaults. */
export type ParamGroupInput<O> = { params: readonly Tensor[] } & Partial<O>;

/** A parameter group held by an optimizer, like one entry of torch's `optimizer.param_groups`. */
export type ParamGroup<O> = { params: readonly Tensor[] } & O;

/** Per-parameter state: the number of steps taken and named buffers (momentum, moments). */
export interface ParamState {
  step: number;
  buffers: Record<string, Float32Array>;
}

/**
 * What `stateDict()` returns, shaped like torch's: groups refer to parameters by their index in
 * constructor order, and `state[i]` is parameter i's state (null before its first update).
 */
export interface OptimizerStateDict {
  type: string;
  paramGroups: ({ params: number[] } & Record<string, OptionValue>)[];
  state: (ParamState | null)[];
}

/**
 * Base of the optimizers: parameter groups with their options, per-parameter state, `zeroGrad`,
 * `stateDict`/`loadStateDict`. Subclasses implement `update` for one parameter, which reads the
 * gradient and writes `param.data` in place, as torch's single-tensor code paths do.
 */
export abstract class Optimizer<O extends BaseOptions> {
  abstract readonly type: string;
  readonly paramGroups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: readonly Tensor[] | readonly ParamGroupInput<O>[], defaults: O) {
    const op = new.target.name;
    if (params.length === 0)
      throw new ArgumentError(describe(op, "params", "at least one parameter", "an empty list"));
    const inputs: ParamGroupInput<O>[] = isGroupList(params)
      ? [...params]
      : [{ params: params as readonly Tensor[] } as ParamGroupInput<O>];
    const seen = new Set<Tensor>();
    this.paramGroups = inputs.map((input, g) => {
      if (!Array.isArray(input.params) || input.params.length === 0) {
        throw new ArgumentError(
          describe(op, `paramGroups[${g}].params`, "a non-empty array of tensors", input.params),
        );
      }
      for (const p of input.params) {
        if (!p.isLeaf)
          throw new ArgumentError(
            describe(op, `paramGroups[${g}].params`, "leaf tensors", `a tensor made by ${p.gradFn?.name}`),
          );
        if (seen.has(p))
          throw new ArgumentError(`${op}: a parameter appears in more than one group (or twice in one)`);
        seen.add(p);
      }
      const group = { ...defaults, ...input, params: [...input.params] } as ParamGroup<O>;
      this.validate(group, `${op}: paramGroups[${g}]`);
      return group;
    });
  }

  /** Checks a group's options; throws ArgumentError naming the option. */
  protected abstract validate(options: O, where: string): void;

  /** One update of one parameter whose gradient is `grad`. */
  protected abstract update(param: Tensor, grad: Float32Array, state: ParamState, options: O): void;

  /** The first group's learning rate; setting it sets every group's. */
  get lr(): number {
    return this.paramGroups[0].lr;
  }

  set lr(value: number) {
    for (const group of this.paramGroups) group.lr = value;
  }

  /** Every parameter, in constructor order. */
  params(): Tensor[] {
    return this.paramGroups.flatMap((g) => [...g.params]);
  }

  /** Clears every parameter's gradient (`zero_grad(set_to_none=True)`, torch 2's default). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  /** One optimisation step over every parameter that has a gradient. */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        if (p.grad.data.length !== p.data.length) {
          throw new DataError(
            describe(
              `${this.type}.step`,
              "grad",
              `${p.data.length} values like its parameter`,
              p.grad.data.length,
            ),
          );
        }
        let state = this.state.get(p);
        if (state === undefined) {
          state = { step: 0, buffers: {} };
          this.state.set(p, state);
        }
        this.update(p, p.grad.data, state, group);
      }
    }
  }

  /** The optimizer's state (copies), for checkpoints. */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    this.params().forEach((p, i) => {
      index.set(p, i);
    });
    const paramGroups = this.paramGroups.map((group) => {
      const out: { params: number[] } & Record<string, OptionValue> = {
        params: group.params.map((p) => index.get(p) as number),
      };
      for (const [key, value] of Object.entries(group)) {
        if (key === "params") continue;
        out[key] = Array.isArray(value) ? [...value] : (value as OptionValue);
      }
      return out;
    });
    const state = this.params().map((p) => {
      const s = this.state.get(p);
      if (s === undefined) return null;
      const buffers: Record<string, Float32Array> = {};
      for (const [name, buf] of Object.entries(s.buffers)) buffers[name] = buf.slice();
      return { step: s.step, buffers };
    });
    return { type: this.type, paramGroups, state };
  }

  /**
   * Restores a state from `stateDict()`, for an optimizer built over the same parameters in the same
   * groups. Checks everything before changing anything, so a bad dict leaves the optimizer as it was.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    const op = `${this.type}.loadStateDict`;
    if (dict.type !== this.type) throw new FormatError(describe(op, "type", this.type, dict.type));
    if (!Array.isArray(dict.paramGroups) || dict.paramGroups.length !== this.paramGroups.length) {
      throw new FormatError(
        describe(op, "paramGroups", `${this.paramGroups.length} groups`, dict.paramGroups?.length),
      );
    }
    const params = this.params();
    let offset = 0;
    const newOptions: O[] = [];
    dict.paramGroups.forEach((saved, g) => {
      const group = this.paramGroups[g];
      const expected = group.params.map((_, i) => offset + i);
      offset += group.params.length;
      if (
        !Array.isArray(saved.params) ||
        saved.params.length !== expected.length ||
        saved.params.some((v, i) => v !== expected[i])
      ) {
        throw new FormatError(
          describe(op, `paramGroups[${g}].params`, `[${expected.join(", ")}]`, saved.params),
        );
      }
      const options = { ...group } as unknown as Record<string, unknown>;
      for (const key of Object.keys(group)) {
        if (key === "params") continue;
        if (!(key in saved))
          throw new FormatError(describe(op, `paramGroups[${g}]`, `option ${key}`, "no such key"));
        const value = saved[key];
        const current = options[key];
        if (typeof value !== typeof current || Array.isArray(value) !== Array.isArray(current)) {
          throw new FormatError(
            describe(op, `paramGroups[${g}].${key}`, `a value like ${JSON.stringify(current)}`, value),
          );
        }
        options[key] = Array.isArray(value) ? [...value] : value;
      }
      this.validate(options as unknown as O, `${op}: paramGroups[${g}]`);
      newOptions.push(options as unknown as O);
    });
    if (!Array.isArray(dict.state) || dict.state.length !== params.length) {
      throw new FormatError(
        describe(op, "state", `${params.length} entries (one per parameter)`, dict.state?.length),
      );
    }
    dict.state.forEach((s, i) => {
      if (s === null) return;
      if (!Number.isSafeInteger(s.step) || s.step < 0)
        throw new FormatError(describe(op, `state[${i}].step`, "a non-negative integer", s.step));
      for (const [name, buf] of Object.entries(s.buffers)) {
        if (!(buf instanceof Float32Array) || buf.length !== params[i].data.length) {
          throw new FormatError(
            describe(
              op,
              `state[${i}].${name}`,
              `${params[i].data.length} float32 values (parameter ${i}'s size)`,
              buf instanceof Float32Array ? buf.length : typeof buf,
            ),
          );
        }
      }
    });
    this.paramGroups.forEach((group, g) => {
      for (const [key, value] of Object.entries(newOptions[g])) {
        if (key !== "params") (group as unknown as Record<string, unknown>)[key] = value;
      }
    });
    this.state.clear();
    dict.state.forEach((s, i) => {
      if (s === null) return;
      const buffers: Record<string, Float32Array> = {};
      for (const [name, buf] of Object.entries(s.buffers)) buffers[name] = buf.slice();
      this.state.set(params[i], { step: s.step, buffers });
    });
  }
}

function isGroupList<O>(
  params: readonly Tensor[] | readonly ParamGroupInput<O>[],
): params is readonly ParamGroupInput<O>[] {
  const first = params[0] as unknown as { params?: unknown };
  return first !== undefined && Array.isArray(first.params);
}

/** Throws unless `value` is a finite number >= `min` (and < `below` when given). */
export function checkRange(value: unknown, where: string, name: string, min: number, below?: number): void {
  const ok =
    typeof value === "number" &&
    Number.isFinite(value) &&
    value >= min &&
    (below === undefined || value < below);
  if (!ok) {
    const range = below === undefined ? `a finite number >= ${min}` : `a number in [${min}, ${below})`;
    throw new ArgumentError(describe(where, name, range, value));
  }
}
