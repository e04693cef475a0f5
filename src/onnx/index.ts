/** ONNX import and export (opsets 11-21 in, 13-21 out), verified against ONNX Runtime. See docs/onnx.md. */
export {
  DEFAULT_EXPORT_OPSET,
  DEFORM_EXPORT_OPSET,
  exportOnnx,
  MAX_EXPORT_OPSET,
  MIN_EXPORT_OPSET,
  type OnnxExportOptions,
} from "./export.js";
export { isOnnxPath, loadOnnxFile, MAX_ONNX_FILE_BYTES, saveOnnxFile } from "./file.js";
export {
  importOnnx,
  MAX_IMPORT_OPSET,
  MIN_IMPORT_OPSET,
  type OnnxImport,
  type OnnxImportInfo,
  type OnnxImportOptions,
} from "./import.js";
export { SUPPORTED_ONNX_OPS } from "./supported.js";
