/** The model graph: types, builder, shape inference and validation, executor, save/load. */
export * from "./builder.js";
export * from "./executor.js";
export { checkAttrs, expectedParams, INPUT_ARITY, inferNode, nodeLabel, outputCount } from "./infer.js";
export { fans, type InitSpec, initialise } from "./init.js";
export * from "./serialize.js";
export * from "./types.js";
export * from "./validate.js";
