import { ArgumentError } from "../tensor/errors.js";
import { asymmetric } from "./rules/asymmetric.js";
import { bottleneck } from "./rules/bottleneck.js";
import { deformable } from "./rules/deformable.js";
import { dense } from "./rules/dense.js";
import { dilate } from "./rules/dilate.js";
import { group } from "./rules/group.js";
import { multiSize } from "./rules/multi-size.js";
import { residual } from "./rules/residual.js";
import { se } from "./rules/se.js";
import { separable } from "./rules/separable.js";
import { shuffle } from "./rules/shuffle.js";
import { stackSmall } from "./rules/stack-small.js";
import type { Rule } from "./types.js";

/**
 * The rule registry, in the article's order (section 10: kernel, then channels, then connections). Each rule is
 * selected by name; `RULES` gives the one-line descriptions, carry-over kinds and option schemas that
 * `convkit rules` prints.
 */
export const RULES: readonly Rule[] = [
  stackSmall,
  asymmetric,
  multiSize,
  deformable,
  dilate,
  bottleneck,
  separable,
  group,
  shuffle,
  se,
  residual,
  dense,
];

const BY_NAME = new Map(RULES.map((r) => [r.name, r]));

/** The rule named `name`; ArgumentError listing the known rules otherwise. */
export function getRule(name: string): Rule {
  const rule = BY_NAME.get(name);
  if (rule === undefined) {
    throw new ArgumentError(`unknown rule "${name}" (rules: ${RULES.map((r) => r.name).join(", ")})`);
  }
  return rule;
}

/** Names of every rule, in registry order. */
export function ruleNames(): string[] {
  return RULES.map((r) => r.name);
}
