import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliError, UsageError } from "../../src/cli/errors.js";
import { addServeCommand, startServe } from "../../src/serve/cli-commands.js";
import {
  CONTENT_SECURITY_POLICY,
  isLoopbackHost,
  resolveRequestPath,
  type StaticServer,
  startStaticServer,
} from "../../src/serve/server.js";

/** A raw HTTP request (the path is sent exactly as given, unlike fetch, which normalises "..") */
function get(
  server: StaticServer,
  path: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: server.port,
        path,
        method: options.method ?? "GET",
        headers: { Host: options.host ?? `127.0.0.1:${server.port}` },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

let dir: string;
let site: string;
let isolated: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "convkit-serve-"));
  site = join(dir, "site");
  mkdirSync(join(site, "assets"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<!doctype html><title>t</title>");
  writeFileSync(join(site, "assets", "app.js"), "export {};");
  writeFileSync(join(site, "assets", "data.gz"), new Uint8Array([0x1f, 0x8b, 1, 2]));
  writeFileSync(join(dir, "secret.txt"), "secret");
  symlinkSync(join(dir, "secret.txt"), join(site, "leak.txt"));
  isolated = await startStaticServer({ root: site });
  plain = await startStaticServer({ root: site, isolation: false });
});

afterAll(async () => {
  await isolated.close();
  await plain.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("convkit serve's server", () => {
  it("serves the page with cross-origin isolation and a same-origin content security policy", async () => {
    expect(isolated.url).toBe(`http://127.0.0.1:${isolated.port}/`);
    const r = await get(isolated, "/");
    expect(r.status).toBe(200);
    expect(r.body).toContain("<title>t</title>");
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.headers["cross-origin-opener-policy"]).toBe("same-origin");
    expect(r.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    expect(r.headers["cross-origin-resource-policy"]).toBe("same-origin");
    expect(r.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self' data: blob:");
    expect(r.headers["x-content-type-options"]).toBe("nosniff");
    const js = await get(isolated, "/assets/app.js");
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    // Gzipped data goes out as bytes, not as a content encoding the browser would undo.
    const gz = await get(isolated, "/assets/data.gz");
    expect(gz.headers["content-type"]).toBe("application/gzip");
    expect(gz.headers["content-encoding"]).toBeUndefined();
    expect(gz.headers["content-length"]).toBe("4");
  });

  it("leaves the isolation headers out when asked (the one-thread fallback)", async () => {
    const r = await get(plain, "/");
    expect(r.status).toBe(200);
    expect(r.headers["cross-origin-opener-policy"]).toBeUndefined();
    expect(r.headers["cross-origin-embedder-policy"]).toBeUndefined();
    expect(r.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
  });

  it("serves nothing outside its folder", async () => {
    for (const path of [
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/a%00b",
      "/%E0%A4%A",
    ]) {
      const r = await get(isolated, path);
      expect(r.status, path).toBe(400);
      expect(r.body).not.toContain("secret");
    }
    const link = await get(isolated, "/leak.txt");
    expect(link.status).toBe(404);
    expect(link.body).not.toContain("secret");
    expect((await get(isolated, "/missing.js")).status).toBe(404);
    expect((await get(isolated, "/assets")).status).toBe(404);
  });

  it("answers only GET and HEAD, and only requests addressed to localhost", async () => {
    const head = await get(isolated, "/assets/app.js", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBe("10");
    const post = await get(isolated, "/", { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
    // DNS rebinding: a page of another site that resolves its name to 127.0.0.1 sends its own Host header.
    expect((await get(isolated, "/", { host: "evil.example:80" })).status).toBe(403);
    expect((await get(isolated, "/", { host: `localhost:${isolated.port}` })).status).toBe(200);
    expect(isLoopbackHost("[::1]:8080")).toBe(true);
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("127.0.0.1.evil.example")).toBe(false);
    expect(isLoopbackHost(undefined)).toBe(false);
  });

  it("maps URL paths to files under the root", () => {
    expect(resolveRequestPath("/srv/site", "/")).toBe("/srv/site/index.html");
    expect(resolveRequestPath("/srv/site", "/a/b.js?x=1#y")).toBe("/srv/site/a/b.js");
    expect(resolveRequestPath("/srv/site", "/a%20b.js")).toBe("/srv/site/a b.js");
    expect(resolveRequestPath("/srv/site", "/../x")).toBeNull();
    expect(resolveRequestPath("/srv/site", "relative")).toBeNull();
    expect(resolveRequestPath("/srv/site", "/a\\..\\x")).toBeNull();
  });

  it("binds to loopback only and checks its options", async () => {
    await expect(startStaticServer({ root: site, host: "0.0.0.0" as "127.0.0.1" })).rejects.toThrow(
      /loopback/,
    );
    await expect(startStaticServer({ root: site, port: 70000 })).rejects.toThrow(/port/);
    expect(isolated.server.address()).toMatchObject({ address: "127.0.0.1" });
  });
});

describe("convkit serve (command)", () => {
  it("says where it serves, and refuses a folder without a page or a port in use", async () => {
    let out = "";
    const server = await startServe({ root: site, port: 0 }, { stdout: (s) => (out += s) });
    try {
      expect(out).toContain(server.url);
      expect(out).toMatch(/cross-origin isolated/);
      await expect(startServe({ root: site, port: server.port }, { stdout: () => {} })).rejects.toThrow(
        new CliError(`serve: port ${server.port} is in use: pick another with --port (0 picks a free one)`),
      );
    } finally {
      await server.close();
    }
    await expect(startServe({ root: dir, port: 0 }, { stdout: () => {} })).rejects.toThrow(
      /npm run build:web/,
    );
  });

  it("rejects a malformed --port before starting anything", async () => {
    const program = new Command("convkit").exitOverride();
    addServeCommand(program, { stdout: () => {}, stderr: () => {}, env: {}, zoo: async () => null });
    await expect(program.parseAsync(["serve", "--port", "x"], { from: "user" })).rejects.toThrow(UsageError);
    await expect(program.parseAsync(["serve", "--port", "70000"], { from: "user" })).rejects.toThrow(/65535/);
  });
});
