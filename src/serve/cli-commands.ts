import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { parseNonNegativeInt } from "../cli/args.js";
import type { CliContext } from "../cli/context.js";
import { CliError } from "../cli/errors.js";
import { type StaticServer, startStaticServer } from "./server.js";

/**
 * `convkit serve [--port N]`: the web page (built by `npm run build:web` into dist/web) on http://127.0.0.1,
 * cross-origin isolated so that the kernels run on several threads. Ctrl-C stops it. The CLI owner registers
 * it with `addServeCommand(program, ctx)`.
 */

/** The built page: dist/web of the package (this file is src/serve/ or dist/serve/, two levels below the root). */
export function defaultSiteDir(): string {
  return fileURLToPath(new URL("../../dist/web/", import.meta.url));
}

export const DEFAULT_PORT = 8080;

export interface ServeOptions {
  port?: number;
  /** Folder to serve (default: the built page). */
  root?: string;
  /** Cross-origin isolation headers (default true). */
  isolation?: boolean;
}

/** Starts serving and says where; the caller stops it with `close()`. */
export async function startServe(
  options: ServeOptions,
  ctx: Pick<CliContext, "stdout">,
): Promise<StaticServer> {
  const root = resolve(options.root ?? defaultSiteDir());
  if (!existsSync(join(root, "index.html"))) {
    throw new CliError(
      `serve: no web page in ${root} (expected index.html): build it with npm run build:web, or give --root DIR`,
    );
  }
  const port = options.port ?? DEFAULT_PORT;
  let server: StaticServer;
  try {
    server = await startStaticServer({ root, port, isolation: options.isolation ?? true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EADDRINUSE") {
      throw new CliError(`serve: port ${port} is in use: pick another with --port (0 picks a free one)`);
    }
    throw e;
  }
  const isolation = options.isolation ?? true;
  ctx.stdout(
    `convkit serve: ${server.url}\n` +
      `  serving ${root} on this machine only (127.0.0.1)\n` +
      `  ${isolation ? "cross-origin isolated (COOP/COEP): the kernels run on several threads" : "without cross-origin isolation: the page runs on one thread"}\n` +
      "  press Ctrl-C to stop\n",
  );
  return server;
}

interface ServeFlags {
  port?: string;
  root?: string;
  isolation: boolean;
}

export function addServeCommand(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("serve the web page (modes, models, rewrites, training in the browser) on http://127.0.0.1")
    .option("-p, --port <n>", `port (default ${DEFAULT_PORT}; 0 picks a free one)`)
    .option("--root <dir>", "folder to serve (default: the built page, dist/web)")
    .option(
      "--no-isolation",
      "leave out the cross-origin isolation headers (the page then runs on one thread)",
    )
    .action(async (flags: ServeFlags) => {
      const port = flags.port === undefined ? DEFAULT_PORT : parseNonNegativeInt(flags.port, "--port");
      if (port > 65535) throw new CliError(`serve: --port must be at most 65535, got ${port}`);
      const server = await startServe({ port, root: flags.root, isolation: flags.isolation }, ctx);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          void server.close().then(done);
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
