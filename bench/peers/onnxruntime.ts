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
    const x = new ort.Tensor("float32", work.x, [work.batch, work.shape.cIn, work.shape.h, work.shape.w]);
    const d = work.deform;
    if (!d) return { x };
    const planes = [work.batch, -1, work.g.hOut, work.g.wOut];
    const dims = (data: Float32Array) =>
      planes.map((v) => (v < 0 ? data.length / (work.batch * work.g.hOut * work.g.wOut) : v));
    return {
      x,
      offset: new ort.Tensor("float32", d.offset, dims(d.offset)),
      mask: new ort.Tensor("float32", d.mask, dims(d.mask)),
    };
  }

  return {
    name: "onnxruntime",
    kind: "native",
    version,
    note: "forward only (onnxruntime-node has no training ops); includes binding the input and returning the output; deformable: the DeformConv op (opset 19)",
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
