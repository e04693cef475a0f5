import { ArgumentError } from "../tensor/errors.js";
import type { OptionSchema, OptionValue, Rule, RuleOptions } from "./types.js";

/**
 * Rule options: validated against the rule's schema, with defaults filled in. Values may come typed (from
 * code) or as strings (from a command line: "8", "true", "1,3,5", "null").
 */

function bad(rule: string, key: string, expected: string, got: unknown): never {
  throw new ArgumentError(`rule "${rule}": option ${key}: expected ${expected}, got ${JSON.stringify(got)}`);
}

function coerce(rule: string, key: string, spec: OptionSchema[string], raw: unknown): OptionValue {
  if (raw === null || raw === "null" || raw === "auto") {
    if (spec.nullable) return null;
    bad(rule, key, `a value (${spec.type})`, raw);
  }
  switch (spec.type) {
    case "boolean":
      if (typeof raw === "boolean") return raw;
      if (raw === "true") return true;
      if (raw === "false") return false;
      return bad(rule, key, "true or false", raw);
    case "integer":
    case "number": {
      const v = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
      const what = spec.type === "integer" ? "an integer" : "a number";
      if (typeof v !== "number" || !Number.isFinite(v)) return bad(rule, key, what, raw);
      if (spec.type === "integer" && !Number.isSafeInteger(v)) return bad(rule, key, what, raw);
      if (spec.min !== undefined && v < spec.min) return bad(rule, key, `${what} >= ${spec.min}`, raw);
      return v;
    }
    case "enum":
      if (typeof raw !== "string" || !spec.values!.includes(raw)) {
        return bad(rule, key, `one of ${spec.values!.join(", ")}`, raw);
      }
      return raw;
    case "integer[]": {
      const list =
        typeof raw === "string"
          ? raw
              .split(/[\s,;/]+/)
              .filter((s) => s !== "")
              .map(Number)
          : raw;
      if (!Array.isArray(list) || list.length === 0 || !list.every((v) => Number.isSafeInteger(v))) {
        return bad(rule, key, "a non-empty list of integers (e.g. 1,3,5)", raw);
      }
      if (spec.min !== undefined && list.some((v: number) => v < spec.min!)) {
        return bad(rule, key, `integers >= ${spec.min}`, raw);
      }
      return [...list] as number[];
    }
  }
}

/** The rule's options: given values checked and coerced, every other option at its default. */
export function resolveOptions(rule: Rule, given: Readonly<Record<string, unknown>> = {}): RuleOptions {
  const out: Record<string, OptionValue> = {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(rule.options, key)) {
      const known = Object.keys(rule.options);
      throw new ArgumentError(
        `rule "${rule.name}": unknown option "${key}" (${known.length > 0 ? `options: ${known.join(", ")}` : "it takes no options"})`,
      );
    }
  }
  for (const [key, spec] of Object.entries(rule.options)) {
    out[key] = given[key] === undefined ? spec.default : coerce(rule.name, key, spec, given[key]);
  }
  return out;
}

/**
 * Parses a rule spec as written on a command line: `name` or `name:key=value,key=value` (a list value uses
 * `/` or spaces between its items, e.g. `multi-size:sizes=1/3/5`). Returns the name and the raw option strings.
 */
export function parseRuleSpec(spec: string): { rule: string; options: Record<string, string> } {
  const text = spec.trim();
  const colon = text.indexOf(":");
  const rule = (colon < 0 ? text : text.slice(0, colon)).trim();
  // Keys are the user's: a null-prototype record keeps "__proto__" or "constructor" ordinary keys.
  const options: Record<string, string> = Object.create(null);
  if (rule === "") throw new ArgumentError(`rule spec "${spec}": expected a rule name before ":"`);
  if (colon >= 0) {
    const body = text.slice(colon + 1).trim();
    if (body === "") throw new ArgumentError(`rule spec "${spec}": expected key=value after ":"`);
    for (const part of body.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw new ArgumentError(`rule spec "${spec}": expected key=value, got "${part.trim()}"`);
      const key = part.slice(0, eq).trim();
      if (Object.hasOwn(options, key))
        throw new ArgumentError(`rule spec "${spec}": option "${key}" given twice`);
      options[key] = part.slice(eq + 1).trim();
    }
  }
  return { rule, options: { ...options } };
}
