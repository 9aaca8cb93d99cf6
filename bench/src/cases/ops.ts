/**
 * Case 0: Effect operations and CPU per request (see `ops-child.ts`), and the check of the
 * operation counts against the committed baseline, bench/baseline/ops.json: a count above its
 * baseline fails the run, a count below it is reported as an improvement to lock in with
 * `npm run bench -- --only ops --update-baseline`.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { benchDir, type Sizes } from "../lib/env.js"
import { type Spread, spread } from "../lib/measure.js"
import { runJson } from "../lib/proc.js"

export const baselineFile = join(benchDir, "baseline/ops.json")

interface ChildVariant {
  readonly name: string
  readonly label: string
  readonly bare: boolean
  readonly floor: boolean
  /** Operations of each counted request. */
  readonly ops: ReadonlyArray<number>
  /** CPU µs per request, one value per round. */
  readonly cpuMicros: ReadonlyArray<number>
}

export interface OpsRow {
  readonly name: string
  readonly label: string
  /** Operations per request (every counted request ran exactly this many; see `opsRange`). */
  readonly ops: number
  /** Fewest and most operations of the counted requests (equal unless something else ran meanwhile). */
  readonly opsRange: readonly [number, number]
  /** Operations added over the bare router. */
  readonly addedOps: number
  /** Median CPU µs per request over the rounds. */
  readonly cpuMicros: number
  /** CPU µs added over the bare router: per-round paired differences. */
  readonly addedCpu: Spread | undefined
  /** CPU per request over the floor's, per round. */
  readonly vsFloor: Spread | undefined
  /** Its count in the baseline file, if any. */
  readonly baseline: number | undefined
}

export interface OpsResult {
  readonly rows: ReadonlyArray<OpsRow>
  readonly rounds: number
  readonly requests: number
  /** Other processes' share of the cores in each timed window. */
  readonly shares: ReadonlyArray<number | undefined>
  /** Counts above their baseline, variants without one, and improvements, as sentences. */
  readonly regressions: ReadonlyArray<string>
  readonly improvements: ReadonlyArray<string>
}

interface Baseline {
  readonly about: string
  readonly versions: Record<string, string>
  readonly ops: Record<string, number>
}

const readBaseline = (): Baseline | undefined => {
  try {
    return JSON.parse(readFileSync(baselineFile, "utf8")) as Baseline
  } catch {
    return undefined
  }
}

/** The most frequent value (the exact count, if a stray fiber ran during one request). */
const mode = (values: ReadonlyArray<number>): number => {
  const counts = new Map<number, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0]
}

export const runOps = async (
  sizes: Sizes,
  options: { readonly updateBaseline: boolean; readonly versions: Record<string, string> },
  log: (line: string) => void
): Promise<OpsResult> => {
  const { counted, requests, rounds } = sizes.ops
  const out = await runJson<{ variants: Array<ChildVariant>; shares: Array<number | null> }>(
    "src/cases/ops-child.ts",
    ["--rounds", String(rounds), "--requests", String(requests), "--counted", String(counted)],
    { core: 1, timeoutMs: sizes.childTimeoutMs }
  )
  const bare = out.variants.find((v) => v.bare)
  const floor = out.variants.find((v) => v.floor)
  if (bare === undefined || floor === undefined) throw new Error("ops: no bare or no floor variant")
  const baseline = readBaseline()
  const rows = out.variants.map((v): OpsRow => {
    const ops = mode(v.ops)
    return {
      name: v.name,
      label: v.label,
      ops,
      opsRange: [Math.min(...v.ops), Math.max(...v.ops)],
      addedOps: ops - mode(bare.ops),
      cpuMicros: spread(v.cpuMicros)?.median ?? NaN,
      addedCpu: v.bare ? undefined : spread(v.cpuMicros.map((cpu, r) => cpu - bare.cpuMicros[r])),
      vsFloor: v.floor ? undefined : spread(v.cpuMicros.map((cpu, r) => cpu / floor.cpuMicros[r])),
      baseline: baseline?.ops[v.name]
    }
  })
  for (const row of rows) {
    log(
      `ops: ${row.name}: ${row.ops} operations (+${row.addedOps} over bare), ${row.cpuMicros.toFixed(1)} µs CPU/request`
    )
  }

  const regressions: Array<string> = []
  const improvements: Array<string> = []
  for (const row of rows) {
    if (row.baseline === undefined) regressions.push(`${row.name}: ${row.ops} operations, not in the baseline`)
    else if (row.ops > row.baseline) {
      regressions.push(
        `${row.name}: ${row.ops} operations per request, baseline ${row.baseline} (+${row.ops - row.baseline})`
      )
    } else if (row.ops < row.baseline) {
      improvements.push(
        `${row.name}: ${row.ops} operations per request, baseline ${row.baseline} (${row.ops - row.baseline})`
      )
    }
  }
  if (options.updateBaseline) {
    const next: Baseline = {
      about: "Effect operations per request of each variant of bench/src/cases/ops-variants.ts, counted exactly by " +
        "a supervisor. The bench fails when a count grows above its value here; update with " +
        "`npm run bench -- --only ops --update-baseline`.",
      versions: options.versions,
      ops: Object.fromEntries(rows.map((row) => [row.name, row.ops]))
    }
    writeFileSync(baselineFile, JSON.stringify(next, null, 2) + "\n")
    log(`ops: baseline written to ${baselineFile}`)
    return { rows, rounds, requests, shares: out.shares.map((s) => s ?? undefined), regressions: [], improvements: [] }
  }
  return { rows, rounds, requests, shares: out.shares.map((s) => s ?? undefined), regressions, improvements }
}
