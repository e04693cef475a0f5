import { ArgumentError, describe, FormatError } from "../tensor/errors.js";
import { checkPositiveInt } from "../tensor/shape.js";

/**
 * Learning-rate schedules with torch.optim.lr_scheduler's closed-form formulas. A Schedule maps
 * (epoch, base lr) to the lr for that epoch; an LrScheduler applies one to an optimizer's groups.
 *
 * Epochs count `step()` calls, as in torch: the lr for epoch e is the one in force after e calls. Call
 * `step()` once per epoch, or once per iteration with the periods counted in iterations.
 */
export type Schedule = (epoch: number, baseLr: number) => number;

function finite(value: unknown, op: string, name: string, min = Number.NEGATIVE_INFINITY): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw new ArgumentError(
      describe(
        op,
        name,
        min === Number.NEGATIVE_INFINITY ? "a finite number" : `a finite number >= ${min}`,
        value,
      ),
    );
  }
  return value;
}

/** StepLR: base · gamma^⌊e / stepSize⌋. */
export function stepSchedule(options: { stepSize: number; gamma?: number }): Schedule {
  const stepSize = checkPositiveInt(options.stepSize, "stepSchedule", "stepSize");
  const gamma = finite(options.gamma ?? 0.1, "stepSchedule", "gamma");
  return (e, base) => base * gamma ** Math.floor(e / stepSize);
}

/** MultiStepLR: base · gamma^(number of milestones <= e); a milestone listed twice counts twice, as in torch. */
export function multiStepSchedule(options: { milestones: readonly number[]; gamma?: number }): Schedule {
  const milestones = [...options.milestones].sort((a, b) => a - b);
  for (const m of milestones) {
    if (!Number.isSafeInteger(m) || m < 0)
      throw new ArgumentError(
        describe("multiStepSchedule", "milestones", "non-negative integers", options.milestones),
      );
  }
  const gamma = finite(options.gamma ?? 0.1, "multiStepSchedule", "gamma");
  return (e, base) => base * gamma ** bisectRight(milestones, e);
}

/**
 * CosineAnnealingLR, closed form: etaMin + (base − etaMin)·(1 + cos(π·e / tMax)) / 2. Past tMax it
 * keeps following the cosine (rising again), which is also what torch's recursive form does.
 */
export function cosineSchedule(options: { tMax: number; etaMin?: number }): Schedule {
  const tMax = checkPositiveInt(options.tMax, "cosineSchedule", "tMax");
  const etaMin = finite(options.etaMin ?? 0, "cosineSchedule", "etaMin");
  return (e, base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * e) / tMax))) / 2;
}

/** LinearLR: base · (start + (end − start)·min(e, totalIters) / totalIters). torch's defaults: 1/3, 1, 5. */
export function linearSchedule(
  options: { startFactor?: number; endFactor?: number; totalIters?: number } = {},
): Schedule {
  const start = finite(options.startFactor ?? 1 / 3, "linearSchedule", "startFactor");
  const end = finite(options.endFactor ?? 1, "linearSchedule", "endFactor");
  if (start <= 0 || start > 1)
    throw new ArgumentError(
      describe("linearSchedule", "startFactor", "a number in (0, 1] (as torch requires)", start),
    );
  if (end < 0 || end > 1)
    throw new ArgumentError(describe("linearSchedule", "endFactor", "a number in [0, 1]", end));
  const total = checkPositiveInt(options.totalIters ?? 5, "linearSchedule", "totalIters");
  return (e, base) => base * (start + ((end - start) * Math.min(e, total)) / total);
}

/**
 * SequentialLR: schedule i runs from milestone i−1 (0 for the first) and restarts its own epoch count
 * there: at a milestone m, torch calls the next scheduler's `step(0)`, which evaluates its closed form
 * at 0 from the original base lr, and later steps continue from there. So for milestones [m1, m2, ...]
 * the lr at epoch e is schedules[i](e − m_i, base) where i = number of milestones <= e (m_0 = 0).
 */
export function sequentialSchedule(schedules: readonly Schedule[], milestones: readonly number[]): Schedule {
  if (schedules.length === 0 || milestones.length !== schedules.length - 1) {
    throw new ArgumentError(
      describe(
        "sequentialSchedule",
        "milestones",
        `${Math.max(0, schedules.length - 1)} milestones for ${schedules.length} schedules`,
        milestones.length,
      ),
    );
  }
  for (let i = 0; i < milestones.length; i++) {
    if (
      !Number.isSafeInteger(milestones[i]) ||
      milestones[i] < 1 ||
      (i > 0 && milestones[i] <= milestones[i - 1])
    ) {
      throw new ArgumentError(
        describe("sequentialSchedule", "milestones", "increasing positive integers", milestones),
      );
    }
  }
  const list = [...schedules];
  const marks = [...milestones];
  return (e, base) => {
    const i = bisectRight(marks, e);
    return list[i](i === 0 ? e : e - marks[i - 1], base);
  };
}

/**
 * Linear warm-up then cosine annealing: SequentialLR([LinearLR(startFactor, 1, warmupEpochs),
 * CosineAnnealingLR(totalEpochs − warmupEpochs, etaMin)], [warmupEpochs]). The lr rises from
 * base·startFactor to base over the warm-up, is base at epoch warmupEpochs, and reaches etaMin at
 * totalEpochs. Default startFactor 0.1.
 */
export function warmupCosineSchedule(options: {
  warmupEpochs: number;
  totalEpochs: number;
  startFactor?: number;
  etaMin?: number;
}): Schedule {
  const warmup = checkPositiveInt(options.warmupEpochs, "warmupCosineSchedule", "warmupEpochs");
  const total = checkPositiveInt(options.totalEpochs, "warmupCosineSchedule", "totalEpochs");
  if (total <= warmup) {
    throw new ArgumentError(
      describe("warmupCosineSchedule", "totalEpochs", `more than warmupEpochs (${warmup})`, total),
    );
  }
  return sequentialSchedule(
    [
      linearSchedule({ startFactor: options.startFactor ?? 0.1, endFactor: 1, totalIters: warmup }),
      cosineSchedule({ tMax: total - warmup, etaMin: options.etaMin ?? 0 }),
    ],
    [warmup],
  );
}

/** Number of entries <= x in a sorted array (Python's bisect.bisect_right). */
function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Anything with parameter groups that have a learning rate (every Optimizer). */
export interface HasLrGroups {
  readonly paramGroups: readonly { lr: number }[];
}

export interface LrSchedulerState {
  lastEpoch: number;
  baseLrs: number[];
}

/**
 * Applies a Schedule to an optimizer, like torch's `_LRScheduler`: construction records each group's
 * current lr as its base lr and sets the lr for epoch 0; each `step()` advances one epoch.
 */
export class LrScheduler {
  readonly optimizer: HasLrGroups;
  readonly schedule: Schedule;
  baseLrs: number[];
  lastEpoch = 0;

  constructor(optimizer: HasLrGroups, schedule: Schedule) {
    this.optimizer = optimizer;
    this.schedule = schedule;
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lr of each group now (torch's `get_last_lr()`). */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): LrSchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restores the epoch and base lrs, and sets the optimizer's lrs to match. */
  loadStateDict(state: LrSchedulerState): void {
    if (!Number.isSafeInteger(state.lastEpoch) || state.lastEpoch < 0) {
      throw new FormatError(
        describe("LrScheduler.loadStateDict", "lastEpoch", "a non-negative integer", state.lastEpoch),
      );
    }
    if (
      !Array.isArray(state.baseLrs) ||
      state.baseLrs.length !== this.optimizer.paramGroups.length ||
      !state.baseLrs.every((v) => Number.isFinite(v))
    ) {
      throw new FormatError(
        describe(
          "LrScheduler.loadStateDict",
          "baseLrs",
          `${this.optimizer.paramGroups.length} finite numbers (one per group)`,
          state.baseLrs,
        ),
      );
    }
    this.lastEpoch = state.lastEpoch;
    this.baseLrs = [...state.baseLrs];
    this.apply();
  }

  private apply(): void {
    const groups = this.optimizer.paramGroups as { lr: number }[];
    groups.forEach((g, i) => {
      g.lr = this.schedule(this.lastEpoch, this.baseLrs[i]);
    });
  }
}
