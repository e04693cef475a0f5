/**
 * Runs `convkit study ...` in a child process for the tests (resume after SIGKILL): the real command line
 * (src/cli/main.ts), writing plain progress lines. Exit code 0 done, 1 failed or interrupted, 2 usage.
 *
 *   npx tsx test/study/study-cli.ts --baseline fmnist-small --rules separable,se --epochs 1 -o DIR
 */
import { run } from "../../src/cli/main.js";

process.exitCode = await run(["study", ...process.argv.slice(2)], {
  env: { ...process.env, CONVKIT_PROGRESS: "plain" },
});
