/**
 * How busy the rest of the machine was during a measurement: the CPU time of all cores from
 * `/proc/stat`, minus the CPU time of the processes we measure (which report their own), over the
 * capacity of all cores in that wall-clock window. Above `NOISY_SHARE` the window is marked noisy:
 * its timings shared the cores with someone else (CPU per request still holds better than
 * throughput or latency, but caches and frequency were shared too).
 */
import { readFileSync } from "node:fs"
import { cpus } from "node:os"

/** Other processes' share of all cores above which a window is marked noisy. */
export const NOISY_SHARE = 0.25

/** Clock ticks per second of `/proc/stat` (USER_HZ, 100 on Linux). */
const TICK_MICROS = 10_000

export interface MachineSample {
  /** Busy CPU time of all cores so far (user, nice, system, irq, softirq, steal), µs. */
  readonly busyMicros: number
  /** `performance.now()` when sampled, ms. */
  readonly at: number
}

/** Reads the busy time of all cores; `undefined` where `/proc/stat` is not readable. */
export const sampleMachine = (): MachineSample | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return { busyMicros: (user + nice + system + irq + softirq + (steal ?? 0)) * TICK_MICROS, at: performance.now() }
  } catch {
    return undefined
  }
}

/**
 * The share (0..1) of all cores' time that processes other than ours used between two samples,
 * given the CPU time (µs) our own processes used in between. `undefined` without `/proc/stat`.
 */
export const othersShare = (
  before: MachineSample | undefined,
  after: MachineSample | undefined,
  ownMicros: number
): number | undefined => {
  if (before === undefined || after === undefined) return undefined
  const capacity = (after.at - before.at) * 1000 * cpus().length
  if (capacity <= 0) return undefined
  // tick granularity can make the difference slightly negative on an idle machine
  return Math.min(1, Math.max(0, (after.busyMicros - before.busyMicros - ownMicros) / capacity))
}

/** A sentence for the report: how many windows were noisy and the median share of others. */
export const describeNoise = (shares: ReadonlyArray<number | undefined>): string => {
  const known = shares.filter((s): s is number => s !== undefined).sort((a, b) => a - b)
  if (known.length === 0) return "machine load unknown (/proc/stat unreadable)"
  const noisy = known.filter((s) => s > NOISY_SHARE).length
  const median = known[known.length >> 1]
  return `${noisy} of ${known.length} windows noisy (other processes used more than ${
    NOISY_SHARE * 100
  }% of the cores; median ${(median * 100).toFixed(0)}%)`
}

/** Whether a run is noisy: other processes took more than `NOISY_SHARE` of the cores in most windows. */
export const isNoisy = (shares: ReadonlyArray<number | undefined>): boolean => {
  const known = shares.filter((s): s is number => s !== undefined)
  return known.filter((s) => s > NOISY_SHARE).length * 2 > known.length
}
