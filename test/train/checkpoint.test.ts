import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { parseSafetensors } from "../../src/io/safetensors.js";
import { DataError, FormatError, ShapeError } from "../../src/tensor/errors.js";
import { Rng } from "../../src/tensor/rng.js";
import { Adam } from "../../src/train/adam.js";
import {
  type CheckpointData,
  hasCheckpoint,
  loadCheckpoint,
  restoreWeights,
  saveCheckpoint,
} from "../../src/train/checkpoint.js";
import { cosineSchedule, LrScheduler } from "../../src/train/schedule.js";

// Wrap the fs functions the checkpoint writer uses, so a test can make one of them fail.
vi.mock("node:fs", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs")>();
  return { ...actual, renameSync: vi.fn(actual.renameSync), writeSync: vi.fn(actual.writeSync) };
});

const realFs = await vi.importActual<typeof import("node:fs")>("node:fs");
const root = mkdtempSync(join(tmpdir(), "convkit-ckpt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
function freshDir(): string {
  const dir = join(root, `d${counter++}`);
  fs.mkdirSync(dir);
  return dir;
}

/** A small model and Adam optimizer after two steps, with a scheduler and an Rng mid-stream. */
function trainedState(seed: number) {
  const rng = new Rng(seed);
  const w = new Tensor(
    Float32Array.from({ length: 6 }, () => rng.normal()),
    [2, 3],
    true,
  );
  const b = new Tensor(
    Float32Array.from({ length: 2 }, () => rng.normal()),
    [2],
    true,
  );
  const runningMean = new Tensor(Float32Array.from([0.5, -0.5]), [2]);
  const opt = new Adam([{ params: [w] }, { params: [b], weightDecay: 0.1 }], { lr: 0.01, amsgrad: true });
  const scheduler = new LrScheduler(opt, cosineSchedule({ tMax: 10 }));
  for (let s = 0; s < 2; s++) {
    w.grad = new Tensor(
      Float32Array.from({ length: 6 }, () => rng.normal()),
      [2, 3],
    );
    b.grad = new Tensor(
      Float32Array.from({ length: 2 }, () => rng.normal()),
      [2],
    );
    opt.step();
    scheduler.step();
  }
  rng.normal(); // leaves a spare normal deviate in the state (encoded as a number, not NaN)
  const data: CheckpointData = {
    epoch: 2,
    step: 2,
    weights: { "fc.weight": w, "fc.bias": b, "bn.runningMean": runningMean },
    optimizer: opt.stateDict(),
    rng: { default: rng.getState(), other: new Rng(9).getState() },
    schedule: scheduler.stateDict(),
    loader: { seed: 5, epoch: 2 },
    extra: { config: { lr: 0.01 }, history: [1.5, 1.2] },
  };
  return { w, b, runningMean, opt, scheduler, rng, data };
}

function expectSaved(dir: string, data: CheckpointData): void {
  const loaded = loadCheckpoint(dir);
  expect(loaded.epoch).toBe(data.epoch);
  expect(loaded.step).toBe(data.step);
  const weights = data.weights as Record<string, { shape: readonly number[]; data: Float32Array }>;
  expect([...loaded.weights.keys()].sort()).toEqual(Object.keys(weights).sort());
  for (const [name, t] of Object.entries(weights)) {
    expect(loaded.weights.get(name)?.shape).toEqual([...t.shape]);
    expect(Array.from(loaded.weights.get(name)?.data ?? [])).toEqual(Array.from(t.data));
  }
}

describe("checkpoints", () => {
  it("round-trips weights, optimizer state, RNG, schedule, loader and extra; training resumes identically", () => {
    const dir = freshDir();
    const a = trainedState(1);
    expect(hasCheckpoint(dir)).toBe(false);
    saveCheckpoint(dir, a.data);
    expect(hasCheckpoint(dir)).toBe(true);
    expectSaved(dir, a.data);
    const loaded = loadCheckpoint(dir);
    expect(loaded.rng.default).toEqual(a.rng.getState());
    expect(Number.isNaN(loaded.rng.other[4])).toBe(true); // no spare deviate: NaN survives JSON
    expect(loaded.schedule).toEqual(a.scheduler.stateDict());
    expect(loaded.loader).toEqual({ seed: 5, epoch: 2 });
    expect(loaded.extra).toEqual({ config: { lr: 0.01 }, history: [1.5, 1.2] });
    // The weights file is a plain safetensors file with the model's tensor names and shapes.
    const plain = parseSafetensors(readFileSync(join(dir, `weights-${loaded.generation}.safetensors`)));
    expect(plain.tensors.get("fc.weight")?.shape).toEqual([2, 3]);

    // Resume into a fresh model: restored weights, optimizer, scheduler and rng continue exactly.
    const b = trainedState(2);
    restoreWeights({ "fc.weight": b.w, "fc.bias": b.b, "bn.runningMean": b.runningMean }, loaded.weights);
    b.opt.loadStateDict(loaded.optimizer!);
    b.scheduler.loadStateDict(loaded.schedule!);
    b.rng.setState(loaded.rng.default);
    for (const s of [a, b]) {
      const g = new Rng(77);
      s.w.grad = new Tensor(
        Float32Array.from({ length: 6 }, () => g.normal()),
        [2, 3],
      );
      s.b.grad = new Tensor(
        Float32Array.from({ length: 2 }, () => g.normal()),
        [2],
      );
      s.opt.step();
      s.scheduler.step();
    }
    expect(Array.from(b.w.data)).toEqual(Array.from(a.w.data));
    expect(Array.from(b.b.data)).toEqual(Array.from(a.b.data));
    expect(b.scheduler.getLastLr()).toEqual(a.scheduler.getLastLr());
    expect(b.rng.normal()).toBe(a.rng.normal());
  });

  it("keeps only the latest generation's files after a save (creating the directory if needed)", () => {
    const dir = join(freshDir(), "nested", "run");
    const s = trainedState(3);
    saveCheckpoint(dir, s.data);
    saveCheckpoint(dir, { ...s.data, epoch: 3 });
    saveCheckpoint(dir, { ...s.data, epoch: 4 });
    expect(readdirSync(dir).sort()).toEqual([
      "checkpoint.json",
      "optimizer-3.safetensors",
      "weights-3.safetensors",
    ]);
    expect(loadCheckpoint(dir).epoch).toBe(4);
  });

  it("leaves the previous checkpoint intact when a write fails at any point", () => {
    const s = trainedState(4);
    const renames = vi.mocked(fs.renameSync);
    const writes = vi.mocked(fs.writeSync);
    const failRenameTo = (pattern: RegExp) =>
      renames.mockImplementation((from, to) => {
        if (pattern.test(String(to))) throw new Error(`injected: rename to ${String(to)} failed`);
        realFs.renameSync(from, to);
      });
    // Each step of a save fails in turn: the three commits by rename, or a write mid-file.
    const failures: [string, () => void][] = [
      ["weights rename", () => failRenameTo(/weights-\d+\.safetensors$/)],
      ["optimizer rename", () => failRenameTo(/optimizer-\d+\.safetensors$/)],
      ["checkpoint.json rename", () => failRenameTo(/checkpoint\.json$/)],
      [
        "weights write (disk full)",
        () =>
          writes.mockImplementationOnce(() => {
            throw new Error("injected: ENOSPC");
          }),
      ],
    ];
    for (const [what, arm] of failures) {
      const dir = freshDir();
      saveCheckpoint(dir, s.data);
      const before = readdirSync(dir);
      arm();
      const next = {
        ...s.data,
        epoch: 9,
        weights: { "fc.weight": { shape: [2, 3], data: new Float32Array(6).fill(7) } },
      };
      expect(() => saveCheckpoint(dir, next), what).toThrow(/injected/);
      renames.mockReset();
      writes.mockReset();
      expectSaved(dir, s.data);
      // No temporaries are left behind; at most the new generation's unreferenced files.
      const after = readdirSync(dir);
      expect(
        after.filter((n) => n.includes(".tmp-")),
        what,
      ).toEqual([]);
      expect(
        after.filter((n) => !before.includes(n)).every((n) => /-2\.safetensors$/.test(n)),
        what,
      ).toBe(true);
      // The next successful save commits and cleans up.
      saveCheckpoint(dir, next);
      const { epoch, generation } = loadCheckpoint(dir);
      expect(epoch).toBe(9);
      expect(readdirSync(dir).sort()).toEqual([
        "checkpoint.json",
        `optimizer-${generation}.safetensors`,
        `weights-${generation}.safetensors`,
      ]);
    }
  });

  const RUNS = 6;
  it("survives SIGKILL at random moments: what loads is always one complete checkpoint", async () => {
    const script = fileURLToPath(new URL("./checkpoint-writer.ts", import.meta.url));
    let interrupted = 0;
    for (let run = 0; run < RUNS; run++) {
      const dir = freshDir();
      const child = spawn(process.execPath, ["--import", "tsx", script, dir], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let saved = 0;
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += String(d);
      });
      const target = 3 + (run % 3) * 2;
      await new Promise<void>((resolve, reject) => {
        child.on("exit", () => reject(new Error(`writer exited early: ${stderr}`)));
        child.stdout.on("data", (d: Buffer) => {
          saved += (String(d).match(/saved/g) ?? []).length;
          if (saved >= target) resolve();
        });
      });
      // Kill somewhere inside the next save (each takes a few milliseconds).
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 8)));
      child.removeAllListeners("exit");
      const exited = new Promise((r) => child.on("exit", r));
      child.kill("SIGKILL");
      await exited;
      const loaded = loadCheckpoint(dir);
      const n = loaded.epoch;
      expect(n).toBeGreaterThanOrEqual(target);
      expect(loaded.step).toBe(10 * n);
      expect(loaded.weights.get("conv.weight")?.data.every((v) => v === n)).toBe(true);
      expect(loaded.optimizer?.state[0]?.buffers.momentumBuffer.every((v) => v === n + 0.5)).toBe(true);
      expect(loaded.rng.default).toEqual(new Rng(n).getState());
      expect(loaded.extra).toEqual({ n });
      // Files the killed save left (temporaries, or a generation never committed) are ignored...
      const left = readdirSync(dir).filter(
        (f) => f !== "checkpoint.json" && !f.endsWith(`-${loaded.generation}.safetensors`),
      );
      if (left.length > 0) interrupted++;
      // ...and a later save in the same directory commits and clears them.
      saveCheckpoint(dir, {
        epoch: n + 1,
        step: 0,
        weights: { x: { shape: [1], data: Float32Array.of(1) } },
      });
      const after = readdirSync(dir).sort();
      expect(after.length).toBe(2);
      expect(after[0]).toBe("checkpoint.json");
      expect(loadCheckpoint(dir).epoch).toBe(n + 1);
    }
    console.log(`kill test: ${interrupted} of ${RUNS} kills landed inside a save`);
  }, 60_000);

  it("rejects missing, malformed or mismatched checkpoints with the file named", () => {
    const dir = freshDir();
    expect(() => loadCheckpoint(dir)).toThrow(FormatError);
    expect(() => loadCheckpoint(dir)).toThrow(/checkpoint\.json.*no readable checkpoint/);
    const s = trainedState(5);
    saveCheckpoint(dir, s.data);
    const jsonPath = join(dir, "checkpoint.json");
    const good = readFileSync(jsonPath, "utf8");
    const edit = (fn: (j: Record<string, unknown>) => void) => {
      const j = JSON.parse(good);
      fn(j);
      writeFileSync(jsonPath, JSON.stringify(j));
    };
    writeFileSync(jsonPath, good.slice(0, 40));
    expect(() => loadCheckpoint(dir)).toThrow(/not valid JSON/);
    edit((j) => {
      j.version = 99;
    });
    expect(() => loadCheckpoint(dir)).toThrow(/version: expected 1, got 99/);
    edit((j) => {
      j.epoch = -1;
    });
    expect(() => loadCheckpoint(dir)).toThrow(/epoch/);
    edit((j) => {
      (j.rng as Record<string, unknown>).default = [1, 2];
    });
    expect(() => loadCheckpoint(dir)).toThrow(/rng\.default/);
    writeFileSync(jsonPath, good);
    // A weights file that does not belong to this checkpoint.json (changed after the fact).
    const weightsPath = join(dir, "weights-1.safetensors");
    const bytes = readFileSync(weightsPath);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(weightsPath, bytes);
    expect(() => loadCheckpoint(dir)).toThrow(new RegExp(`${weightsPath}.*SHA-256`));
    writeFileSync(weightsPath, bytes.subarray(0, 100));
    expect(() => loadCheckpoint(dir)).toThrow(/size: expected \d+ bytes as recorded/);
    rmSync(weightsPath);
    expect(() => loadCheckpoint(dir)).toThrow(/cannot read the weights file/);
  });

  it("restoreWeights checks names and shapes before copying anything", () => {
    const a = new Tensor(new Float32Array(4), [2, 2]);
    const b = new Tensor(new Float32Array(3), [3]);
    const weights = new Map([
      ["a", { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
      ["b", { shape: [1, 3], data: Float32Array.of(5, 6, 7) }],
    ]);
    expect(() => restoreWeights({ a, b }, weights)).toThrow(ShapeError);
    expect(Array.from(a.data)).toEqual([0, 0, 0, 0]);
    expect(() => restoreWeights({ a }, weights)).toThrow(DataError);
    restoreWeights({ a }, weights, { strict: false });
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
  });
});
