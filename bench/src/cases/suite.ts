/**
 * Orchestration of cases 1, 2, 3 and 5: one child process per store and size, pinned to core 1.
 */
import { type ChildProcess, spawn } from "node:child_process"
import type { Sizes } from "../lib/env.js"
import { canPin, freePort, pool, runJson, stop, waitFor, which } from "../lib/proc.js"
import type { Row as InprocessRow } from "./inprocess-child.js"

export type { InprocessRow }

export interface AnatomyRow {
  readonly group: string
  readonly variant: string
  readonly nsPerOp: number
  readonly cpuNsPerOp: number
}

export interface HeapRow {
  readonly store: string
  readonly authenticated: boolean
  readonly size: number
  readonly bytesPerSession: number
}

export interface SweepRow {
  readonly store: string
  readonly size: number
  readonly expired: number
  readonly ms: number
  readonly maxStallMs: number
  readonly loopDelayMaxMs: number
  /** Longest garbage-collection pause during the sweep, and their total. */
  readonly maxGcPauseMs?: number
  readonly gcMs?: number
  /** Graceful shutdown of the manager afterwards (ours, one configuration). */
  readonly shutdownMs?: number
  readonly remaining: number
}

export interface RedisRow {
  readonly store: string
  readonly inflight: number
  /** Failed operations (store timeouts under load), over all repetitions. */
  readonly errors: number
  /** No repetition completed an operation in its window (a saturated machine). */
  readonly noSamples?: boolean
  /** Best repetition. */
  readonly opsPerSec: number
  readonly microsPerOp: number | null
  /** The client process's CPU time per operation, median over repetitions (a busy machine moves it less than throughput). */
  readonly cpuMicrosPerOp: number | null
  /** Redis commands the client sent per operation (ours only). */
  readonly commandsPerOp?: number
  readonly repetitions: ReadonlyArray<number>
}

type Log = (line: string) => void

// measurements run one at a time pinned to core 1; smoke runs (parallel) are not pinned
const pin = (sizes: Sizes): { readonly core?: number } => (sizes.parallel > 1 ? {} : { core: 1 })

export const inprocessStores = ["map", "map+sha256", "express", "fastify", "ours"] as const

export const runInprocess = async (sizes: Sizes, log: Log): Promise<Array<InprocessRow>> => {
  const tasks = sizes.inprocess.flatMap((size) =>
    inprocessStores.map((store) => async () => {
      const result = await runJson<{ rows: Array<InprocessRow> }>(
        "src/cases/inprocess-child.ts",
        [
          "--store",
          store,
          "--size",
          String(size),
          "--budget",
          String(sizes.budgetMs),
          "--rounds",
          String(sizes.rounds),
          "--max-ops",
          String(sizes.maxOps)
        ],
        { ...pin(sizes), timeoutMs: sizes.childTimeoutMs, nodeArgs: ["--max-old-space-size=8192"] }
      )
      const get = result.rows.find((row) => row.op === "get")
      log(`inprocess: ${store} @ ${size}: get ${get === undefined ? "?" : (get.nsPerOp / 1000).toFixed(2)} µs/op`)
      return result.rows
    })
  )
  return (await pool(tasks, sizes.parallel)).flat()
}

export const runAnatomy = async (sizes: Sizes, log: Log): Promise<Array<AnatomyRow>> => {
  // a shorter budget per variant: there are many of them
  const size = sizes.inprocess[0]
  const result = await runJson<{ rows: Array<AnatomyRow> }>(
    "src/cases/anatomy-child.ts",
    [
      "--size",
      String(size),
      "--budget",
      String(Math.ceil(sizes.budgetMs / 2)),
      "--rounds",
      String(sizes.rounds),
      "--max-ops",
      String(sizes.maxOps)
    ],
    { ...pin(sizes), timeoutMs: sizes.childTimeoutMs }
  )
  for (const row of result.rows) log(`anatomy: ${row.group}: ${row.variant}: ${(row.nsPerOp / 1000).toFixed(2)} µs/op`)
  return result.rows
}

export const heapStores: ReadonlyArray<readonly [string, boolean]> = [
  ["Map", false],
  ["ours", false],
  ["Ref<HashMap>", false],
  ["express", false],
  ["fastify", false],
  ["Map", true],
  ["ours", true]
]

/** The heap measurements of a run (smoke runs skip the authenticated ones). */
export const heapConfigs = (sizes: Sizes) =>
  heapStores.filter(([, authenticated]) => sizes.parallel === 1 || !authenticated)

export const runHeap = (sizes: Sizes, log: Log): Promise<Array<HeapRow>> =>
  pool(
    heapConfigs(sizes).map(
      ([store, authenticated]) => async () => {
        const row = await runJson<HeapRow>(
          "src/cases/heap-child.ts",
          ["--store", store, "--size", String(sizes.heap), "--authenticated", authenticated ? "1" : "0"],
          {
            ...pin(sizes),
            timeoutMs: sizes.childTimeoutMs,
            nodeArgs: ["--expose-gc", "--max-old-space-size=8192"]
          }
        )
        log(`heap: ${store}${authenticated ? " (authenticated)" : ""}: ${row.bytesPerSession.toFixed(0)} B/session`)
        return row
      }
    ),
    sizes.parallel
  )

/**
 * Sweep configurations: [store, resident, expired fraction, time the shutdown]; smoke runs one
 * per store. The shutdown (which releases every remaining session) is timed on the smaller store.
 */
export const sweepConfigs = (n: number, mode: string): ReadonlyArray<readonly [string, number, number, boolean?]> => {
  if (mode === "smoke") return [["ours", n, 0.1, true], ["Map", n, 0.1], ["express", n, 0.1]]
  const peers1 = mode === "full" ? [["Map", n, 0.01] as const, ["express", n, 0.01] as const] : []
  return [
    ["ours", n, 0.1],
    ["ours", n, 0.01],
    ["ours", n / 10, 0.1, true],
    ["Map", n, 0.1],
    ["express", n, 0.1],
    ...peers1
  ]
}

export const runSweep = (sizes: Sizes, mode: string, log: Log): Promise<Array<SweepRow>> =>
  pool(
    sweepConfigs(sizes.sweep, mode).map(([store, size, fraction, shutdown]) => async () => {
      const row = await runJson<SweepRow>(
        "src/cases/sweep-child.ts",
        ["--store", store, "--size", String(size), "--expired", String(fraction), "--shutdown", shutdown ? "1" : "0"],
        { ...pin(sizes), timeoutMs: sizes.childTimeoutMs, nodeArgs: ["--max-old-space-size=8192"] }
      )
      log(
        `sweep: ${store} ${size} resident, ${row.expired} expired: ${row.ms.toFixed(1)} ms, stall ${
          row.maxStallMs.toFixed(1)
        } ms${row.shutdownMs === undefined ? "" : `, shutdown ${row.shutdownMs.toFixed(0)} ms`}`
      )
      return row
    }),
    sizes.parallel
  )

/** Requests in flight of each Redis measurement. */
export const redisInflights = [1, 64] as const

export const redisStores = (): Array<string> => [
  "ours",
  "ours-runpromise",
  "ours-store-touch",
  "connect-redis",
  "connect-redis-touch",
  "ioredis-get",
  "node-redis-get"
]

/** Starts our own `redis-server` on a free loopback port (no persistence), pinned to core 0. */
const startRedis = async (): Promise<{ readonly port: number; readonly child: ChildProcess }> => {
  const port = await freePort()
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
  const child = canPin()
    ? spawn("taskset", ["-c", "0", "redis-server", ...args], { stdio: "ignore" })
    : spawn("redis-server", args, { stdio: "ignore" })
  const { createConnection } = await import("node:net")
  const up = await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = createConnection({ port, host: "127.0.0.1" }, () => {
          socket.end()
          resolve(true)
        })
        socket.on("error", () => resolve(false))
      }),
    10_000
  )
  if (!up) {
    await stop(child)
    throw new Error("redis-server did not start")
  }
  return { port, child }
}

export const runRedis = async (
  sizes: Sizes,
  repetitions: number,
  log: Log
): Promise<{ rows: Array<RedisRow>; skipped?: string }> => {
  if (which("redis-server") === undefined) {
    return { rows: [], skipped: "redis-server is not installed (apt-get install -y redis-server)" }
  }
  const stores = redisStores()
  const redis = await startRedis()
  type Out = {
    inflight: number
    ops: number
    opsPerSec: number
    microsPerOp: number | null
    cpuMicrosPerOp: number | null
    commandsPerOp?: number
    errors: number
  }
  const results = new Map<string, Array<Out>>()
  try {
    for (let rep = 0; rep < repetitions; rep++) {
      const order = rep % 2 === 0 ? stores : [...stores].reverse()
      const outs = await pool(
        order.map((store) => async () => {
          const out = await runJson<{ results: Array<Out> }>(
            "src/cases/redis-child.ts",
            [
              "--store",
              store,
              "--port",
              String(redis.port),
              "--inflight",
              redisInflights.join(","),
              "--seconds",
              String(sizes.redis.seconds),
              "--sessions",
              String(sizes.redis.sessions)
            ],
            { ...pin(sizes), timeoutMs: sizes.childTimeoutMs }
          )
          log(
            `redis: ${store}: ${
              out.results.map((r) => `${r.inflight} in flight ${r.opsPerSec.toFixed(0)}/s`).join(", ")
            }`
          )
          return [store, out.results] as const
        }),
        sizes.parallel
      )
      for (const [store, out] of outs) results.set(store, [...(results.get(store) ?? []), ...out])
    }
  } finally {
    await stop(redis.child)
  }
  const rows: Array<RedisRow> = []
  for (const store of stores) {
    for (const inflight of redisInflights) {
      const reps = (results.get(store) ?? []).filter((r) => r.inflight === inflight)
      if (reps.length === 0) continue
      const best = reps.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))
      const cpu = reps.flatMap((r) => r.cpuMicrosPerOp === null ? [] : [r.cpuMicrosPerOp]).sort((a, b) => a - b)
      rows.push({
        store,
        inflight,
        opsPerSec: best.opsPerSec,
        microsPerOp: best.microsPerOp,
        cpuMicrosPerOp: cpu.length === 0 ? null : cpu[Math.floor(cpu.length / 2)],
        ...(best.commandsPerOp === undefined ? {} : { commandsPerOp: best.commandsPerOp }),
        ...(best.ops === 0 ? { noSamples: true } : {}),
        errors: reps.reduce((sum, r) => sum + r.errors, 0),
        repetitions: reps.map((r) => r.opsPerSec)
      })
    }
  }
  return { rows }
}
