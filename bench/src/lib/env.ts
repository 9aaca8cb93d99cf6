/**
 * Paths, run modes and their sizes. Every loop of the benchmark is bounded by the numbers here.
 */
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** The `bench/` folder. */
export const benchDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
/** The repository root. */
export const repoDir = resolve(benchDir, "..")
/** Where runs write JSON, markdown and charts (git-ignored). */
export const resultsDir = join(benchDir, "results")
/** Where `--publish` copies the charts embedded in BENCHMARKS.md. */
export const chartsDir = join(benchDir, "charts")

export type Mode = "smoke" | "quick" | "full"

export interface Sizes {
  /** Resident sessions for the in-process case. */
  readonly inprocess: ReadonlyArray<number>
  /** Time budget of one measurement (split into `rounds`), in ms. */
  readonly budgetMs: number
  readonly rounds: number
  /** Upper bound on operations of one measurement. */
  readonly maxOps: number
  /** Resident sessions for the heap case. */
  readonly heap: number
  /** Resident sessions for the sweep case. */
  readonly sweep: number
  readonly http: {
    readonly warmupSeconds: number
    readonly seconds: number
    /** Rounds: every server loaded once per round, in a rotating order. */
    readonly rounds: number
    readonly connections: number
  }
  readonly redis: { readonly seconds: number; readonly sessions: number }
  /** Operation counts: requests counted one by one; timed rounds of `requests` per variant. */
  readonly ops: { readonly counted: number; readonly rounds: number; readonly requests: number }
  /** Hard limit on one child process, in ms. */
  readonly childTimeoutMs: number
  /** Child processes run at once: 1 for measurements; 2 (the cores) in smoke mode, where timing means nothing. */
  readonly parallel: number
}

export const sizes: Record<Mode, Sizes> = {
  smoke: {
    inprocess: [1_000],
    budgetMs: 20,
    rounds: 1,
    maxOps: 1_000,
    heap: 1_000,
    sweep: 2_000,
    http: { warmupSeconds: 0, seconds: 0.5, rounds: 2, connections: 8 },
    redis: { seconds: 0.2, sessions: 100 },
    ops: { counted: 5, rounds: 2, requests: 20 },
    // generous: CI runs this on a machine whose cores other processes may keep busy
    childTimeoutMs: 180_000,
    parallel: 2
  },
  quick: {
    inprocess: [10_000, 100_000],
    budgetMs: 200,
    rounds: 5,
    maxOps: 200_000,
    heap: 100_000,
    sweep: 100_000,
    http: { warmupSeconds: 0.5, seconds: 1.5, rounds: 5, connections: 32 },
    redis: { seconds: 1, sessions: 1_000 },
    ops: { counted: 20, rounds: 10, requests: 300 },
    childTimeoutMs: 60_000,
    parallel: 1
  },
  full: {
    inprocess: [10_000, 100_000, 1_000_000],
    budgetMs: 1_000,
    rounds: 7,
    maxOps: 2_000_000,
    heap: 1_000_000,
    sweep: 1_000_000,
    http: { warmupSeconds: 3, seconds: 4, rounds: 9, connections: 32 },
    redis: { seconds: 5, sessions: 10_000 },
    ops: { counted: 50, rounds: 20, requests: 1_000 },
    childTimeoutMs: 300_000,
    parallel: 1
  }
}

/** Reads `--name=value` or `--name value` from argv. */
export const argValue = (argv: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === `--${name}`) return argv[i + 1]
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3)
  }
  return undefined
}

/** A required numeric argument. */
export const argNumber = (argv: ReadonlyArray<string>, name: string): number => {
  const value = Number(argValue(argv, name))
  if (!Number.isFinite(value)) throw new Error(`missing numeric argument --${name}`)
  return value
}
