import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { subsetDataset } from "../../src/data/dataset.js";
import { loadFashionMnist } from "../../src/data/fashion-mnist.js";
import { loadModel } from "../../src/graph/serialize.js";
import { runStudy } from "../../src/study/run.js";
import type { StudyOptions, StudyReport, VariantRecord } from "../../src/study/types.js";
import { externalReferences, wellFormedProblems } from "./html-check.js";

/**
 * A tiny study end to end (fmnist-small, three rules, 1,024 training and 200 test images, one epoch): the
 * report's fields, a self-contained and well-formed index.html, costs equal to the analyzer's on the saved
 * models, a failing variant reported while the study goes on, and a study killed with SIGKILL in the middle of
 * a variant that resumes to the same report as an uninterrupted one.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const TRAIN = 1024;
const TEST = 200;
const RULES = ["separable", "se", "group"];

const fm = loadFashionMnist({ embedded: true });
// The same names as the command line's --train-limit/--test-limit give, so a resume from the CLI matches.
const data = {
  ...fm,
  train: subsetDataset(
    fm.train,
    Array.from({ length: TRAIN }, (_, i) => i),
    `${fm.train.name}[:${TRAIN}]`,
  ),
  test: subsetDataset(
    fm.test,
    Array.from({ length: TEST }, (_, i) => i),
    `${fm.test.name}[:${TEST}]`,
  ),
};

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "convkit-study-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(outDir: string, extra: Partial<StudyOptions> = {}): StudyOptions {
  return {
    baseline: "fmnist-small",
    rules: RULES,
    epochs: 1,
    data,
    seed: 0,
    outDir,
    threads: 1,
    batchSize: 32,
    checkpointEvery: 2,
    latencyRuns: { batch1: 3, batch64: 2 },
    ...extra,
  };
}

/** The fields of a variant that do not depend on timing (a resumed study must reproduce them exactly). */
function deterministic(v: VariantRecord): unknown {
  return {
    id: v.id,
    status: v.status,
    cost: v.cost,
    accuracy: v.accuracy,
    testLoss: v.testLoss,
    accuracyAtStart: v.accuracyAtStart,
    outputError: v.outputError,
    steps: v.steps,
    training:
      v.training === null
        ? null
        : {
            epochs: v.training.epochs,
            steps: v.training.steps,
            images: v.training.images,
            history: v.training.history.map(({ seconds: _s, imagesPerSecond: _i, ...rest }) => rest),
          },
  };
}

function claimsOf(r: StudyReport): unknown {
  return r.claims.map((c) => ({
    id: c.id,
    verdict: c.verdict,
    measured: Object.fromEntries(Object.entries(c.measured).filter(([k]) => !k.startsWith("latency"))),
  }));
}

let reference: StudyReport | null = null;

describe("runStudy: a tiny study end to end", () => {
  it("writes report.json, a self-contained index.html and every variant's model", async () => {
    const out = tempDir();
    const events: string[] = [];
    const result = await runStudy(options(out, { onEvent: (e) => events.push(e.kind) }));
    const report = result.report;
    reference = report;

    expect(result.interrupted).toBe(false);
    expect(report.format).toBe("convkit.study");
    expect(report.version).toBe(1);
    expect(report.status).toBe("complete");
    expect(report.baseline.name).toBe("fmnist-small");
    expect(report.data.train.images).toBe(TRAIN);
    expect(report.data.test.images).toBe(TEST);
    expect(report.settings.mode).toBe("epochs");
    expect(report.settings.epochs).toBe(1);
    expect(report.settings.fineTuneEpochs).toBe(1);
    expect(report.variants.map((v) => v.id)).toEqual([
      "baseline",
      "separable",
      "separable-ft",
      "se",
      "se-ft",
      "group",
      "group-ft",
    ]);
    expect(report.pending).toEqual([]);
    expect(report.rules.map((r) => [r.rule, r.applies])).toEqual([
      ["separable", true],
      ["se", true],
      ["group", true],
    ]);
    // fmnist-small's first conv has one input channel: group refuses it and says why.
    expect(report.rules[2].refusals.map((r) => r.reason).join()).toMatch(/divisible by 2, got 1/);
    expect(events.filter((e) => e === "variant-done")).toHaveLength(7);

    for (const v of report.variants) {
      expect(v.status, v.id).toBe("done");
      expect(v.accuracy).toBeGreaterThanOrEqual(0);
      expect(v.standardError).toBeCloseTo(Math.sqrt((v.accuracy! * (1 - v.accuracy!)) / TEST), 12);
      expect(v.training!.history).toHaveLength(1);
      expect(v.training!.images).toBe(TRAIN);
      expect(v.training!.lossCurve.length).toBeGreaterThan(1);
      expect(v.latency!.batch1Ms).toBeGreaterThan(0);
      expect(v.latency!.batch64Ms).toBeGreaterThan(0);
      expect(v.cost!.receptiveField).not.toBeNull();
      // The measured cost is the analyzer's on the model as saved.
      const saved = await loadModel(join(out, v.model!));
      const a = analyze(saved.graph, [1, 28, 28]);
      expect(v.cost!.params, v.id).toBe(a.totals.params);
      expect(v.cost!.macs, v.id).toBe(a.totals.macs);
      expect(v.cost!.flops, v.id).toBe(a.totals.flops);
      expect(v.cost!.receptiveField!.size).toEqual(a.receptiveField!.size);
      expect(saved.graph.meta?.normalize).toEqual(report.settings.normalize);
    }
    const byId = new Map(report.variants.map((v) => [v.id, v]));
    expect(byId.get("separable-ft")!.accuracyAtStart).not.toBeNull();
    expect(byId.get("separable-ft")!.latency!.sameAs).toBe("separable");
    // se carries the weights over exactly: right after the rewrite it is the trained baseline.
    expect(byId.get("se-ft")!.accuracyAtStart).toBe(byId.get("baseline")!.accuracy);
    expect(byId.get("se-ft")!.outputError!.relL2).toBeLessThan(1e-5);
    // Checkpoints are removed once a variant is done; drawings are kept.
    for (const v of report.variants)
      expect(existsSync(join(out, "variants", v.id, "checkpoint"))).toBe(false);
    expect(existsSync(join(out, "variants", "separable", "drawing.svg"))).toBe(true);

    const claims = new Map(report.claims.map((c) => [c.id, c]));
    expect(claims.get("separable")!.verdict).toBe("supported");
    expect(claims.get("group")!.verdict).toBe("supported");
    expect(["supported", "not supported", "inconclusive"]).toContain(claims.get("se")!.verdict);
    expect(claims.get("deformable")!.verdict).toBe("not tested");
    expect(report.pareto.length).toBeGreaterThan(0);

    const json = JSON.parse(readFileSync(result.reportJson, "utf8")) as StudyReport;
    expect(json.variants.map((v) => v.id)).toEqual(report.variants.map((v) => v.id));

    const html = readFileSync(result.indexHtml, "utf8");
    expect(wellFormedProblems(html)).toEqual([]);
    expect(externalReferences(html)).toEqual([]);
    for (const id of ["claims", "comparison", "charts", "curves", "rewrites", "method"])
      expect(html).toContain(`id="${id}"`);
    expect(html).toContain("Test accuracy against MACs");
    expect(html).toContain("Depthwise separable convolution");
    expect(html).toMatch(/Squeeze-and-excitation/);
  }, 120_000);

  it("reports a failing variant and goes on with the others", async () => {
    const out = tempDir();
    const result = await runStudy(
      options(out, {
        rules: ["separable", "se"],
        beforeVariant: (id) => {
          if (id === "se") throw new Error("injected failure in se");
        },
      }),
    );
    const byId = new Map(result.report.variants.map((v) => [v.id, v]));
    expect(byId.get("se")!.status).toBe("failed");
    expect(byId.get("se")!.error).toBe("injected failure in se");
    expect(byId.get("se-ft")!.status).toBe("done");
    expect(byId.get("separable")!.status).toBe("done");
    expect(result.report.claims.find((c) => c.id === "se")!.verdict).toBe("not tested");
    const html = readFileSync(result.indexHtml, "utf8");
    expect(html).toContain("injected failure in se");
    expect(wellFormedProblems(html)).toEqual([]);
  }, 120_000);

  it("resumes a study killed with SIGKILL: finished variants are kept, the one in progress resumes", async () => {
    expect(reference).not.toBeNull();
    const out = tempDir();
    // node itself with tsx's loader (not npx, whose child would survive the kill).
    const args = [
      "--import",
      "tsx",
      join(ROOT, "src", "cli", "main.ts"),
      "study",
      "--baseline",
      "fmnist-small",
      "--rules",
      RULES.join(","),
      "--epochs",
      "1",
      "--train-limit",
      String(TRAIN),
      "--test-limit",
      String(TEST),
      "--batch-size",
      "32",
      "--checkpoint-every",
      "2",
      "--threads",
      "1",
      "-o",
      out,
    ];
    const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: "ignore" });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    // Kill when a variant after the baseline is in progress and has written a checkpoint.
    const statePath = join(out, "study-state.json");
    let killedIn: string | null = null;
    let before: Record<string, string> = {};
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && killedIn === null) {
      await new Promise((r) => setTimeout(r, 10));
      if (child.exitCode !== null) break;
      try {
        const state = JSON.parse(readFileSync(statePath, "utf8")) as {
          running: { id: string } | null;
          records: Record<string, VariantRecord>;
        };
        const running = state.running?.id;
        if (
          running &&
          running !== "baseline" &&
          existsSync(join(out, "variants", running, "checkpoint", "checkpoint.json"))
        ) {
          child.kill("SIGKILL");
          killedIn = running;
          before = Object.fromEntries(Object.entries(state.records).map(([id, r]) => [id, r.finishedAt]));
        }
      } catch {
        // The state file is written atomically, but may not exist yet.
      }
    }
    await exited;
    expect(killedIn, "the child finished before it could be killed mid-variant").not.toBeNull();
    expect(Object.keys(before)).toContain("baseline");

    const resumed = await runStudy(options(out, { resume: true }));
    const report = resumed.report;
    expect(report.status).toBe("complete");
    expect(report.timing.sessions).toBe(2);
    const byId = new Map(report.variants.map((v) => [v.id, v]));
    // Finished variants were not run again.
    for (const [id, finishedAt] of Object.entries(before))
      expect(byId.get(id)!.finishedAt, id).toBe(finishedAt);
    // The interrupted one continued from its checkpoint.
    expect(byId.get(killedIn!)!.training!.resumedFrom).not.toBeNull();
    // And the whole report equals the uninterrupted study's on everything that does not depend on time.
    expect(report.variants.map(deterministic)).toEqual(reference!.variants.map(deterministic));
    expect(claimsOf(report)).toEqual(claimsOf(reference!));
    expect(report.pareto).toEqual(reference!.pareto);
    expect(wellFormedProblems(readFileSync(resumed.indexHtml, "utf8"))).toEqual([]);
  }, 180_000);

  it("refuses to overwrite a study without resume, and to resume with other settings", async () => {
    const out = tempDir();
    await runStudy(options(out, { rules: ["se"], fineTune: false }));
    await expect(runStudy(options(out, { rules: ["se"], fineTune: false }))).rejects.toThrow(
      /already holds a study/,
    );
    await expect(
      runStudy(options(out, { rules: ["se"], fineTune: false, resume: true, seed: 1 })),
    ).rejects.toThrow(/different settings.*seed/);
    const again = await runStudy(options(out, { rules: ["se"], fineTune: false, resume: true }));
    expect(again.report.variants.every((v) => v.status === "done")).toBe(true);
    expect(again.report.timing.sessions).toBe(2);
  }, 120_000);
});
