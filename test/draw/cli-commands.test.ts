import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import type { CliContext } from "../../src/cli/context.js";
import { UsageError } from "../../src/cli/errors.js";
import { addDrawCommand, DRAW_MODES, drawFromArgs } from "../../src/draw/cli-commands.js";
import { fmnistSmall } from "../../src/zoo/index.js";
import { byClass, parseSvg } from "./xml.js";

function context(out: string[] = []): CliContext {
  return {
    stdout: (s) => out.push(s),
    stderr: () => {},
    env: {},
    zoo: async () => ({ "fmnist-small": fmnistSmall }),
  };
}

const flags = (extra: Record<string, string | boolean> = {}) => ({ seed: "0", image: "0", ...extra });

describe("convkit draw", () => {
  it("draws each parameter mode as well-formed SVG", async () => {
    const ctx = context();
    for (const [mode, extra] of [
      ["grid", { kernel: "3", dilation: "2", padding: "2", size: "9" }],
      ["asymmetric", { kernel: "5" }],
      ["stack", { stacks: "3,3d2,3d4/3d2,3d2,3d2" }],
      ["group", { inChannels: "8", outChannels: "4", groups: "2" }],
      ["depthwise", {}],
      ["pointwise", {}],
      ["shuffle", { channels: "6", groups: "3" }],
      ["deformable", { image: "2" }],
    ] as const) {
      const svg = await drawFromArgs(mode, undefined, flags(extra), ctx);
      expect(() => parseSvg(svg), mode).not.toThrow();
    }
    const grid = parseSvg(
      await drawFromArgs(
        "grid",
        undefined,
        flags({ kernel: "3", dilation: "2", padding: "2", size: "9" }),
        ctx,
      ),
    );
    expect(byClass(grid, "tap").length).toBe(9);
    const stack = parseSvg(
      await drawFromArgs("stack", undefined, flags({ stacks: "3,3d2,3d4/3d2,3d2,3d2" }), ctx),
    );
    expect(byClass(stack, "stack").map((s) => s.attrs["data-field"])).toEqual(["15", "13"]);
  });

  it("draws a model by name, whole or as a receptive field", async () => {
    const ctx = context();
    const whole = parseSvg(await drawFromArgs("fmnist-small", undefined, flags(), ctx));
    expect(byClass(whole, "unit").length).toBeGreaterThan(5);
    const collapsed = parseSvg(await drawFromArgs("model", "fmnist-small", flags({ depth: "1" }), ctx));
    expect(byClass(collapsed, "unit").map((u) => u.attrs["data-key"])).toContain("features");
    const rf = parseSvg(
      await drawFromArgs("rf", "fmnist-small", flags({ layer: "features.conv2.relu", samples: "1" }), ctx),
    );
    expect(byClass(rf, "theoretical").length).toBe(1);
  });

  it("says what is wrong with a command line", async () => {
    const ctx = context();
    await expect(drawFromArgs("inception", undefined, flags(), ctx)).rejects.toThrow(UsageError);
    await expect(drawFromArgs("residual", "fmnist-small", flags(), ctx)).rejects.toThrow(/--scope/);
    await expect(drawFromArgs("grid", "resnet18", flags(), ctx)).rejects.toThrow(/no <model>/);
    await expect(drawFromArgs("grid", undefined, flags({ kernel: "x" }), ctx)).rejects.toThrow(/--kernel/);
    await expect(drawFromArgs("stack", undefined, flags({ stacks: "3q" }), ctx)).rejects.toThrow(/--stacks/);
    await expect(drawFromArgs("line", undefined, flags(), ctx)).rejects.toThrow(/--data/);
    await expect(drawFromArgs("nomode", "extra", flags(), ctx)).rejects.toThrow(/unknown mode/);
    expect(Object.keys(DRAW_MODES)).toContain("shuffle");
  });

  it("registers on a commander program and writes the file given with -o", async () => {
    const dir = mkdtempSync(join(tmpdir(), "convkit-draw-"));
    try {
      const program = new Command("convkit").exitOverride();
      addDrawCommand(program, context());
      const file = join(dir, "shuffle.svg");
      await program.parseAsync(["draw", "shuffle", "--channels", "4", "--groups", "2", "-o", file], {
        from: "user",
      });
      expect(byClass(parseSvg(readFileSync(file, "utf8")), "panel").length).toBe(3);
      const again = new Command("convkit").exitOverride();
      addDrawCommand(again, context());
      await expect(
        again.parseAsync(["draw", "grid", "-o", join(dir, "x.png")], { from: "user" }),
      ).rejects.toThrow(/PNG/);
      const out: string[] = [];
      const third = new Command("convkit").exitOverride();
      addDrawCommand(third, context(out));
      await third.parseAsync(["draw", "pointwise"], { from: "user" });
      expect(out.join("")).toMatch(/^<svg /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
