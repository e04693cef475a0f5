import { Tensor } from "../autograd/tensor.js";
import { ArgumentError, describe } from "../tensor/errors.js";

/**
 * Argument checks shared by the convolution ops, so plain-JavaScript callers get the clear errors
 * TypeScript would give at compile time.
 */
export function checkTensor(op: string, t: unknown, argument: string): void {
  if (!(t instanceof Tensor)) {
    throw new ArgumentError(describe(op, argument, "a Tensor", t === null ? null : typeof t));
  }
}

const PADDING_FORMS = "a number, [h, w], [top, left, bottom, right], 'same' or 'valid'";

/**
 * The options object of a conv-like op: an object with only the known keys (PyTorch and torchvision
 * reject unknown keyword arguments, and a misspelt option must not be silently ignored) and a padding in
 * one of the accepted forms (its values are checked by the geometry).
 */
export function checkConvOptions(op: string, options: unknown, names: readonly string[]): void {
  if (typeof options !== "object" || options === null) {
    throw new ArgumentError(describe(op, "options", `an object { ${names.join(", ")} }`, options));
  }
  for (const key of Object.keys(options)) {
    if (!names.includes(key)) {
      throw new ArgumentError(describe(op, "options", `only ${names.join(", ")}`, key));
    }
  }
  const p: unknown = (options as { padding?: unknown }).padding;
  const ok =
    p === undefined ||
    typeof p === "number" ||
    typeof p === "string" ||
    (Array.isArray(p) && (p.length === 2 || p.length === 4));
  if (!ok) throw new ArgumentError(describe(op, "padding", PADDING_FORMS, p));
}
