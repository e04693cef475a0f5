import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/cli/errors.js";
import { loadModel, parseGraph } from "../../src/graph/serialize.js";
import { addRewriteCommands, stepsFromFlags } from "../../src/rewrite/cli-commands.js";
import { RULES } from "../../src/rewrite/registry.js";
import { chain } from "./helpers.js";

/** `convkit rules` and `convkit rewrite` as registered on a commander program, with a tiny test zoo. */

async function run(
  args: string[],
  extra: Record<string, unknown> = {},
): Promise<{ out: string; err: string }> {
  let out = "";
  let err = "";
  const program = new Command("convkit").exitOverride();
  addRewriteCommands(program, {
    stdout: (s) => {
      out += s;
    },
    stderr: (s) => {
      err += s;
    },
    zoo: async () => ({
      tiny: () =>
        chain(
          [
            { out: 4, k: 3 },
            { out: 4, k: 5 },
          ],
          { input: [2, 8, 8] },
        ),
    }),
    fastKernels: () => {},
    ...extra,
  });
  await program.parseAsync(args, { from: "user" });
  return { out, err };
}

describe("convkit rules / rewrite", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "convkit-rewrite-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("rules lists every rule with its carry-over kind and options; --json gives the metadata", async () => {
    const { out } = await run(["rules"]);
    for (const rule of RULES)
      expect(out).toContain(`${rule.name.padEnd(12)} ${rule.family.padEnd(12)} ${rule.carry}`);
    expect(out).toContain("--rule separable:depthMultiplier=1");
    const json = JSON.parse((await run(["rules", "--json"])).out);
    expect(json.map((r: { name: string }) => r.name)).toEqual(RULES.map((r) => r.name));
    expect(json[0].options.activation.values).toEqual(["relu", "none"]);
  });

  it("--seed 0, the documented default, is accepted and gives the default's result", async () => {
    const seeded = await run(["rewrite", "tiny", "--rule", "stack-small", "--seed", "0", "--json"]);
    const plain = await run(["rewrite", "tiny", "--rule", "stack-small", "--json"]);
    expect(JSON.parse(seeded.out)).toEqual(JSON.parse(plain.out));
  });

  it("rewrite prints the report, writes a model folder that loads back, or a graph .json", async () => {
    const folder = join(dir, "out");
    const { out, err } = await run([
      "rewrite",
      "tiny",
      "--rule",
      "se:reduction=2",
      "--rule",
      "stack-small",
      "--steps",
      "2",
      "--samples",
      "2",
      "-o",
      folder,
    ]);
    expect(out).toMatch(/rule se \(reduction=2, gateBias=auto\)/);
    expect(out).toMatch(/rule stack-small/);
    expect(err).toContain(`wrote ${folder}/graph.json and ${folder}/weights.safetensors`);
    const saved = await loadModel(folder);
    expect(saved.graph.nodes.some((n) => n.name === "body.conv2.conv2")).toBe(true);
    const file = join(dir, "g.json");
    const json = await run([
      "rewrite",
      "tiny",
      "--rule",
      "group:groups=2",
      "--where",
      "name=body.conv2",
      "--json",
      "-o",
      file,
    ]);
    const report = JSON.parse(json.out);
    expect(report.steps[0].sites.map((s: { node: string }) => s.node)).toEqual(["body.conv2"]);
    expect(report.steps[0].sites[0].error.relL2).toBeGreaterThan(0);
    const graph = parseGraph(await readFile(file, "utf8"));
    const conv = graph.nodes.find((n) => n.name === "body.conv2")!;
    expect(conv.op === "conv2d" && conv.attrs.groups).toBe(2);
  });

  it("--structural skips weights; ONNX goes through the injected or the default exporter and importer", async () => {
    const { out } = await run(["rewrite", "tiny", "--structural", "--rule", "separable", "--json"]);
    expect(JSON.parse(out).steps[0].sites[0].error).toBeNull();
    const exported: string[] = [];
    const onnx = join(dir, "m.onnx");
    await run(["rewrite", "tiny", "--rule", "deformable", "-o", onnx], {
      exportOnnx: (g: { name: string }) => {
        exported.push(g.name);
        return new Uint8Array([1, 2, 3]);
      },
    });
    expect(exported).toEqual(["chain"]);
    expect([...(await readFile(onnx))]).toEqual([1, 2, 3]);
    // The default exporter and importer (src/onnx): write, read back, rewrite again.
    const real = join(dir, "real.onnx");
    await run(["rewrite", "tiny", "--rule", "separable", "-o", real]);
    const again = await run(["rewrite", real, "--rule", "se", "--json"]);
    expect(JSON.parse(again.out).steps[0].sites.length).toBeGreaterThan(0);
    await expect(
      run(["rewrite", "tiny", "--structural", "--rule", "se", "-o", join(dir, "x.onnx")]),
    ).rejects.toThrow(/ONNX export needs weights/);
  });

  it("errors name what is wrong: rule, option, selector, model, --where count", async () => {
    await expect(run(["rewrite", "tiny", "--rule", "sep"])).rejects.toThrow(/unknown rule "sep"/);
    await expect(run(["rewrite", "tiny", "--rule", "se:ratio=2"])).rejects.toThrow(
      /rule "se": unknown option "ratio"/,
    );
    await expect(run(["rewrite", "tiny", "--rule", "se", "--where", "kernal>=5"])).rejects.toThrow(
      /unknown key "kernal"/,
    );
    await expect(run(["rewrite", "tiny", "--rule", "se", "--where", "kernel>=9"])).rejects.toThrow(
      /where "kernel>=9" selects nothing/,
    );
    await expect(run(["rewrite", "nope", "--rule", "se"])).rejects.toThrow(/unknown model "nope"/);
    await expect(run(["rewrite", "tiny"])).rejects.toThrow(/at least one --rule/);
    // Option values go through the shared parsers: usage errors (exit 2) naming the option.
    for (const [flag, value, expected] of [
      ["--seed", "-1", "--seed: expected a non-negative integer"],
      ["--samples", "0", "--samples: expected a positive integer"],
      ["--steps", "x", "--steps: expected a positive integer"],
      ["--lr", "0", "--lr: expected a positive number"],
      ["--input", "3x0x4", "--input: expected positive integers"],
    ]) {
      const failure = run(["rewrite", "tiny", "--rule", "se", flag, value]);
      await expect(failure).rejects.toThrow(expected);
      await expect(failure).rejects.toBeInstanceOf(UsageError);
    }
    expect(() => stepsFromFlags(["se", "group", "dense"], ["a=1", "b=2"])).toThrow(
      /got 2 --where for 3 --rule/,
    );
    expect(stepsFromFlags(["se", "group:groups=4"], ["kernel>=3"])).toEqual([
      { rule: "se", options: {}, where: "kernel>=3" },
      { rule: "group", options: { groups: "4" }, where: "kernel>=3" },
    ]);
  });
});
