import type { OpName } from "../graph/types.js";

/**
 * The analyzer's result types. An `Analysis` is plain JSON-ready data: `JSON.stringify(analysis)` (or
 * `analysisToJson`, which fixes the key order) *is* the documented format of docs/analyze.md, read by other
 * tools. Changing a field's meaning or removing a field needs a new `ANALYSIS_VERSION`; adding fields does not.
 */

/** The `format` tag of an analysis. */
export const ANALYSIS_FORMAT = "convkit.analysis";
/** The version of the analysis format this code writes. */
export const ANALYSIS_VERSION = 1;

/**
 * Which ops' MACs are counted: `"torchvision"` (default) counts conv2d, deformConv2d and linear only, bias
 * excluded, as torchvision's published figures; `"all"` adds every other op by the rules of `MAC_RULES`.
 */
export type MacConvention = "torchvision" | "all";

export interface AnalyzeOptions {
  /**
   * Batch size used where the input shape has no batch dimension (default 1). If the input shape includes
   * the batch and `batch` is also given, they must agree.
   */
  batch?: number;
  /** Count every op (batch norm, activations, pools, element-wise, bias adds...), not only conv and linear. */
  countAll?: boolean;
}

/**
 * The input shape(s) to analyse at: one shape for a single-input graph, or shapes by input name. A shape may
 * omit the batch dimension (`[3, 224, 224]`, batch from `options.batch`) or include it (`[8, 3, 224, 224]`).
 */
export type InputShapes = readonly number[] | Readonly<Record<string, readonly number[]>>;

/**
 * Receptive field of a value, per axis `[h, w]`, in input pixels: `size` (extent of input pixels an output
 * pixel can see), `jump` (distance in input pixels between neighbouring output pixels: the cumulative
 * stride) and `start` (input coordinate of the centre of output pixel 0's field; input pixel i is at i).
 */
export interface ReceptiveField {
  size: [number, number];
  jump: [number, number];
  start: [number, number];
  /** The field covers the whole input on both axes (after global pooling, flatten, linear...). */
  global: boolean;
  /** A deformable convolution is on the path: the numbers are its nominal (undeformed) grid. */
  deformable: boolean;
  /**
   * The value also depends on a global summary of the input through an operand broadcast over the spatial
   * axes (a squeeze-and-excitation gate); `size` counts the local path only.
   */
  globalContext: boolean;
}

/** The model's receptive field: the field at the last spatial layer before global pooling or flattening. */
export interface ModelReceptiveField extends ReceptiveField {
  /** Name of the node (or graph input) whose output the field was measured at. */
  layer: string;
}

/** Everything the analyzer says about one node. */
export interface LayerAnalysis {
  name: string;
  op: OpName;
  /** Dotted builder scope ("" at top level). */
  scope: string;
  /** Shape of the first output (batch included). */
  outputShape: number[];
  /** Shapes of every output (one, except for split). */
  outputShapes: number[][];
  /** Trainable parameter elements the node uses (counting shared ones too). */
  params: number;
  /** Buffer elements the node uses (running statistics, constants). */
  buffers: number;
  /** Elements among `params` already counted at an earlier node (a shared, tied parameter). */
  sharedParams: number;
  /** Elements among `buffers` already counted at an earlier node. */
  sharedBuffers: number;
  /** Multiply-accumulates counted for this node under the chosen convention (0 where not counted). */
  macs: number;
  /** 2 x macs. */
  flops: number;
  /** Whether this op's cost is counted under the chosen convention. */
  counted: boolean;
  /** Bytes of this node's outputs at float32. */
  activationBytes: number;
  /** Bytes of all live values while this node runs (its inputs, its outputs, and every value still needed). */
  liveBytes: number;
  /** Field of the first output; null where it depends on no input (constants). */
  receptiveField: ReceptiveField | null;
}

export interface AnalysisTotals {
  /** Trainable parameter elements, each shared parameter once (torchvision's `sum(p.numel())`). */
  params: number;
  /** Buffer elements (running mean/var, num_batches_tracked, constants), each once. */
  buffers: number;
  /** (params + buffers) x 4 bytes. */
  paramBytes: number;
  /** Multiply-accumulates of the whole model at the analysed input (batch included). */
  macs: number;
  /** 2 x macs. */
  flops: number;
  /** Sum of the bytes of every node output at float32 (what a training step keeps for backward). */
  activationBytes: number;
  /** Largest live set along the node order, values freed after their last reader (inference). */
  peakActivationBytes: number;
  /** Bytes of the graph inputs. */
  inputBytes: number;
}

export interface Analysis {
  format: typeof ANALYSIS_FORMAT;
  version: typeof ANALYSIS_VERSION;
  /** The graph's name. */
  model: string;
  /** Batch size analysed at. */
  batch: number;
  /** Concrete input shapes analysed at (batch included). */
  inputs: { name: string; shape: number[] }[];
  counting: {
    convention: MacConvention;
    /** Ops whose cost is included in `macs` under this convention. */
    countedOps: OpName[];
    /** Activation and parameter bytes are at float32. */
    bytesPerElement: number;
  };
  totals: AnalysisTotals;
  /** Field at the last spatial layer before global pooling or flattening; null without a spatial input. */
  receptiveField: ModelReceptiveField | null;
  /** One entry per node, in the graph's (topological) order. */
  layers: LayerAnalysis[];
  /** Kinds of the graph's described scopes (`graph.scopes`), e.g. `{"layer1.0": "basicBlock"}`. */
  scopes: Record<string, string>;
}
