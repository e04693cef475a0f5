import type { ReceptiveField } from "../../src/analyze/types.js";

/** A receptive field in words: "7×7 px, jump 2", "global", with the analyzer's flags spelled out. */
export function fieldText(rf: ReceptiveField | null): string {
  if (rf === null) return "–";
  if (rf.global) return "global (the whole input)";
  const hw = (v: readonly [number, number]) => (v[0] === v[1] ? `${v[0]}` : `${v[0]}×${v[1]}`);
  let text = `${rf.size[0]}×${rf.size[1]} px, jump ${hw(rf.jump)}`;
  if (rf.deformable) text += " (nominal grid of a deformable layer)";
  if (rf.globalContext) text += " + global context (SE gate)";
  return text;
}
