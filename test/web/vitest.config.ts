import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

/**
 * The browser suite: the web page built once (test/web/setup.ts), served by convkit serve's server and driven
 * in Debian's chromium with playwright-core. One file at a time (each starts a browser; the machine is small).
 *
 *   npx vitest run --config test/web/vitest.config.ts
 *
 * Screenshots and downloads land in tmp/web-test/artifacts/.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["test/web/**/*.browser.ts"],
    globalSetup: ["test/web/setup.ts"],
    testTimeout: 150_000,
    hookTimeout: 150_000,
    fileParallelism: false,
    pool: "forks",
  },
});
