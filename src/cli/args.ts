import { UsageError } from "./errors.js";

/** Parsers of option values; each throws a UsageError naming the option and what it expected. */

/** "3x224x224" (or "1x3x224x224", "3,224,224") -> [3, 224, 224]. */
export function parseShape(text: string, option = "--input"): number[] {
  const parts = text.trim().split(/[x,]/i);
  if (parts.length === 0 || parts.some((p) => !/^\s*\d+\s*$/.test(p) || Number(p) < 1)) {
    throw new UsageError(
      `${option}: expected positive integers separated by "x" (e.g. 3x224x224), got ${JSON.stringify(text)}`,
    );
  }
  return parts.map((p) => Number(p));
}

/** A positive integer option such as --batch 8 or --depth 2. */
export function parsePositiveInt(text: string, option: string): number {
  if (!/^\s*\d+\s*$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${option}: expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A non-negative integer option such as --seed 0. */
export function parseNonNegativeInt(text: string, option: string): number {
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${option}: expected a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** A positive number option such as --lr 0.01 or --budget 2.5. */
export function parsePositiveNumber(text: string, option: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v <= 0)
    throw new UsageError(`${option}: expected a positive number, got ${JSON.stringify(text)}`);
  return v;
}

/** A number >= 0 option such as --weight-decay 0. */
export function parseNonNegativeNumber(text: string, option: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0)
    throw new UsageError(`${option}: expected a number >= 0, got ${JSON.stringify(text)}`);
  return v;
}

/** One of a fixed set of words, such as --optimizer adamw. */
export function parseChoice<T extends string>(text: string, allowed: readonly T[], option: string): T {
  if (!(allowed as readonly string[]).includes(text))
    throw new UsageError(`${option}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(text)}`);
  return text as T;
}

/** "H=224,W=224" -> {H: 224, W: 224}: sizes of symbolic ONNX input dimensions by name. */
export function parseDims(text: string, option = "--dims"): Record<string, number> {
  // Names are the user's: a null-prototype record keeps "__proto__" or "constructor" ordinary keys.
  const dims: Record<string, number> = Object.create(null);
  for (const part of text.split(",")) {
    const m = /^\s*([^=\s][^=]*?)\s*=\s*(\d+)\s*$/.exec(part);
    if (m === null || Number(m[2]) < 1 || !Number.isSafeInteger(Number(m[2]))) {
      throw new UsageError(
        `${option}: expected NAME=SIZE pairs separated by commas (e.g. H=224,W=224), got ${JSON.stringify(text)}`,
      );
    }
    if (Object.hasOwn(dims, m[1])) throw new UsageError(`${option}: ${JSON.stringify(m[1])} is given twice`);
    dims[m[1]] = Number(m[2]);
  }
  return { ...dims };
}
