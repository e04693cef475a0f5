import { DataError, ShapeError } from "../tensor/errors.js";
import { formatShape } from "../tensor/shape.js";
import type { BackwardOptions, GradFn, Tensor } from "./tensor.js";

/**
 * Reverse mode in one topological sort (micrograd's shape, made iterative so that deep
 * networks do not overflow the call stack). Gradients of leaves accumulate into `.grad`
 * like PyTorch's; the graph is released afterwards unless `retainGraph` is set.
 */
export function runBackward(
  root: Tensor,
  gradOutput: Tensor | Float32Array | readonly number[] | undefined,
  options: BackwardOptions,
): void {
  if (!root.requiresGrad) {
    throw new DataError("backward: the tensor does not require grad and has no grad_fn");
  }
  let seed: Float32Array;
  if (gradOutput === undefined) {
    if (root.numel !== 1) {
      throw new ShapeError(
        `backward: a gradient can be implied only for a one-element output; got shape ${formatShape(root.shape)}, pass gradOutput`,
      );
    }
    seed = Float32Array.of(1);
  } else {
    const g = isTensor(gradOutput) ? gradOutput.data : Float32Array.from(gradOutput);
    if (g.length !== root.numel) {
      throw new ShapeError(
        `backward: gradOutput has ${g.length} elements, expected ${root.numel} (shape ${formatShape(root.shape)})`,
      );
    }
    seed = Float32Array.from(g);
  }

  const order = topologicalOrder(root);
  // Ops may return one buffer for several inputs (add hands gradOutput to both sides), so a
  // pending gradient is copied before the first time something is summed into it.
  const grads = new Map<Tensor, Pending>([[root, { g: seed, owned: true }]]);
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const pending = grads.get(t);
    if (pending === undefined) continue;
    grads.delete(t);
    const g = pending.g;
    const fn = t.gradFn;
    // A leaf's own summed buffer is handed over as its grad; anything else is copied (see accumulate).
    if (fn === null) {
      accumulate(t, g, pending.owned);
      continue;
    }
    if (t.retainsGrad) accumulate(t, g, false);
    if (fn.backward === null) {
      throw new DataError(
        `backward: the graph through '${fn.name}' was already freed; pass {retainGraph: true} to the first backward to run it twice`,
      );
    }
    const inputs = fn.inputs;
    const needs = new Array<boolean>(inputs.length);
    for (let k = 0; k < inputs.length; k++) needs[k] = inputs[k].requiresGrad;
    const inputGrads = fn.backward(g, needs);
    for (let k = 0; k < inputs.length; k++) {
      const x = inputs[k];
      const gx = inputGrads[k];
      if (!needs[k] || gx === null || gx === undefined) continue;
      if (gx.length !== x.numel) {
        throw new ShapeError(
          `backward: '${fn.name}' returned a gradient of ${gx.length} elements for input ${k} of shape ${formatShape(x.shape)}`,
        );
      }
      const prev = grads.get(x);
      if (prev === undefined) {
        grads.set(x, { g: gx, owned: false });
        continue;
      }
      const pg = prev.g;
      if (prev.owned) {
        for (let j = 0; j < pg.length; j++) pg[j] += gx[j];
      } else {
        // The first sum goes into a fresh buffer (one pass instead of a copy and then an add).
        const acc = new Float32Array(pg.length);
        for (let j = 0; j < acc.length; j++) acc[j] = pg[j] + gx[j];
        prev.g = acc;
        prev.owned = true;
      }
    }
  }
  if (!options.retainGraph) for (const t of order) if (t.gradFn) release(t.gradFn);
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && "data" in x && "shape" in x && !(x instanceof Float32Array);
}

interface Pending {
  g: Float32Array;
  owned: boolean;
}

/** Adds g into t.grad. `owned`: g is the engine's own buffer, which t.grad may keep instead of a copy. */
function accumulate(t: Tensor, g: Float32Array, owned: boolean): void {
  if (t.grad === null) {
    // A private copy unless owned: an op may hand the same buffer to several inputs.
    t.grad = new (t.constructor as new (d: Float32Array, s: readonly number[]) => Tensor)(
      owned ? g : g.slice(),
      t.shape,
    );
  } else {
    const acc = t.grad.data;
    for (let i = 0; i < acc.length; i++) acc[i] += g[i];
  }
}

function release(fn: GradFn): void {
  fn.backward = null;
}

/** Tensors reachable from `root` through grad functions, parents before children. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1] = next + 1;
      const child = inputs[next];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}
