import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as convkit from "../../src/index.js";

const root = resolve(import.meta.dirname, "../..");

/** The ```ts blocks of README.md that import from "convkit". */
function readmeExamples(): string[] {
  const text = readFileSync(join(root, "README.md"), "utf8");
  return [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((code) => code.includes('from "convkit"'));
}

describe("README", () => {
  it("has examples, and each runs against the source as printed", () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), "convkit-readme-"));
    try {
      examples.forEach((code, i) => {
        const file = join(dir, `example${i}.ts`);
        writeFileSync(
          file,
          code.replaceAll('from "convkit"', `from ${JSON.stringify(join(root, "src/index.ts"))}`),
        );
        const out = execFileSync(process.execPath, ["--import", "tsx", file], {
          cwd: root,
          encoding: "utf8",
        });
        const printed = [...code.matchAll(/console\.log\(.*\/\/ (.*)$/gm)].map((m) => m[1].trim());
        for (const expected of printed)
          expect(out.replace(/\s+/g, " ")).toContain(expected.replace(/\s+/g, " "));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shows the current output of every `$ convkit ...` transcript it prints", async () => {
    const { run } = await import("../../src/cli/main.js");
    const text = readFileSync(join(root, "README.md"), "utf8");
    const transcripts = [...text.matchAll(/```\n\$ convkit ([^\n]*)\n([\s\S]*?)```/g)];
    expect(transcripts.length).toBeGreaterThan(0);
    for (const [, command, printed] of transcripts) {
      // Only transcripts that are cheap and deterministic are kept in the README (no training runs).
      if (!command.startsWith("analyze ")) continue;
      let out = "";
      const code = await run(command.split(" "), { stdout: (s) => (out += s), stderr: () => {} });
      expect(code, command).toBe(0);
      expect(out.trimEnd(), command).toBe(printed.trimEnd());
    }
  });

  it("exports every name DESIGN.md promises from the package root", () => {
    const promised = [
      "tensor",
      "conv2d",
      "deformConv2d",
      "channelShuffle",
      "maxPool2d",
      "avgPool2d",
      "adaptiveAvgPool2d",
      "batchNorm2d",
      "relu",
      "sigmoid",
      "linear",
      "add",
      "mul",
      "concat",
      "zeros",
      "ones",
      "randn",
      "noGrad",
    ];
    const missing = promised.filter(
      (name) => typeof (convkit as Record<string, unknown>)[name] !== "function",
    );
    expect(missing).toEqual([]);
  });
});
