import { loadRunnableModel } from "../cli/load-model.js";
import type { ZooRegistry } from "../cli/zoo.js";
import type { Graph, Weights } from "../graph/types.js";

/**
 * The `<model>` argument of `convkit train` (and `draw`), with weights: the CLI's one model loader
 * (src/cli/load-model.ts, `loadRunnableModel`) under the name these commands already use. A zoo name gives
 * the factory's weights at `seed`; a folder or graph.json its weights.safetensors; a bare graph .json fresh
 * PyTorch-default weights from `seed`; an .onnx file the imported weights; `weightsPath` overrides them all.
 */

export interface TrainableModel {
  graph: Graph;
  weights: Weights;
  /** Where the weights came from, for the run's record. */
  weightsFrom: string;
}

export async function loadTrainableModel(
  spec: string,
  options: { zoo: ZooRegistry | null; weightsPath?: string; seed: number },
): Promise<TrainableModel> {
  const { graph, weights, weightsFrom } = await loadRunnableModel(spec, options);
  return { graph, weights, weightsFrom };
}
