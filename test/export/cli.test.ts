import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import type { CliContext } from "../../src/cli/context.js";
import { UsageError } from "../../src/cli/errors.js";
import { loadZoo } from "../../src/cli/zoo.js";
import { addExportCommand } from "../../src/export/cli-commands.js";
import { parseGraph, saveModel, weightsFromBytes } from "../../src/graph/serialize.js";
import { buildZooModel } from "../../src/zoo/index.js";

/** `convkit export` through commander, as src/cli/main.ts will register it (addExportCommand). */

const root = mkdtempSync(join(tmpdir(), "convkit-export-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ out: string; error: unknown }> {
  let out = "";
  const ctx: CliContext = {
    stdout: (s) => {
      out += s;
    },
    stderr: () => {},
    env: {},
    zoo: loadZoo,
  };
  const program = new Command("convkit")
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} });
  addExportCommand(program, ctx);
  try {
    await program.parseAsync(argv, { from: "user" });
    return { out, error: null };
  } catch (error) {
    return { out, error };
  }
}

describe("convkit export", () => {
  it("writes model.py, weights, graph, train_ddp.py, README and the embedded data for a zoo model", async () => {
    const dir = join(root, "small");
    const { out, error } = await run(["export", "fmnist-small", "--to", "pytorch", "-o", dir]);
    expect(error).toBeNull();
    for (const f of ["model.py", "weights.safetensors", "graph.json", "train_ddp.py", "README.md"])
      expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, "data", "train-images-idx3-ubyte.gz"))).toBe(true);
    expect(readFileSync(join(dir, "model.py"), "utf8")).toContain("class FmnistSmall(Block):");
    expect(out).toContain("top-level class FmnistSmall");
    expect(out).toContain("train_ddp.py");
  });

  it("builds a zoo model at --input and --classes, and exports a saved model folder with its weights", async () => {
    const dir = join(root, "resnet");
    const { error } = await run([
      "export",
      "resnet18",
      "--input",
      "1x32x32",
      "--classes",
      "7",
      "-o",
      dir,
      "--no-data",
    ]);
    expect(error).toBeNull();
    expect(parseGraph(readFileSync(join(dir, "graph.json"), "utf8")).inputs[0].shape).toEqual([
      "N",
      1,
      32,
      32,
    ]);
    expect(readFileSync(join(dir, "model.py"), "utf8")).toContain("self.fc = nn.Linear(512, 7)");
    expect(existsSync(join(dir, "data"))).toBe(false);

    const saved = join(root, "saved");
    const m = buildZooModel("fmnist-vgg-large", { seed: 9 });
    await saveModel(saved, m.graph, m.weights);
    const out2 = join(root, "from-folder");
    const r = await run(["export", saved, "-o", out2, "--no-data", "--class-name", "Baseline"]);
    expect(r.error).toBeNull();
    expect(r.out).toContain(`weights: ${join(saved, "weights.safetensors")}`);
    const exported = weightsFromBytes(m.graph, readFileSync(join(out2, "weights.safetensors")));
    for (const [name, w] of m.weights) expect(exported.get(name), name).toEqual(w);
    expect(readFileSync(join(out2, "model.py"), "utf8")).toContain("class Baseline(Block):");
  });

  it("rejects an unknown target and malformed options as usage errors", async () => {
    for (const argv of [
      ["export", "fmnist-small", "--to", "onnx"],
      ["export", "fmnist-small", "--input", "3x32"],
      ["export", "fmnist-small", "--classes", "0"],
    ]) {
      const { error } = await run([...argv, "-o", join(root, "never")]);
      expect(error, argv.join(" ")).toBeInstanceOf(UsageError);
    }
    expect(existsSync(join(root, "never"))).toBe(false);
  });
});
