import type { Graph, Weights } from "../graph/types.js";
import type { ZooOptions } from "../zoo/common.js";

/**
 * Access to the model zoo (`src/zoo/index.ts`, registry `zoo`: name -> factory returning `{graph, weights}`),
 * imported on first use so that `--help` and file-based commands do not build anything from it.
 */

/** A zoo factory as the CLI uses it (the analyzer only reads the graph). */
export type ZooFactory = (options?: ZooOptions) => { graph: Graph; weights?: Weights };

/** The zoo as the CLI sees it: model name -> factory. */
export type ZooRegistry = Readonly<Record<string, ZooFactory>>;

/** The zoo registry. */
export async function loadZoo(): Promise<ZooRegistry> {
  const mod = await import("../zoo/index.js");
  return mod.zoo;
}
