/**
 * How a split call's units are shared among threads. Equal shares are not equal times: the calling thread
 * also copies inputs and outputs between JavaScript arrays and the kernels' memory, and workers start a
 * little later. After each call the pool reports when each thread started computing, how long its kernel
 * took and what it did after; the next call with the same key gives each thread the units that make all of
 * them finish together. Every thread runs the same code on like cores, so one cost per unit (the pooled
 * average) serves all: per-thread rates would mostly learn which thread the OS happened to preempt. The
 * shares are smoothed and kept near equal for the same reason.
 */

export interface ThreadTiming {
  /** Units this thread computed. */
  units: number;
  /** When its kernel started, in ms after the call began. */
  start: number;
  /** Milliseconds in its kernel. */
  compute: number;
  /** Milliseconds of its own work after the kernel (the calling thread reads its outputs). */
  tail: number;
}

/** No thread gets less than this fraction of an equal share, whatever the timings said. */
const MIN_FRACTION = 0.5;
/** Weight of the newest timing in the smoothed shares. */
const NEW_WEIGHT = 0.5;
/** Keys remembered (different shapes and directions); the oldest are forgotten beyond this. */
const MAX_KEYS = 512;

/** Fractions proportional to `units`, none below `floor` (the others scaled down to make room). */
export function clampShares(units: readonly number[], floor: number): number[] {
  const n = units.length;
  const sum = units.reduce((x, y) => x + y, 0);
  const f = units.map((u) => (sum > 0 ? u / sum : 1 / n));
  const pinned = new Array<boolean>(n).fill(false);
  // Each pass pins at least one more share to the floor, so this ends within n passes.
  for (let pass = 0; pass < n; pass++) {
    let fresh = false;
    for (let i = 0; i < n; i++) {
      if (!pinned[i] && f[i] < floor) {
        pinned[i] = true;
        fresh = true;
      }
    }
    if (!fresh) break;
    const left = 1 - floor * pinned.filter(Boolean).length;
    const free = f.reduce((a, x, i) => a + (pinned[i] ? 0 : x), 0);
    for (let i = 0; i < n; i++) f[i] = pinned[i] ? floor : free > 0 ? (f[i] / free) * left : 0;
  }
  return f;
}

export class Balance {
  private readonly learnt = new Map<string, number[]>();

  /** Shares (fractions summing to 1) for a call with this key on t threads. */
  shares(key: string, t: number): number[] {
    const k = `${key}|${t}`;
    return this.learnt.get(k) ?? new Array<number>(t).fill(1 / t);
  }

  /** Learns from one call's timings (one per thread, in range order). */
  update(key: string, timings: readonly ThreadTiming[]): void {
    const t = timings.length;
    const total = timings.reduce((a, x) => a + x.units, 0);
    const compute = timings.reduce((a, x) => a + x.compute, 0);
    // Calls too short to time are not learnt from.
    if (t < 2 || total < t || timings.some((x) => !(x.compute >= 0.05) || !Number.isFinite(x.start))) return;
    const cost = compute / total;
    // Finish time T, equal for all: units_i = (T - start_i - tail_i) / cost, summing to total.
    const overhead = timings.map((x) => Math.max(0, x.start) + x.tail);
    const finish = (total * cost + overhead.reduce((a, b) => a + b, 0)) / t;
    const fresh = clampShares(
      overhead.map((o) => Math.max(0, (finish - o) / cost)),
      MIN_FRACTION / t,
    );
    const k = `${key}|${t}`;
    const old = this.learnt.get(k);
    const next = old ? old.map((o, i) => (1 - NEW_WEIGHT) * o + NEW_WEIGHT * fresh[i]) : fresh;
    this.learnt.delete(k);
    if (this.learnt.size >= MAX_KEYS) {
      const oldest = this.learnt.keys().next().value;
      if (oldest !== undefined) this.learnt.delete(oldest);
    }
    this.learnt.set(k, next);
  }
}
