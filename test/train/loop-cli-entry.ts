/**
 * Child process for loop-cli.test.ts (not a test itself): the `convkit` program of src/cli/main.ts with
 * the `train` command added when main.ts does not register it yet, run on argv like bin/convkit.mjs.
 */
import { CommanderError } from "commander";
import type { CliContext } from "../../src/cli/context.js";
import { exitCodeOf, oneLine } from "../../src/cli/errors.js";
import { createProgram } from "../../src/cli/main.js";
import { loadZoo } from "../../src/cli/zoo.js";
import { addTrainCommand } from "../../src/train/cli-commands.js";

const ctx: CliContext = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  zoo: loadZoo,
};
const program = createProgram(ctx);
if (!program.commands.some((c) => c.name() === "train")) addTrainCommand(program, ctx);
try {
  await program.parseAsync(process.argv.slice(2), { from: "user" });
} catch (e) {
  if (e instanceof CommanderError) {
    process.stderr.write(`convkit: ${oneLine(e.message)}\n`);
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`convkit: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    process.exitCode = exitCodeOf(e);
  }
}
