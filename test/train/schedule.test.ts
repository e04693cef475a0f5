import { afterAll, describe, expect, it } from "vitest";
import { Tensor } from "../../src/autograd/tensor.js";
import { ArgumentError, FormatError } from "../../src/tensor/errors.js";
import {
  cosineSchedule,
  LrScheduler,
  linearSchedule,
  multiStepSchedule,
  type Schedule,
  sequentialSchedule,
  stepSchedule,
  warmupCosineSchedule,
} from "../../src/train/schedule.js";
import { SGD } from "../../src/train/sgd.js";
import { expectClose } from "../helpers/close.js";
import { loadGolden } from "../helpers/golden.js";

interface ScheduleCase {
  op: "schedule";
  name: string;
  schedule: string;
  // biome-ignore lint/suspicious/noExplicitAny: fixture arguments, passed to the schedule factories which check them
  args: any;
  baseLrs: number[];
  lrs: number[][];
}

const cases = (loadGolden("optim").cases as unknown as { op: string }[]).filter(
  (c): c is ScheduleCase => c.op === "schedule",
);
let worst = 0;
afterAll(() => {
  console.log(
    `schedule fixtures: ${cases.length} cases x 21 epochs x 2 groups, worst relative error ${worst.toExponential(2)}`,
  );
});

// biome-ignore lint/suspicious/noExplicitAny: as above
function make(kind: string, args: any): Schedule {
  switch (kind) {
    case "step":
      return stepSchedule(args);
    case "multiStep":
      return multiStepSchedule(args);
    case "cosine":
      return cosineSchedule(args);
    case "linear":
      return linearSchedule(args);
    case "warmupCosine":
      return warmupCosineSchedule(args);
    case "sequential":
      return sequentialSchedule(
        (args.schedules as [string, unknown][]).map(([k, a]) => make(k, a)),
        args.milestones,
      );
    default:
      throw new Error(`unknown schedule ${kind}`);
  }
}

function optimizerWith(baseLrs: number[]): SGD {
  return new SGD(
    baseLrs.map((lr) => ({ params: [new Tensor(new Float32Array(1), [1], true)], lr })),
    { lr: baseLrs[0] },
  );
}

describe("learning-rate schedules against torch.optim.lr_scheduler", () => {
  it("has the fixture cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  for (const c of cases) {
    it(`${c.name}: lr per epoch matches torch over ${c.lrs.length - 1} epochs`, () => {
      const opt = optimizerWith(c.baseLrs);
      const scheduler = new LrScheduler(opt, make(c.schedule, c.args));
      const got: number[] = [...scheduler.getLastLr()];
      for (let e = 1; e < c.lrs.length; e++) {
        scheduler.step();
        got.push(...scheduler.getLastLr());
      }
      worst = Math.max(worst, expectClose(got, c.lrs.flat(), { rtol: 1e-6, label: c.name }));
      // Each lr also matches on its own scale (expectClose's RMS term would hide an error in a tiny lr).
      c.lrs.flat().forEach((e, i) => {
        expect(Math.abs(got[i] - e), `${c.name}: entry ${i}`).toBeLessThanOrEqual(1e-6 * Math.abs(e) + 1e-15);
      });
    });
  }
});

describe("LrScheduler", () => {
  it("resumes from its state dict with the same lrs", () => {
    const schedule = warmupCosineSchedule({ warmupEpochs: 2, totalEpochs: 10 });
    const a = new LrScheduler(optimizerWith([0.1]), schedule);
    for (let i = 0; i < 4; i++) a.step();
    const saved = a.stateDict();
    const b = new LrScheduler(optimizerWith([0.5]), schedule);
    b.loadStateDict(saved);
    expect(b.getLastLr()).toEqual(a.getLastLr());
    a.step();
    b.step();
    expect(b.getLastLr()).toEqual(a.getLastLr());
    expect(() => b.loadStateDict({ lastEpoch: 1, baseLrs: [0.1, 0.2] })).toThrow(FormatError);
    expect(() => b.loadStateDict({ lastEpoch: -1, baseLrs: [0.1] })).toThrow(/lastEpoch/);
  });

  it("rejects invalid schedule arguments", () => {
    expect(() => stepSchedule({ stepSize: 0 })).toThrow(ArgumentError);
    expect(() => cosineSchedule({ tMax: 0 })).toThrow(/tMax/);
    expect(() => linearSchedule({ startFactor: 0 })).toThrow(/startFactor/);
    expect(() => multiStepSchedule({ milestones: [2, -1] })).toThrow(/milestones/);
    expect(() => warmupCosineSchedule({ warmupEpochs: 5, totalEpochs: 5 })).toThrow(/totalEpochs/);
    expect(() => sequentialSchedule([stepSchedule({ stepSize: 1 })], [3])).toThrow(/milestones/);
    expect(() =>
      sequentialSchedule(
        [stepSchedule({ stepSize: 1 }), stepSchedule({ stepSize: 1 }), stepSchedule({ stepSize: 1 })],
        [3, 3],
      ),
    ).toThrow(/increasing/);
  });
});
