import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { analyze } from "../../src/analyze/analyze.js";
import { parsePositiveInt, parseShape } from "../../src/cli/args.js";
import { UsageError } from "../../src/cli/errors.js";
import type { ZooRegistry } from "../../src/cli/zoo.js";
import { GraphBuilder } from "../../src/graph/builder.js";
import { serializeGraph } from "../../src/graph/serialize.js";
import type { Graph } from "../../src/graph/types.js";
import { runCli } from "./helpers.js";

/** The CLI in-process: `run` with captured output and an injected zoo. */

function toy(size = 8): Graph {
  const b = new GraphBuilder("toy");
  const x = b.input("input", [2, size, size]);
  b.output(b.conv2d(x, { outChannels: 3, kernelSize: 3, padding: 1, name: "c" }));
  return b.build().graph;
}

const cli = runCli;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("option parsers", () => {
  it("reads CxHxW shapes and positive integers", () => {
    expect(parseShape("3x224x224")).toEqual([3, 224, 224]);
    expect(parseShape("1X3x32x32")).toEqual([1, 3, 32, 32]);
    expect(parseShape("3,28,28")).toEqual([3, 28, 28]);
    expect(parsePositiveInt("8", "--batch")).toBe(8);
    for (const bad of ["3xfoo", "3x0x4", "", "3x-1", "3xx4", "3.5x2"]) {
      expect(() => parseShape(bad), bad).toThrowError(UsageError);
    }
    expect(() => parsePositiveInt("0", "--batch")).toThrowError(
      /--batch: expected a positive integer, got "0"/,
    );
    expect(() => parsePositiveInt("two", "--depth")).toThrowError(/--depth/);
  });
});

describe("run", () => {
  it("analyses a zoo model, passing the asked input size to its factory", async () => {
    const asked: unknown[] = [];
    const zoo: ZooRegistry = {
      toy: (options) => {
        asked.push(options);
        const size = options?.inputSize;
        return { graph: toy(Array.isArray(size) ? size[0] : 8) };
      },
    };
    const r = await cli(["analyze", "toy", "--json", "--input", "2x16x16"], zoo);
    expect(r.code, r.stderr).toBe(0);
    expect(asked).toEqual([{ inChannels: 2, inputSize: [16, 16] }]);
    expect(JSON.parse(r.stdout).totals).toEqual(analyze(toy(16)).totals);
    const plain = await cli(["analyze", "toy"], zoo);
    expect(asked[1]).toBeUndefined();
    expect(plain.stdout).toMatch(/^Layer/);
  });

  it("reads a folder written by saveModel (its graph.json)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "convkit-run-"));
    dirs.push(dir);
    writeFileSync(join(dir, "graph.json"), serializeGraph(toy()));
    const r = await cli(["analyze", dir, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).model).toBe("toy");
  });

  it("reports a corrupt graph file in one line naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "convkit-run-"));
    dirs.push(dir);
    const path = join(dir, "bad.json");
    writeFileSync(path, '{"format": "convkit.graph", "version": 7}');
    const r = await cli(["analyze", path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^convkit: .*bad\.json.*version: expected 1, got 7\n$/);
  });

  it("says when there is no zoo, and lists the zoo's names for an unknown one", async () => {
    const none = await cli(["analyze", "resnet18"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no model zoo/);
    const r = await cli(["analyze", "toyy"], {
      toy: () => ({ graph: toy() }),
      other: () => ({ graph: toy() }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'convkit: unknown model "toyy": not a zoo name nor a model file; did you mean "toy"? zoo models: other, toy\n',
    );
  });

  it("exits 2 with the help on stderr when no command is given; --version prints the version", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: convkit/);
    const v = await cli(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it("has every command, study first; study answers a bad command line with exit code 2 before any work", async () => {
    const help = await cli(["--help"]);
    const commands = [...help.stdout.matchAll(/^ {2}(\w+)/gm)].map((m) => m[1]);
    expect(commands.slice(0, 2)).toEqual(["study", "analyze"]);
    for (const c of ["run", "convert", "train", "draw", "export", "rewrite", "rules", "serve"])
      expect(commands, c).toContain(c);
    for (const [argv, message] of [
      [["--epochs", "2", "--budget", "3"], "--epochs and --budget: choose one"],
      [["--epochs", "0"], '--epochs: expected a positive integer, got "0"'],
      [["--kernels", "gpu"], '--kernels: expected one of auto, wasm, reference, got "gpu"'],
      [["--data", "x", "--full"], "--data, --embedded and --full: choose one"],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), "convkit-study-usage-"));
      dirs.push(dir);
      const r = await cli(["study", ...argv, "-o", join(dir, "out")]);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toBe(`convkit: ${message}\n`);
    }
  });
});
