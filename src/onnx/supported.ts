import { CONVERTERS } from "./convert.js";
import { FOLDABLE } from "./fold.js";

/**
 * Every ONNX op type `importOnnx` accepts, sorted. Ops only in fold.ts's set (Gather, Range, Expand...) are
 * accepted when their inputs are known at import time (shape arithmetic), not on computed tensors.
 */
export const SUPPORTED_ONNX_OPS: readonly string[] = [
  ...new Set([...Object.keys(CONVERTERS), ...FOLDABLE, "Shape", "Size"]),
].sort();
