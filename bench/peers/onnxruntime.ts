import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import type { Engine, Workload } from "../engine.js";
import type { Direction } from "../shapes.js";
import { type TimingPlan, timeCallsAsync } from "../timing.js";
import { convModelBytes } from "./onnx-model.js";

const require = createRequire(import.meta.url);

/** ONNX Runtime (CPU execution provider, MLAS kernels), one intra-op thread, sequential execution. */
export async function onnxRuntimeEngine(): Promise<Engine> {
  const version: string = require("onnxruntime-node/package.json").version;
  let cached: { key: string; session: ort.InferenceSession } | null = null;

  async function sessionFor(work: Workload): Promise<ort.InferenceSession> {
    const key = `${work.shape.name}/${work.batch}`;
    if (cached?.key === key) return cached.session;
    await cached?.session.release();
    const outDims = [work.batch, work.g.cOut, work.g.hOut, work.g.wOut];
    const session = await ort.InferenceSession.create(
      convModelBytes(work.shape, work.batch, work.w, outDims),
      {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      },
    );
    cached = { key, session };
    return session;
  }

  function feeds(work: Workload): Record<string, ort.Tensor> {
    return { x: new ort.Tensor("float32", work.x, [work.batch, work.shape.cIn, work.shape.h, work.shape.w]) };
  }

  return {
    name: "onnxruntime",
    kind: "native",
    version,
    note: "forward only (onnxruntime-node has no training ops); includes binding the input and returning the output",
    async measure(work: Workload, direction: Direction, plan: TimingPlan) {
      if (direction !== "forward") return null;
      const session = await sessionFor(work);
      const input = feeds(work);
      return timeCallsAsync(() => session.run(input), plan);
    },
    async forwardOutput(work: Workload) {
      const session = await sessionFor(work);
      const out = await session.run(feeds(work));
      return out.y.data as Float32Array;
    },
    async close() {
      await cached?.session.release();
      cached = null;
    },
  };
}
