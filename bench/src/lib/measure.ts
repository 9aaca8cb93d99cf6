/**
 * Timing helpers: bounded in operations and in time, median of rounds.
 */

/** One timed operation: runs `count` operations starting at operation number `start`. */
export type Batch = (start: number, count: number) => void | Promise<void>

export interface Measurement {
  /**
   * Nanoseconds per operation of the best round: on a shared machine noise (preemption, other
   * processes' GC and cache traffic) only ever adds time, so the fastest round is the most faithful.
   */
  readonly nsPerOp: number
  /** Median of the rounds, for reference. */
  readonly medianNsPerOp: number
  /**
   * Process CPU time (all threads: GC helpers included) per operation in the best round; far
   * below `nsPerOp` when operations wait (timers, I/O) rather than compute.
   */
  readonly cpuNsPerOp: number
  readonly opsPerSec: number
  readonly ops: number
  readonly rounds: ReadonlyArray<number>
}

export interface MeasureOptions {
  /** Total time budget in ms (split evenly into rounds). */
  readonly budgetMs: number
  readonly rounds: number
  /** Hard cap on the operations of the whole measurement (for consuming operations). */
  readonly maxOps: number
  /** Operations per batch (a batch is timed as a whole). */
  readonly batch: number
  /** Operations run before timing (counted in maxOps). */
  readonly warmup?: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Runs batches until each round's share of the budget or of `maxOps` is used up, and returns
 * the ns/op of the best round (and the median). Operation numbers are consecutive across rounds, so consuming
 * operations (close, rotate) never reuse a session.
 */
export const measure = async (run: Batch, options: MeasureOptions): Promise<Measurement> => {
  let next = 0
  const warmup = Math.min(options.warmup ?? options.batch, Math.floor(options.maxOps / 4))
  if (warmup > 0) {
    await run(next, warmup)
    next += warmup
  }
  const perRoundMs = options.budgetMs / options.rounds
  const perRoundOps = Math.max(1, Math.floor((options.maxOps - next) / options.rounds))
  const rounds: Array<number> = []
  const cpu: Array<number> = []
  for (let r = 0; r < options.rounds; r++) {
    let ops = 0
    const cpuStart = process.cpuUsage()
    const started = process.hrtime.bigint()
    let elapsed = 0
    while (ops < perRoundOps && elapsed < perRoundMs * 1e6) {
      const count = Math.min(options.batch, perRoundOps - ops)
      await run(next, count)
      next += count
      ops += count
      elapsed = Number(process.hrtime.bigint() - started)
    }
    const used = process.cpuUsage(cpuStart)
    rounds.push(elapsed / ops)
    cpu.push(((used.user + used.system) * 1000) / ops)
  }
  const best = rounds.indexOf(Math.min(...rounds))
  const nsPerOp = rounds[best]
  return { nsPerOp, medianNsPerOp: median(rounds), cpuNsPerOp: cpu[best], opsPerSec: 1e9 / nsPerOp, ops: next, rounds }
}

/** Milliseconds since `started` (from `performance.now()`). */
export const since = (started: number): number => performance.now() - started

/** Percentile of a sorted array of numbers (nearest rank). */
export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]
}

export { median }

/** Median and range of a set of values, e.g. the per-round paired differences of two cases. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

/** The spread of finite values; `undefined` when there are none. */
export const spread = (values: ReadonlyArray<number>): Spread | undefined => {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return undefined
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length }
}
