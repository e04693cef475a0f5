/**
 * One error class per kind of mistake, so callers can catch what they can handle.
 * Every message names the thing (op, layer, file, argument), what was expected and what came.
 */
export class ConvkitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor or parameter has the wrong shape, or shapes do not agree. */
export class ShapeError extends ConvkitError {}

/** An argument has an invalid value (negative stride, groups not dividing channels, unknown option). */
export class ArgumentError extends ConvkitError {}

/** A file or serialised structure is malformed (ONNX, safetensors, IDX, graph JSON). */
export class FormatError extends ConvkitError {}

/** Data content is wrong: NaN where numbers are needed, labels out of range, wrong data length. */
export class DataError extends ConvkitError {}

/** Formats `op: argument: expected X, got Y` the same way everywhere. */
export function describe(op: string, argument: string, expected: string, got: unknown): string {
  return `${op}: ${argument}: expected ${expected}, got ${show(got)}`;
}

/** A pre-formatted description of what came (e.g. "shape [3, 5, 5]"), shown without quotes. */
/**
 * The message of anything thrown: an Error's message (library errors name op, argument, expected and
 * got), or the thrown value as text.
 */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Verbatim {
  constructor(readonly text: string) {}
}

export function verbatim(text: string): Verbatim {
  return new Verbatim(text);
}

export function show(value: unknown): string {
  if (value instanceof Verbatim) return value.text;
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "object") {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}
