import { ArgumentError } from "../tensor/errors.js";

/**
 * Python spelling: identifiers, literals, class and variable names for the generated module.
 *
 * Module and parameter names come from the graph's parameter names and must stay exactly as they are (they are
 * the state_dict keys), so a name that is not a Python identifier ("0", "lambda") is registered with
 * `add_module` / `register_parameter` and read back with `self["0"]` (Block.__getitem__). A name that is an
 * attribute of torch.nn.Module itself ("training", "forward", "to"...) cannot name a submodule or parameter in
 * PyTorch at all: such graphs are refused with the parameter named.
 */

const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  "False",
  "None",
  "True",
  "and",
  "as",
  "assert",
  "async",
  "await",
  "break",
  "class",
  "continue",
  "def",
  "del",
  "elif",
  "else",
  "except",
  "finally",
  "for",
  "from",
  "global",
  "if",
  "import",
  "in",
  "is",
  "lambda",
  "nonlocal",
  "not",
  "or",
  "pass",
  "raise",
  "return",
  "try",
  "while",
  "with",
  "yield",
  // Soft keywords: legal names, but confusing ones.
  "match",
  "case",
  "type",
]);

/**
 * Attributes of torch.nn.Module (torch 1.13's `dir(nn.Module())` without dunders, plus the ones torch 2.x added),
 * which `add_module` / `register_parameter` refuse or which would shadow methods.
 */
export const MODULE_ATTRIBUTES: ReadonlySet<string> = new Set([
  "T_destination",
  "add_module",
  "apply",
  "bfloat16",
  "buffers",
  "call_super_init",
  "children",
  "compile",
  "cpu",
  "cuda",
  "double",
  "dump_patches",
  "eval",
  "extra_repr",
  "float",
  "forward",
  "get_buffer",
  "get_extra_state",
  "get_parameter",
  "get_submodule",
  "half",
  "ipu",
  "load_state_dict",
  "modules",
  "mtia",
  "named_buffers",
  "named_children",
  "named_modules",
  "named_parameters",
  "parameters",
  "register_backward_hook",
  "register_buffer",
  "register_forward_hook",
  "register_forward_pre_hook",
  "register_full_backward_hook",
  "register_full_backward_pre_hook",
  "register_load_state_dict_post_hook",
  "register_load_state_dict_pre_hook",
  "register_module",
  "register_parameter",
  "register_state_dict_post_hook",
  "register_state_dict_pre_hook",
  "requires_grad_",
  "set_extra_state",
  "set_submodule",
  "share_memory",
  "state_dict",
  "to",
  "to_empty",
  "train",
  "training",
  "type",
  "xpu",
  "zero_grad",
  // Internals (torch 1.13 and 2.x): registering these would break the module.
  "_apply",
  "_backward_hooks",
  "_backward_pre_hooks",
  "_buffers",
  "_call_impl",
  "_compiled_call_impl",
  "_forward_hooks",
  "_forward_hooks_always_called",
  "_forward_hooks_with_kwargs",
  "_forward_pre_hooks",
  "_forward_pre_hooks_with_kwargs",
  "_get_backward_hooks",
  "_get_backward_pre_hooks",
  "_get_name",
  "_is_full_backward_hook",
  "_load_from_state_dict",
  "_load_state_dict_post_hooks",
  "_load_state_dict_pre_hooks",
  "_maybe_warn_non_full_backward_hook",
  "_modules",
  "_named_members",
  "_non_persistent_buffers_set",
  "_parameters",
  "_register_load_state_dict_pre_hook",
  "_register_state_dict_hook",
  "_replicate_for_data_parallel",
  "_save_to_state_dict",
  "_slow_forward",
  "_state_dict_hooks",
  "_state_dict_pre_hooks",
  "_version",
  "_wrapped_call_impl",
]);

/** An ASCII Python identifier that is not a keyword. */
export function isPlainIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PYTHON_KEYWORDS.has(name);
}

/** Refuses a module/parameter name that PyTorch cannot register (see the file comment). */
export function checkAttributeName(name: string, what: string, graphName: string): void {
  if (MODULE_ATTRIBUTES.has(name) || name.startsWith("__")) {
    throw new ArgumentError(
      `exportPytorch: graph "${graphName}": ${what}: the name "${name}" cannot name a submodule or parameter in PyTorch (it is ${name.startsWith("__") ? "a reserved dunder name" : "an attribute of torch.nn.Module"}); rename it in the graph`,
    );
  }
}

/** `self.name` or `self["name"]` / `self[0]`. */
export function attributeAccess(base: string, name: string): string {
  if (isPlainIdentifier(name)) return `${base}.${name}`;
  if (/^(0|[1-9][0-9]*)$/.test(name)) return `${base}[${name}]`;
  return `${base}[${pyStr(name)}]`;
}

/** A Python string literal (JSON's escapes are all valid in Python). */
export function pyStr(s: string): string {
  return JSON.stringify(s);
}

/** A Python number literal: integers as integers, floats in shortest round-trip form. */
export function pyNum(n: number): string {
  if (!Number.isFinite(n)) throw new ArgumentError(`exportPytorch: cannot write ${n} as a Python literal`);
  return String(n);
}

/** `(a, b)`; `(a,)` for one element. */
export function pyTuple(values: readonly number[]): string {
  return values.length === 1 ? `(${pyNum(values[0])},)` : `(${values.map(pyNum).join(", ")})`;
}

/** `a` when both entries agree, else `(a, b)` (the nn.Conv2d habit). */
export function pyPair(values: readonly [number, number] | readonly number[]): string {
  return values[0] === values[1] ? pyNum(values[0]) : pyTuple(values);
}

/** `[a, b, c]`. */
export function pyList(values: readonly number[]): string {
  return `[${values.map(pyNum).join(", ")}]`;
}

/** A Python value for JSON data (dicts, lists, numbers, strings, booleans, None). */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return pyNum(value);
  if (typeof value === "string") return pyStr(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${pyStr(k)}: ${pyJson(v)}`).join(", ")}}`;
}

/** "bottleneck" -> "Bottleneck", "se_module" -> "SeModule", "convBnAct" -> "ConvBnAct"; "" for nothing usable. */
export function pascalCase(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  let out = words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  if (/^[0-9]/.test(out)) out = `M${out}`;
  return out;
}

/**
 * A variable name for a value: the node's name below the module (dots and other characters become "_"),
 * prefixed with the op's short name when it starts with a digit ("0" of a conv -> "conv_0").
 */
export function variableBase(local: string, opShort: string): string {
  let name = local.replace(/[^A-Za-z0-9_]/g, "_");
  if (name === "" || /^[0-9]/.test(name)) name = `${opShort}_${name}`;
  if (!isPlainIdentifier(name)) name = `${name}_`;
  return name;
}
