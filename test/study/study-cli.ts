/**
 * Runs `convkit study ...` in a child process for the tests (resume after SIGKILL): a commander program with
 * only the study command, writing plain progress lines. Exit code 0 done, 1 failed or interrupted, 2 usage.
 *
 *   npx tsx test/study/study-cli.ts --baseline fmnist-small --rules separable,se --epochs 1 -o DIR
 */
import { Command, CommanderError } from "commander";
import { CliError, UsageError } from "../../src/cli/errors.js";
import { addStudyCommand } from "../../src/study/cli-commands.js";
import { zoo } from "../../src/zoo/index.js";

const program = new Command("convkit").exitOverride();
addStudyCommand(program, {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: { ...process.env, CONVKIT_PROGRESS: "plain" },
  zoo: async () => zoo,
});
try {
  await program.parseAsync(["study", ...process.argv.slice(2)], { from: "user" });
  process.exitCode = 0;
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
  else {
    process.stderr.write(`convkit: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.CONVKIT_DEBUG === "1" && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = e instanceof UsageError ? 2 : e instanceof CliError ? 1 : 1;
  }
}
