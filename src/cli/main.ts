import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { addDrawCommand } from "../draw/cli-commands.js";
import { addExportCommand } from "../export/cli-commands.js";
import { convkitVersion } from "../io/version.js";
import { addRewriteCommands } from "../rewrite/cli-commands.js";
import { addServeCommand } from "../serve/cli-commands.js";
import { addStudyCommand } from "../study/cli-commands.js";
import { errorMessage } from "../tensor/errors.js";
import { addTrainCommand } from "../train/cli-commands.js";
import { addAnalyzeCommand } from "./analyze-command.js";
import type { CliContext } from "./context.js";
import { addConvertCommand } from "./convert-command.js";
import { EXIT_OK, EXIT_USAGE, exitCodeOf, oneLine } from "./errors.js";
import { addRunCommand } from "./run-command.js";
import { loadZoo } from "./zoo.js";

/**
 * The `convkit` command line: a thin front end over the library (commander). `run` executes one command line
 * and returns the exit code; bin/convkit.mjs calls it on the built dist/, and `npx tsx src/cli/main.ts ...`
 * runs this file directly during development.
 */

/** The program with every command, writing through `ctx`. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command("convkit");
  // Settings first: commander copies them into the subcommands created afterwards.
  program
    .description(
      "convkit: convolution methods of modern CNNs, a model graph, its analysis, and ONNX in and out",
    )
    .version(convkitVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout(s),
      writeErr: (s) => ctx.stderr(s),
      // Commander's own usage errors ("error: unknown option '--x'") become our one-line form.
      outputError: () => {},
    })
    .showSuggestionAfterError(true);
  addStudyCommand(program, ctx);
  addAnalyzeCommand(program, ctx);
  addRunCommand(program, ctx);
  addConvertCommand(program, ctx);
  addTrainCommand(program, ctx);
  addDrawCommand(program, ctx);
  addExportCommand(program, ctx);
  addRewriteCommands(program, { stdout: ctx.stdout, stderr: ctx.stderr });
  addServeCommand(program, ctx);
  return program;
}

/** Runs one command line (`argv` without the node and script paths) and returns the exit code. */
export async function run(argv: readonly string[], context: Partial<CliContext> = {}): Promise<number> {
  const ctx: CliContext = {
    stdout: context.stdout ?? ((s) => process.stdout.write(s)),
    stderr: context.stderr ?? ((s) => process.stderr.write(s)),
    env: context.env ?? process.env,
    zoo: context.zoo ?? loadZoo,
  };
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version requests end through here too, with exit code 0.
      if (e.exitCode === 0) return EXIT_OK;
      // No command given: commander has printed the help on stderr already.
      if (e.code === "commander.help") return EXIT_USAGE;
      const message = e.message.replace(/^error:\s*/, "");
      const command = program.commands.some((c) => c.name() === argv[0]) ? `${argv[0]} ` : "";
      ctx.stderr(`convkit: ${oneLine(message)} (see convkit ${command}--help)\n`);
      return EXIT_USAGE;
    }
    const message = errorMessage(e);
    ctx.stderr(`convkit: ${oneLine(message)}\n`);
    if (ctx.env.CONVKIT_DEBUG === "1" && e instanceof Error && e.stack) ctx.stderr(`${e.stack}\n`);
    return exitCodeOf(e);
  }
}

/** Whether this module is the process entry point (`tsx src/cli/main.ts`, `node dist/cli/main.js`). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = await run(process.argv.slice(2));
}
