import { collapseByScope } from "./scopes.js";
import type { Analysis, ReceptiveField } from "./types.js";

/**
 * The analysis as a readable table (what `convkit analyze` prints): one row per layer, or per scope group
 * with `depth`, aligned columns (layer, op, output shape, params, MACs, receptive field), then the totals.
 */

export interface FormatOptions {
  /** Collapse rows by scope prefix of this many segments (see `collapseByScope`). */
  depth?: number;
}

/** `1234567` -> `"1,234,567"` (locale-independent). */
export function thousands(n: number): string {
  const [int, frac] = String(Math.abs(n)).split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${n < 0 ? "-" : ""}${grouped}${frac !== undefined ? `.${frac}` : ""}`;
}

/** A count with a unit where it helps: exact below a million, else 4 significant digits with M or G. */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1e6) return thousands(n);
  if (abs < 1e9) return `${(n / 1e6).toPrecision(4)} M`;
  return `${(n / 1e9).toPrecision(4)} G`;
}

/** Bytes in binary units (B, KiB, MiB, GiB). */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** `[h, w]` as "7" when square, else "1x7". */
function hw(v: readonly [number, number]): string {
  const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  return v[0] === v[1] ? f(v[0]) : `${f(v[0])}x${f(v[1])}`;
}

/** Receptive field in a cell: "size /jump" with flags, "global", or "-" when there is none. */
export function formatField(rf: ReceptiveField | null): string {
  if (rf === null) return "-";
  if (rf.global) return "global";
  let text = `${hw(rf.size)} /${hw(rf.jump)}`;
  if (rf.deformable) text += " deform";
  if (rf.globalContext) text += " +ctx";
  return text;
}

function shapeText(shapes: readonly (readonly number[])[]): string {
  return shapes.map((s) => `[${s.join(", ")}]`).join(" ");
}

/** Aligned table: left-aligned text columns, right-aligned number columns. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (right[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...rows.map(line), rule];
}

/** The table and totals as text (ends with a newline). */
export function formatAnalysis(analysis: Analysis, options: FormatOptions = {}): string {
  const header = ["Layer", "Op", "Output shape", "Params", "MACs", "RF"];
  const right = [false, false, false, true, true, false];
  let rows: string[][];
  if (options.depth !== undefined) {
    header[0] = `Scope (depth ${options.depth})`;
    header[1] = "Kind";
    rows = collapseByScope(analysis, options.depth).map((g) => [
      g.name,
      g.nodes > 1 ? (g.kind ? `${g.kind} (${g.nodes} nodes)` : `${g.nodes} nodes`) : g.kind,
      shapeText([g.outputShape]),
      g.params === 0 ? "" : thousands(g.params),
      g.macs === 0 ? "" : compact(g.macs),
      formatField(g.receptiveField),
    ]);
  } else {
    rows = analysis.layers.map((l) => [
      l.name,
      l.op,
      shapeText(l.outputShapes),
      l.params === 0 ? "" : thousands(l.params) + (l.sharedParams > 0 ? " (shared)" : ""),
      l.counted ? compact(l.macs) : "",
      formatField(l.receptiveField),
    ]);
  }
  const lines = table(header, rows, right);

  const t = analysis.totals;
  const inputs =
    analysis.inputs.length === 1
      ? `input [${analysis.inputs[0].shape.join(", ")}]`
      : `inputs ${analysis.inputs.map((i) => `${i.name} [${i.shape.join(", ")}]`).join(", ")}`;
  const counted =
    analysis.counting.convention === "torchvision"
      ? `counted: ${analysis.counting.countedOps.join(", ")}, bias excluded (torchvision's convention)`
      : "counted: every op (see docs/analyze.md for the rules)";
  const unit = (n: number) => (n >= 1e6 ? ` (${compact(n)})` : "");
  lines.push(`Model ${analysis.model}, batch ${analysis.batch}, ${inputs}`);
  lines.push(
    `Params:      ${thousands(t.params)} trainable + ${thousands(t.buffers)} buffer elements (${formatBytes(t.paramBytes)} at float32)`,
  );
  lines.push(`MACs:        ${thousands(t.macs)}${unit(t.macs)}; ${counted}`);
  lines.push(`FLOPs:       ${thousands(t.flops)}${unit(t.flops)} = 2 x MACs`);
  lines.push(
    `Activations: ${formatBytes(t.activationBytes)} in all outputs, peak ${formatBytes(t.peakActivationBytes)} live (float32, each value freed after its last reader)`,
  );
  const rf = analysis.receptiveField;
  if (rf !== null) {
    const flags = [
      rf.deformable ? "nominal grid of deformable layers" : "",
      rf.globalContext ? "plus a global context" : "",
    ]
      .filter((s) => s !== "")
      .join(", ");
    lines.push(
      `Receptive field: ${rf.size[0]} x ${rf.size[1]}, jump ${rf.jump[0]} x ${rf.jump[1]}, centre of output pixel 0 at (${rf.start[0]}, ${rf.start[1]}), at ${rf.layer}${flags ? ` (${flags})` : ""}`,
    );
  } else {
    lines.push("Receptive field: none (no NCHW input)");
  }
  lines.push(
    'RF column: size /jump in input pixels; "global" = whole input; "deform" = nominal grid; "+ctx" = also a global (SE) context',
  );
  return `${lines.join("\n")}\n`;
}
