import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { ArgumentError, describe } from "../tensor/errors.js";

/**
 * The static file server behind `convkit serve`: the built web page (dist/web) on the loopback interface, with
 * the headers that make the page cross-origin isolated (COOP: same-origin, COEP: require-corp), which is what
 * lets browsers hand it SharedArrayBuffer and so run the WebAssembly kernels on several threads.
 *
 * It is a local viewer, not a web server: it binds to 127.0.0.1 (or ::1) only, answers GET and HEAD only,
 * serves nothing outside its root (no `..`, no symbolic links leading out), and refuses requests whose Host
 * header is not a loopback name, so that a web site cannot reach it through DNS rebinding. A content security
 * policy keeps the page to its own origin: it cannot fetch from, connect to or load anything elsewhere.
 */

export interface StaticServerOptions {
  /** Folder served (an index.html at its top). */
  root: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Loopback address to bind: "127.0.0.1" (default) or "::1". */
  host?: "127.0.0.1" | "::1";
  /** Send the cross-origin isolation headers (default true; false to see the one-thread fallback). */
  isolation?: boolean;
}

export interface StaticServer {
  server: Server;
  /** "http://127.0.0.1:PORT/". */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
  ".gz": "application/gzip",
  ".onnx": "application/octet-stream",
  ".map": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

/**
 * The page's content security policy: everything from its own origin only. Workers and the thread pool's
 * workers come from blob: URLs, drawings and downloads use data: and blob: URLs; WebAssembly needs
 * 'wasm-unsafe-eval' and the ONNX codec (protobufjs) generates its coders with `Function`, hence 'unsafe-eval'.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval' blob:",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self' data: blob:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers sent with every response. */
export function responseHeaders(isolation: boolean): Record<string, string> {
  const headers: Record<string, string> = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
  };
  if (isolation) {
    headers["Cross-Origin-Opener-Policy"] = "same-origin";
    headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    headers["Cross-Origin-Resource-Policy"] = "same-origin";
  }
  return headers;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Whether a Host header names this machine's loopback interface (any port). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return LOOPBACK_HOSTS.has(name.toLowerCase());
}

/**
 * The file under `root` a URL path names, or null when it names nothing there (`..`, encoded separators or
 * NUL bytes, a bad escape). "/" and paths ending in "/" name index.html.
 */
export function resolveRequestPath(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  } catch {
    return null;
  }
  if (!path.startsWith("/") || path.includes("\0") || path.includes("\\")) return null;
  if (path.split("/").some((part) => part === "..")) return null;
  if (path.endsWith("/")) path += "index.html";
  const full = normalize(join(root, path));
  const base = normalize(root.endsWith(sep) ? root : root + sep);
  return full.startsWith(base) ? full : null;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, { ...headers, "Content-Type": "text/plain; charset=utf-8" });
  res.end(body);
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  realRoot: string,
  isolation: boolean,
): Promise<void> {
  const headers = responseHeaders(isolation);
  if (!isLoopbackHost(req.headers.host)) {
    send(res, 403, headers, "convkit serve answers only requests to localhost\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, { ...headers, Allow: "GET, HEAD" }, "method not allowed\n");
    return;
  }
  const file = resolveRequestPath(root, req.url ?? "/");
  if (file === null) {
    send(res, 400, headers, "bad path\n");
    return;
  }
  let real: string;
  let size: number;
  try {
    real = await realpath(file);
    const info = await stat(real);
    if (!info.isFile()) throw new Error("not a file");
    size = info.size;
  } catch {
    send(res, 404, headers, "not found\n");
    return;
  }
  // A symbolic link inside the root must not lead out of it.
  if (!real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
    send(res, 404, headers, "not found\n");
    return;
  }
  res.writeHead(200, {
    ...headers,
    "Content-Type": MIME[extname(real).toLowerCase()] ?? "application/octet-stream",
    "Content-Length": String(size),
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(real)
    .on("error", () => res.destroy())
    .pipe(res);
}

/** Starts the server; resolves once it listens. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const host = options.host ?? "127.0.0.1";
  if (host !== "127.0.0.1" && host !== "::1") {
    throw new ArgumentError(describe("serve", "host", "a loopback address (127.0.0.1 or ::1)", host));
  }
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) {
    throw new ArgumentError(describe("serve", "port", "an integer from 0 to 65535", port));
  }
  const isolation = options.isolation ?? true;
  const root = normalize(options.root);
  const realRoot = await realpath(root);
  const server = createServer((req, res) => {
    handle(req, res, root, realRoot, isolation).catch(() => {
      if (!res.headersSent) send(res, 500, responseHeaders(isolation), "internal error\n");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host === "::1" ? "[::1]" : host;
  return {
    server,
    url: `http://${shown}:${actual}/`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
