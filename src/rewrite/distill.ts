import { noGrad } from "../autograd/gradmode.js";
import type { Tensor } from "../autograd/tensor.js";
import { GraphModel } from "../graph/executor.js";
import { mul, sub } from "../ops/elementwise.js";
import { mean } from "../ops/reduce.js";
import { Adam } from "../train/adam.js";
import { extractRegion } from "./measure.js";
import type { GraphEdit } from "./surgery.js";
import type { DistillSettings } from "./types.js";

/**
 * Layer-wise distillation: fit a new block to what the old block computed. The block (the region of the edited
 * graph between `inputs` and `output`) is run alone on the old network's activations at its inputs, and its
 * parameters are trained with Adam (full batch, eval mode, so batch norms act with their running statistics)
 * to minimise the mean squared difference to the old block's output. The fitted values are written back into
 * the edit.
 *
 * Returns the fit's relative L2 error on the fitting samples, sqrt(final loss / mean square of the target) (0 = perfect
 * fit, 1 = no better than outputting zeros): comparable with the held-out error the report measures.
 */
export function distillRegion(
  edit: GraphEdit,
  inputs: readonly { name: string; value: Tensor }[],
  output: string,
  target: Tensor,
  settings: DistillSettings,
): number {
  const weights = edit.weights;
  if (weights === null) return Number.NaN;
  const region = extractRegion(
    edit.snapshot(),
    weights,
    inputs.map((i) => ({ name: i.name, shape: i.value.shape })),
    [output],
  );
  const model = new GraphModel(region.graph, region.weights).eval();
  const params = [...model.parameters().values()];
  const feed = Object.fromEntries(inputs.map((i) => [i.name, i.value]));
  let scale = 0;
  for (const v of target.data) scale += v * v;
  scale = scale / Math.max(1, target.data.length) || 1;
  const lossOf = (): Tensor => {
    const diff = sub(model.forward(feed), target);
    return mean(mul(diff, diff));
  };
  if (params.length > 0 && settings.steps > 0) {
    const optimizer = new Adam(params, { lr: settings.lr });
    // Best-so-far weights: Adam may end on a worse step than one it passed.
    let best = Number.POSITIVE_INFINITY;
    let bestWeights = model.weights();
    for (let step = 0; step < settings.steps; step++) {
      optimizer.zeroGrad();
      const loss = lossOf();
      const value = loss.data[0];
      // A diverging fit stops; the best weights seen so far are kept.
      if (!Number.isFinite(value)) break;
      if (value < best) {
        best = value;
        bestWeights = model.weights();
      }
      loss.backward();
      optimizer.step();
    }
    model.loadWeights(bestWeights);
  }
  const final = noGrad(() => lossOf().data[0]);
  for (const [name, data] of model.weights()) edit.setParam(name, data);
  return Math.sqrt(final / scale);
}
