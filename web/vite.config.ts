import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * The web page: `npm run build:web` (vite build --config web/vite.config.ts) writes the static site to
 * dist/web, which `convkit serve` serves. Everything the page needs is in that folder: the library compiled in,
 * the WebAssembly kernels (embedded in the library as base64), and the embedded Fashion-MNIST subset copied
 * from data/fashion-mnist-subset. Nothing is fetched from anywhere else.
 */

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The four IDX files of the embedded Fashion-MNIST subset, served at data/fashion-mnist-subset/. */
export const FMNIST_FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
] as const;

const DATA_URL = "data/fashion-mnist-subset/";

/** Copies the dataset into the site at build time and serves it from the repository in `vite dev`. */
function fashionMnistData(): Plugin {
  return {
    name: "convkit-fashion-mnist-data",
    generateBundle() {
      for (const file of FMNIST_FILES) {
        this.emitFile({
          type: "asset",
          fileName: `${DATA_URL}${file}`,
          source: readFileSync(here(`../data/fashion-mnist-subset/${file}`)),
        });
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const match = /\/data\/fashion-mnist-subset\/([^/?#]+)$/.exec(req.url?.split("?")[0] ?? "");
        const file = FMNIST_FILES.find((f) => f === match?.[1]);
        if (file === undefined) return next();
        res.setHeader("Content-Type", "application/gzip");
        res.end(readFileSync(here(`../data/fashion-mnist-subset/${file}`)));
      });
    },
  };
}

/**
 * Node built-ins some library modules import at top level for their file helpers (src/data/idx.ts reads IDX
 * files, src/io/atomic.ts writes atomically...), though the page never calls those helpers. Vite would replace
 * them by an empty module: fine in a build, but `vite dev` then fails on the named imports. Each is replaced by
 * a stub with these names that throws, naming the function, if a Node-only path is ever reached. A library
 * module importing a name not listed fails the build: a new browser-safety problem shows up at once.
 */
const NODE_STUBS: Record<string, readonly string[]> = {
  fs: [
    "readFileSync",
    "writeFileSync",
    "existsSync",
    "mkdirSync",
    "readdirSync",
    "statSync",
    "rmSync",
    "openSync",
    "closeSync",
    "fsyncSync",
    "writeSync",
    "renameSync",
    "createReadStream",
  ],
  "fs/promises": ["readFile", "writeFile", "stat", "mkdir", "open", "rename", "rm", "readdir", "copyFile"],
  path: ["join", "dirname", "basename", "extname", "resolve", "relative", "normalize"],
  url: ["fileURLToPath", "pathToFileURL"],
  crypto: ["createHash"],
  module: ["createRequire"],
  os: ["tmpdir", "cpus", "availableParallelism"],
  worker_threads: ["Worker"],
};

const STUB_PREFIX = "\0convkit-node-stub:";

function nodeStubs(): Plugin {
  return {
    name: "convkit-node-stubs",
    enforce: "pre",
    resolveId(id) {
      if (!id.startsWith("node:")) return null;
      const name = id.slice(5);
      return Object.hasOwn(NODE_STUBS, name) ? STUB_PREFIX + name : null;
    },
    load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const name = id.slice(STUB_PREFIX.length);
      const names = NODE_STUBS[name];
      const lines = names.map((n) => `export const ${n} = unavailable(${JSON.stringify(n)});`);
      return [
        "function unavailable(fn) {",
        `  return () => { throw new Error(\`node:${name}.\${fn} is not available in the browser (a Node-only path of the library was reached)\`); };`,
        "}",
        ...lines,
        `export default { ${names.join(", ")} };`,
      ].join("\n");
    },
  };
}

/** Cross-origin isolation, so that `vite dev` and `vite preview` behave as `convkit serve` (threads on). */
const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  root: here("."),
  base: "./",
  publicDir: here("public"),
  plugins: [nodeStubs(), fashionMnistData()],
  worker: { format: "es", plugins: () => [nodeStubs()] },
  build: {
    outDir: here("../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    // The library is one bundle of ~600 KB (190 KB gzipped), WebAssembly kernels included: no point splitting.
    chunkSizeWarningLimit: 2000,
    reportCompressedSize: false,
  },
  server: { headers: ISOLATION },
  preview: { headers: ISOLATION },
});
