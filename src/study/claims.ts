import type { ClaimRecord, SiteRecord, VariantRecord, Verdict } from "./types.js";

/**
 * The article's claims, each checked against this run's measurements with a plain verdict.
 *
 * Cost claims (parameters, MACs, receptive field) are exact counts from the analyzer: supported or not.
 * Accuracy claims compare two test accuracies p1, p2 measured on n test images: each has a standard error
 * sqrt(p(1-p)/n) (about 1.3 points at p = 0.8, n = 1,000), the difference sqrt(se1² + se2²); a difference
 * beyond two of those is called a real effect, anything smaller "inconclusive". This counts the test-set
 * sampling noise only: one seed per variant, so seed-to-seed training noise (often as large) is not in it.
 */

export interface ClaimContext {
  variants: ReadonlyMap<string, VariantRecord>;
  /** Training time budget mode: variants saw different numbers of images. */
  budget: boolean;
  /**
   * Complete epochs both runs need before their accuracies are compared (default 3): earlier, with the per-epoch
   * learning rate not yet decayed, test accuracy swings by several points from one evaluation to the next, a
   * training noise the test-set standard error does not include.
   */
  minEpochs?: number;
}

export const MIN_EPOCHS_FOR_VERDICT = 3;

/** Complete epochs of a run (a partial last epoch does not count). */
function fullEpochs(v: VariantRecord): number {
  return v.training === null ? 0 : v.training.history.filter((h) => !h.partial).length;
}

/** Why two runs are too short to compare, or null. */
function tooShort(v: VariantRecord, ref: VariantRecord, ctx: ClaimContext): string | null {
  const min = ctx.minEpochs ?? MIN_EPOCHS_FOR_VERDICT;
  if (Math.min(fullEpochs(v), fullEpochs(ref)) >= min) return null;
  return `but ${v.label} and ${ref.label} trained only ${fullEpochs(v)} and ${fullEpochs(ref)} complete epoch(s): this early the accuracy has not settled (it moves by several points from one evaluation to the next, a noise the standard error leaves out), so the difference is no evidence either way; a verdict needs at least ${min} epochs (--epochs)`;
}

const pts = (x: number) => `${(100 * x).toFixed(1)}%`;
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)} points`;
const count = (n: number) => Math.round(n).toLocaleString("en-US");
const ratio = (a: number, b: number) => (b === 0 ? Number.NaN : a / b);
const times = (r: number) => `×${r >= 10 ? r.toFixed(1) : r.toFixed(2)}`;
const rfText = (v: VariantRecord) => {
  const f = v.cost?.receptiveField;
  return f ? (f.size[0] === f.size[1] ? `${f.size[0]}` : `${f.size[0]}×${f.size[1]}`) : "-";
};

/** Accuracy difference a − b with its standard error, and what it amounts to. */
export function compareAccuracy(
  a: VariantRecord,
  b: VariantRecord,
): { delta: number; sigma: number; effect: "better" | "worse" | "within noise" } | null {
  if (a.accuracy === null || b.accuracy === null || a.standardError === null || b.standardError === null)
    return null;
  const delta = a.accuracy - b.accuracy;
  const sigma = Math.hypot(a.standardError, b.standardError);
  const effect = delta > 2 * sigma ? "better" : delta < -2 * sigma ? "worse" : "within noise";
  return { delta, sigma, effect };
}

function sites(v: VariantRecord, rule: string): SiteRecord[] {
  return v.steps.filter((s) => s.rule === rule).flatMap((s) => s.sites);
}

function siteSum(
  list: readonly SiteRecord[],
  key: "paramsBefore" | "paramsAfter" | "macsBefore" | "macsAfter",
) {
  return list.reduce((s, x) => s + x[key], 0);
}

/** A sentence on the accuracy difference, with the budget caveat when it applies. */
function accuracySentence(v: VariantRecord, ref: VariantRecord, ctx: ClaimContext): string {
  const c = compareAccuracy(v, ref);
  if (c === null) return "Accuracy: not measured.";
  const what =
    c.effect === "within noise"
      ? `within the noise (two standard errors of the difference: ±${(200 * c.sigma).toFixed(1)} points)`
      : `${c.effect} beyond the noise (±${(200 * c.sigma).toFixed(1)} points at two standard errors)`;
  const short = tooShort(v, ref, ctx);
  let s = `Test accuracy ${pts(v.accuracy!)} against ${pts(ref.accuracy!)} for ${ref.label} (${signed(c.delta)}): ${what}${short ? `, ${short}` : ""}.`;
  if (ctx.budget && v.training && ref.training) {
    s += ` Under the same time budget it trained on ${count(v.training.images)} images, ${ref.label} on ${count(ref.training.images)}.`;
  }
  return s;
}

function accuracyVerdict(v: VariantRecord, ref: VariantRecord, ctx: ClaimContext): Verdict {
  const c = compareAccuracy(v, ref);
  if (c === null) return "not tested";
  if (tooShort(v, ref, ctx) !== null) return "inconclusive";
  return c.effect === "better" ? "supported" : c.effect === "worse" ? "not supported" : "inconclusive";
}

function fineTuneSentence(ctx: ClaimContext, id: string): string {
  const ft = ctx.variants.get(`${id}-ft`);
  if (ft?.accuracy == null) return "";
  const start = ft.accuracyAtStart === null ? "" : ` (${pts(ft.accuracyAtStart)} right after the rewrite)`;
  return ` Fine-tuned from the trained baseline instead: ${pts(ft.accuracy)}${start}.`;
}

interface Spec {
  id: string;
  section: string;
  claim: string;
  /** The variant that tests it (by id) and what it is compared with by default. */
  variant: string;
  evaluate(
    v: VariantRecord,
    ref: VariantRecord,
    ctx: ClaimContext,
  ): Omit<ClaimRecord, "id" | "section" | "claim" | "variants">;
}

const SPECS: Spec[] = [
  {
    id: "small-kernels",
    section: "§2",
    claim:
      "Stacked small (3×3) kernels see the same receptive field as one large kernel with fewer parameters and less computation.",
    variant: "stack-small",
    evaluate(v, ref, ctx) {
      const s = sites(v, "stack-small");
      const pb = siteSum(s, "paramsBefore");
      const pa = siteSum(s, "paramsAfter");
      const mb = siteSum(s, "macsBefore");
      const ma = siteSum(s, "macsAfter");
      const sameField = rfText(v) === rfText(ref);
      const fewer = pa < pb && ma < mb;
      const verdict: Verdict = sameField && fewer ? "supported" : "not supported";
      const why =
        !fewer && sameField
          ? " The 27·C² against 49·C² of the article assumes as many input as output channels; here the stacks keep each conv's output width between their 3×3 layers, so a conv that widens the channels (C_in → 2·C_in) gets more weights, not fewer."
          : "";
      return {
        measured: {
          paramsBefore: pb,
          paramsAfter: pa,
          macsBefore: mb,
          macsAfter: ma,
          receptiveField: rfText(v),
          baselineReceptiveField: rfText(ref),
        },
        finding: `The ${s.length} replaced convs: ${count(pb)} → ${count(pa)} parameters (${times(ratio(pa, pb))}), ${count(mb)} → ${count(ma)} MACs (${times(ratio(ma, mb))}); receptive field ${rfText(ref)} → ${rfText(v)}.${why} ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict,
      };
    },
  },
  {
    id: "dilated",
    section: "§3",
    claim:
      "Dilated (cavity) convolution replaces pooling's down-sampling: the same receptive field at full resolution, with no extra parameters.",
    variant: "dilate",
    evaluate(v, ref, ctx) {
      const pv = v.cost!.params;
      const pr = ref.cost!.params;
      const mapV = v.cost!.finalMap;
      const mapR = ref.cost!.finalMap;
      const larger = mapV !== null && mapR !== null && mapV[0] * mapV[1] > mapR[0] * mapR[1];
      const verdict: Verdict =
        pv === pr && larger && rfText(v) === rfText(ref) ? "supported" : "not supported";
      const map = (m: [number, number] | null) => (m === null ? "-" : `${m[0]}×${m[1]}`);
      return {
        measured: {
          params: pv,
          baselineParams: pr,
          finalMap: map(mapV),
          baselineFinalMap: map(mapR),
          macs: v.cost!.macs,
          baselineMacs: ref.cost!.macs,
        },
        finding: `Parameters ${count(pr)} → ${count(pv)}; last feature map ${map(mapR)} → ${map(mapV)}; receptive field ${rfText(ref)} → ${rfText(v)}. The price is computation: ${count(ref.cost!.macs)} → ${count(v.cost!.macs)} MACs (${times(ratio(v.cost!.macs, ref.cost!.macs))}). ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict,
      };
    },
  },
  {
    id: "asymmetric",
    section: "§4",
    claim: "Splitting a k×k convolution into 1×k and k×1 keeps the receptive field and reduces computation.",
    variant: "asymmetric",
    evaluate(v, ref, ctx) {
      const s = sites(v, "asymmetric");
      const mb = siteSum(s, "macsBefore");
      const ma = siteSum(s, "macsAfter");
      const same = rfText(v) === rfText(ref);
      return {
        measured: {
          macsBefore: mb,
          macsAfter: ma,
          receptiveField: rfText(v),
          baselineReceptiveField: rfText(ref),
        },
        finding: `The ${s.length} split convs: ${count(mb)} → ${count(ma)} MACs (${times(ratio(ma, mb))}; with as many middle as output channels, 2k/k² only when C_in = C_out); receptive field ${rfText(ref)} → ${rfText(v)}. Whole model: ${count(ref.cost!.macs)} → ${count(v.cost!.macs)} MACs. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: same && ma < mb ? "supported" : "not supported",
      };
    },
  },
  {
    id: "group",
    section: "§5",
    claim: "Group convolution with G groups reduces a layer's parameters to 1/G.",
    variant: "group",
    evaluate(v, ref, ctx) {
      const s = sites(v, "group");
      const g = Number(v.steps.find((x) => x.rule === "group")?.options.groups ?? 2);
      const rs = s.map((x) => ratio(x.paramsAfter, x.paramsBefore));
      const ok = rs.length > 0 && rs.every((r) => Math.abs(r - 1 / g) <= 0.03 / g);
      return {
        measured: { groups: g, ratios: rs.map((r) => r.toFixed(4)).join(", "), expected: (1 / g).toFixed(4) },
        finding: `Parameters of the ${s.length} grouped convs divided by ${rs.map((r) => (1 / r).toFixed(2)).join(", ")} (expected ${g}; a bias is not divided). ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: ok ? "supported" : "not supported",
      };
    },
  },
  {
    id: "separable",
    section: "§5",
    claim:
      "A depthwise separable convolution costs about 1/C_out + 1/k² of the standard convolution it replaces.",
    variant: "separable",
    evaluate(v, ref, ctx) {
      const s = sites(v, "separable").filter((x) => x.conv !== null);
      const rows = s.map((x) => {
        const k2 = x.conv!.kernelSize[0] * x.conv!.kernelSize[1];
        return { got: ratio(x.macsAfter, x.macsBefore), want: 1 / x.conv!.outChannels + 1 / k2, site: x };
      });
      const ok = rows.length > 0 && rows.every((r) => Math.abs(r.got - r.want) <= 0.05 * r.want);
      const list = rows
        .map(
          (r) =>
            `${r.site.conv!.kernelSize[0]}×${r.site.conv!.kernelSize[1]}, ${r.site.conv!.inChannels}→${r.site.conv!.outChannels}: ${r.got.toFixed(4)} (formula ${r.want.toFixed(4)})`,
        )
        .join("; ");
      return {
        measured: {
          ratios: rows.map((r) => r.got.toFixed(4)).join(", "),
          formula: rows.map((r) => r.want.toFixed(4)).join(", "),
        },
        finding: `MACs of each separable pair over the conv it replaced: ${list}. Whole model: ${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters, ${count(ref.cost!.macs)} → ${count(v.cost!.macs)} MACs. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: ok ? "supported" : "not supported",
      };
    },
  },
  {
    id: "shuffle",
    section: "§6",
    claim:
      "A channel shuffle after a group convolution lets information flow between groups, at no cost in parameters or MACs.",
    variant: "shuffle",
    evaluate(v, ref, ctx) {
      const sameCost = v.cost!.params === ref.cost!.params && v.cost!.macs === ref.cost!.macs;
      const acc = accuracyVerdict(v, ref, ctx);
      return {
        measured: {
          params: v.cost!.params,
          referenceParams: ref.cost!.params,
          macs: v.cost!.macs,
          referenceMacs: ref.cost!.macs,
        },
        finding: `${sameCost ? "Same parameters and MACs as" : "Cost differs from"} ${ref.label} (${count(v.cost!.params)} parameters, ${count(v.cost!.macs)} MACs). ${accuracySentence(v, ref, ctx)}`,
        verdict: sameCost ? acc : "not supported",
      };
    },
  },
  {
    id: "multi-size",
    section: "§7",
    claim:
      "Several kernel sizes in one layer (Inception), with 1×1 convolutions first, give better features than one size.",
    variant: "multi-size",
    evaluate(v, ref, ctx) {
      return {
        measured: {
          params: v.cost!.params,
          baselineParams: ref.cost!.params,
          macs: v.cost!.macs,
          baselineMacs: ref.cost!.macs,
        },
        finding: `${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters, ${count(ref.cost!.macs)} → ${count(v.cost!.macs)} MACs. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: accuracyVerdict(v, ref, ctx),
      };
    },
  },
  {
    id: "bottleneck",
    section: "§7, §10",
    claim:
      "A 1×1 convolution mapping to a smaller hidden space before an expensive convolution reduces parameters and computation.",
    variant: "bottleneck",
    evaluate(v, ref, ctx) {
      const s = sites(v, "bottleneck");
      const pb = siteSum(s, "paramsBefore");
      const pa = siteSum(s, "paramsAfter");
      const mb = siteSum(s, "macsBefore");
      const ma = siteSum(s, "macsAfter");
      return {
        measured: { paramsBefore: pb, paramsAfter: pa, macsBefore: mb, macsAfter: ma },
        finding: `The ${s.length} convs with a 1×1 reduction in front: ${count(pb)} → ${count(pa)} parameters (${times(ratio(pa, pb))}), ${count(mb)} → ${count(ma)} MACs (${times(ratio(ma, mb))}). ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: pa < pb && ma < mb ? "supported" : "not supported",
      };
    },
  },
  {
    id: "se",
    section: "§8",
    claim: "Squeeze-and-excitation (feature map weighting) improves accuracy at a small cost.",
    variant: "se",
    evaluate(v, ref, ctx) {
      const dp = ratio(v.cost!.params - ref.cost!.params, ref.cost!.params);
      const dl = v.latency && ref.latency ? ratio(v.latency.batch64Ms, ref.latency.batch64Ms) : Number.NaN;
      const lat = Number.isFinite(dl) ? `, inference time at batch 64 ${times(dl)}` : "";
      return {
        measured: {
          paramsAdded: v.cost!.params - ref.cost!.params,
          paramsAddedFraction: dp,
          latencyRatio: Number.isFinite(dl) ? dl : null,
        },
        finding: `Cost: +${count(v.cost!.params - ref.cost!.params)} parameters (+${(100 * dp).toFixed(1)}%)${lat}. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: accuracyVerdict(v, ref, ctx),
      };
    },
  },
  {
    id: "deformable",
    section: "§9",
    claim:
      "A deformable convolution, whose sampling grid is learned, extracts better features than a fixed square kernel.",
    variant: "deformable",
    evaluate(v, ref, ctx) {
      const dl = v.latency && ref.latency ? ratio(v.latency.batch64Ms, ref.latency.batch64Ms) : Number.NaN;
      return {
        measured: {
          params: v.cost!.params,
          baselineParams: ref.cost!.params,
          latencyRatio: Number.isFinite(dl) ? dl : null,
        },
        finding: `Cost: ${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters (the offset branch)${Number.isFinite(dl) ? `, inference time at batch 64 ${times(dl)} (bilinear sampling)` : ""}. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: accuracyVerdict(v, ref, ctx),
      };
    },
  },
  {
    id: "skip",
    section: "§10",
    claim: "Skip connections (ResNet) make a network better.",
    variant: "residual",
    evaluate(v, ref, ctx) {
      return {
        measured: { params: v.cost!.params, referenceParams: ref.cost!.params },
        finding: `${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: accuracyVerdict(v, ref, ctx),
      };
    },
  },
  {
    id: "dense",
    section: "§10",
    claim: "Dense connections (DenseNet: each layer reads all earlier feature maps) make a network better.",
    variant: "dense",
    evaluate(v, ref, ctx) {
      return {
        measured: { params: v.cost!.params, referenceParams: ref.cost!.params },
        finding: `${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters. ${accuracySentence(v, ref, ctx)}${fineTuneSentence(ctx, v.id)}`,
        verdict: accuracyVerdict(v, ref, ctx),
      };
    },
  },
  {
    id: "modern",
    section: "§10",
    claim:
      "Rewriting a plain large-kernel network with the modern modes makes it much cheaper without losing accuracy.",
    variant: "modern",
    evaluate(v, ref, ctx) {
      const c = compareAccuracy(v, ref);
      const cheaper = v.cost!.macs < ref.cost!.macs && v.cost!.params < ref.cost!.params;
      const verdict: Verdict =
        c === null
          ? "not tested"
          : !cheaper
            ? "not supported"
            : tooShort(v, ref, ctx) !== null
              ? "inconclusive"
              : c.effect === "worse"
                ? "not supported"
                : "supported";
      return {
        measured: {
          paramsRatio: ratio(v.cost!.params, ref.cost!.params),
          macsRatio: ratio(v.cost!.macs, ref.cost!.macs),
          delta: c === null ? null : c.delta,
        },
        finding: `${count(ref.cost!.params)} → ${count(v.cost!.params)} parameters (${times(ratio(v.cost!.params, ref.cost!.params))}), ${count(ref.cost!.macs)} → ${count(v.cost!.macs)} MACs (${times(ratio(v.cost!.macs, ref.cost!.macs))}). ${accuracySentence(v, ref, ctx)}`,
        verdict,
      };
    },
  },
];

/** Every claim with its verdict ("not tested" with the reason when its variant is missing or failed). */
export function evaluateClaims(
  ctx: ClaimContext,
  reasons: ReadonlyMap<string, string> = new Map(),
): ClaimRecord[] {
  return SPECS.map((spec) => {
    const base = { id: spec.id, section: spec.section, claim: spec.claim };
    const v = ctx.variants.get(spec.variant);
    const ref = v?.reference ? ctx.variants.get(v.reference) : undefined;
    if (
      v === undefined ||
      v.status !== "done" ||
      ref === undefined ||
      ref.status !== "done" ||
      v.cost === null ||
      ref.cost === null
    ) {
      const why =
        v === undefined
          ? (reasons.get(spec.variant) ?? `no "${spec.variant}" variant in this study`)
          : v.status !== "done"
            ? `the ${v.label} variant failed: ${v.error ?? "unknown error"}`
            : `its reference ${v.reference} is missing or failed`;
      return {
        ...base,
        variants: v ? [v.id] : [],
        measured: {},
        finding: `Not measured: ${why}.`,
        verdict: "not tested" as Verdict,
      };
    }
    return { ...base, variants: [v.id, ref.id], ...spec.evaluate(v, ref, ctx) };
  });
}
