/**
 * effect-session benchmarks against the peers (issue #5).
 *
 *   npm run bench                 quick: 10k and 100k resident sessions
 *   npm run bench -- --full       up to 1M resident sessions, longer HTTP runs
 *   npm run bench -- --smoke      seconds, tiny sizes, no timing assertions (CI)
 *   npm run bench -- --only ops   operation counts and CPU per request only (seconds)
 *   npm run bench -- --only ops --update-baseline   record the counts in bench/baseline/ops.json
 *   npm run bench -- --only http,redis      a subset: ops, inprocess, anatomy, heap, sweep, http, redis, sql
 *   npm run bench -- --publish    also copy the charts to bench/charts/ (embedded in BENCHMARKS.md)
 *   npm run bench -- --diagnostics     diagnostic HTTP variants of ours and bare (always on with --full)
 *   npm run bench -- --full --only http --merge    re-run one case, keep the others of latest-full.json
 *
 * Every case measures ours and the peers in the same run and reports ratios; absolute numbers
 * are noise on a shared machine. Results: bench/results/<mode>-<time>.{json,md} and
 * bench/results/latest-<mode>.{json,md}, charts in bench/results/*.svg.
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { arch, cpus, totalmem } from "node:os"
import { join } from "node:path"
import { BARE, type HttpRow, runHttp, servers } from "./cases/http.js"
import { baselineFile, type OpsResult, runOps } from "./cases/ops.js"
import { runSql, sqlCells, type SqlResults, sqlTable, sqlTargets } from "./cases/sql.js"
import {
  type AnatomyRow,
  heapConfigs,
  type HeapRow,
  type InprocessRow,
  inprocessStores,
  redisInflights,
  type RedisRow,
  redisStores,
  runAnatomy,
  runHeap,
  runInprocess,
  runRedis,
  runSweep,
  sweepConfigs,
  type SweepRow
} from "./cases/suite.js"
import { type Cell, cellState, failingCells, summarizeCells } from "./lib/coverage.js"
import { argValue, benchDir, chartsDir, type Mode, repoDir, resultsDir, sizes } from "./lib/env.js"
import { type Spread } from "./lib/measure.js"
import { describeNoise, isNoisy, NOISY_SHARE } from "./lib/noise.js"
import { canPin } from "./lib/proc.js"
import { count, num, ratio, table } from "./lib/report.js"
import { barPanels, logLogChart, type Series } from "./lib/svg.js"

const argv = process.argv.slice(2)
const mode: Mode = argv.includes("--full") ? "full" : argv.includes("--smoke") ? "smoke" : "quick"
const cases = ["ops", "inprocess", "anatomy", "heap", "sweep", "http", "redis", "sql"] as const
const only = new Set(argValue(argv, "only")?.split(",") ?? cases)
for (const name of only) {
  if (!(cases as ReadonlyArray<string>).includes(name)) throw new Error(`unknown case ${name}: ${cases.join(", ")}`)
}
const updateBaseline = argv.includes("--update-baseline")
const publish = argv.includes("--publish")
// keep the other cases of the latest run of this mode (to re-run one case)
const merge = argv.includes("--merge")
const config = sizes[mode]
const startedAt = new Date()
const t0 = performance.now()
const log = (line: string) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}\n`)

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

const versionOf = (dir: string, name: string): string => {
  try {
    return (JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")) as { version: string })
      .version
  } catch {
    return "missing"
  }
}

const git = (...args: Array<string>) => {
  try {
    return execFileSync("git", args, { cwd: repoDir }).toString().trim()
  } catch {
    return "unknown"
  }
}

const meta = {
  mode,
  date: startedAt.toISOString(),
  commit: git("rev-parse", "--short", "HEAD"),
  /** Files of src/ with uncommitted changes when the run started (the run measures them as they were). */
  srcChanges: git("status", "--porcelain", "--", "src").split("\n").filter((line) => line.trim() !== "").length,
  node: process.version,
  machine: `${cpus()[0]?.model ?? "?"}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${arch()}`,
  loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  pinned: canPin(),
  versions: {
    effect: versionOf(repoDir, "effect"),
    "@effect/platform": versionOf(repoDir, "@effect/platform"),
    "@effect/platform-node": versionOf(repoDir, "@effect/platform-node"),
    ioredis: versionOf(repoDir, "ioredis"),
    express: versionOf(benchDir, "express"),
    "express-session": versionOf(benchDir, "express-session"),
    fastify: versionOf(benchDir, "fastify"),
    "@fastify/session": versionOf(benchDir, "@fastify/session"),
    "@fastify/cookie": versionOf(benchDir, "@fastify/cookie"),
    "connect-redis": versionOf(benchDir, "connect-redis"),
    redis: versionOf(benchDir, "redis"),
    autocannon: versionOf(benchDir, "autocannon"),
    pg: versionOf(repoDir, "pg"),
    "better-sqlite3": versionOf(repoDir, "better-sqlite3"),
    "connect-pg-simple": versionOf(benchDir, "connect-pg-simple"),
    "redis-server": (() => {
      try {
        return execFileSync("redis-server", ["--version"]).toString().split(" ")[2]?.replace("v=", "") ?? "?"
      } catch {
        return "missing"
      }
    })()
  }
}

// ---------------------------------------------------------------------------------------------
// Run
// ---------------------------------------------------------------------------------------------

interface Results {
  ops: OpsResult | undefined
  inprocess: Array<InprocessRow>
  anatomy: Array<AnatomyRow>
  heap: Array<HeapRow>
  sweep: Array<SweepRow>
  http: Array<HttpRow>
  redis: Array<RedisRow>
  sql: SqlResults | undefined
  notes: Array<string>
}

const results: Results = {
  ops: undefined,
  inprocess: [],
  anatomy: [],
  heap: [],
  sweep: [],
  http: [],
  redis: [],
  sql: undefined,
  notes: []
}

/** Runs one case; a case that fails is reported in the notes and the others still run. */
const attempt = async (name: string, f: () => Promise<void>) => {
  if (!only.has(name)) return
  try {
    await f()
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n").slice(0, 3).join(" ") : String(error)
    log(`${name} FAILED: ${message}`)
    results.notes.push(`case ${name} failed: ${message}`)
    failed.push(name)
  }
}
const failed: Array<string> = []

const run = async () => {
  log(`mode ${mode}, cases ${[...only].join(", ")}, pinned ${meta.pinned}, load ${meta.loadavg}`)
  if (!meta.pinned) results.notes.push("taskset or a second core missing: processes were not pinned")
  await attempt("ops", async () => {
    const { effect, "@effect/platform": platform } = meta.versions
    results.ops = await runOps(config, { updateBaseline, versions: { effect, "@effect/platform": platform } }, log)
  })
  await attempt("inprocess", async () => {
    results.inprocess = await runInprocess(config, log)
  })
  await attempt("anatomy", async () => {
    results.anatomy = await runAnatomy(config, log)
  })
  await attempt("heap", async () => {
    results.heap = await runHeap(config, log)
  })
  await attempt("sweep", async () => {
    results.sweep = await runSweep(config, mode, log)
  })
  await attempt("http", async () => {
    results.http = await runHttp(config, diagnostics, log)
    for (const row of results.http) {
      if (row.skipped !== undefined) results.notes.push(`http ${row.server}: ${row.skipped}`)
    }
  })
  await attempt("redis", async () => {
    const redis = await runRedis(config, mode === "full" ? 2 : 1, log)
    results.redis = redis.rows
    if (redis.skipped !== undefined) results.notes.push(`redis: ${redis.skipped}`)
    if (redis.rows.length === 0) redisSkipped = redis.skipped
    for (const row of redis.rows) {
      if (row.errors > 0) {
        results.notes.push(`redis ${row.store}, ${row.inflight} in flight: ${row.errors} operations failed`)
      }
    }
  })
  await attempt("sql", async () => {
    results.sql = await runSql(mode, log)
    if (results.sql.skipped !== undefined) results.notes.push(`sql: ${results.sql.skipped}`)
  })
}

// ---------------------------------------------------------------------------------------------
// Coverage: every case that ran has a cell for each expected measurement
// ---------------------------------------------------------------------------------------------

const diagnostics = mode === "full" || argv.includes("--diagnostics")

const coverage = (): Array<Cell> => {
  const cells: Array<Cell> = []
  const add = (name: string, id: string, state: ReturnType<typeof cellState>) =>
    cells.push({ case: name, id, ...state })
  const ran = (name: string) => only.has(name) && !failed.includes(name)
  if (ran("ops")) {
    const names = new Set([...Object.keys(baselineOps()), ...(results.ops?.rows ?? []).map((r) => r.name)])
    for (const name of names) {
      const row = results.ops?.rows.find((r) => r.name === name)
      add("ops", name, cellState(row, (r) => [r.ops, r.cpuMicros]))
    }
  }
  if (ran("inprocess")) {
    for (const size of config.inprocess) {
      for (const store of inprocessStores) {
        const rows = results.inprocess.filter((r) => r.store === store && r.size === size)
        add("inprocess", `${store} @ ${size}`, cellState(rows[0], () => rows.flatMap((r) => [r.nsPerOp, r.cpuNsPerOp])))
      }
    }
  }
  if (ran("anatomy")) {
    add("anatomy", "variants", cellState(results.anatomy[0], () => results.anatomy.map((r) => r.nsPerOp)))
  }
  if (ran("heap")) {
    for (const [store, authenticated] of heapConfigs(config)) {
      const row = results.heap.find((r) => r.store === store && r.authenticated === authenticated)
      add("heap", `${store}${authenticated ? " (authenticated)" : ""}`, cellState(row, (r) => [r.bytesPerSession]))
    }
  }
  if (ran("sweep")) {
    sweepConfigs(config.sweep, mode).forEach(([store, size, fraction], i) => {
      const row = results.sweep[i]
      add("sweep", `${store} ${size} ${fraction}`, cellState(row, (r) => [r.ms, r.maxStallMs]))
    })
  }
  if (ran("http")) {
    for (const spec of servers(diagnostics)) {
      const row = results.http.find((r) => r.server === spec.name)
      add("http", spec.name, cellState(row, (r) => [r.rps, r.p99, r.cpuMicrosPerRequest]))
    }
  }
  if (ran("redis")) {
    for (const store of redisStores()) {
      for (const inflight of redisInflights) {
        const row = results.redis.find((r) => r.store === store && r.inflight === inflight)
        const state = redisSkipped === undefined ? cellState(row, (r) => [r.opsPerSec]) : {
          state: "skipped" as const,
          detail: redisSkipped
        }
        add("redis", `${store}, ${inflight} in flight`, state)
      }
    }
  }
  if (ran("sql")) cells.push(...sqlCells(results.sql))
  return cells
}
let redisSkipped: string | undefined

const baselineOps = (): Record<string, number> => {
  try {
    return (JSON.parse(readFileSync(baselineFile, "utf8")) as { ops: Record<string, number> }).ops
  } catch {
    return {}
  }
}

// ---------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------

interface Target {
  readonly target: string
  readonly goal: string
  readonly measured: string
  readonly status: "met" | "missed" | "not measured"
}

const findGet = (store: string, size: number, mode_ = "fiber", op = "get") =>
  results.inprocess.find((r) => r.store === store && r.size === size && r.mode === mode_ && r.op === op)

const targets = (): Array<Target> => {
  const out: Array<Target> = []
  const status = (ok: boolean | undefined): Target["status"] =>
    ok === undefined ? "not measured" : ok ? "met" : "missed"

  // HTTP
  const measuredHttp = (server: string) =>
    results.http.find((r) => r.server === server && r.skipped === undefined && r.noSamples !== true)
  const bare = measuredHttp(BARE)
  const ours = measuredHttp("ours")
  const overhead = ours?.addedCpu
  out.push({
    target:
      "HTTP: server CPU added per request over bare @effect/platform-node (median of per-round paired differences)",
    goal: "≤ 10 µs",
    measured: overhead === undefined || bare === undefined
      ? "–"
      : `${spreadCell(overhead)} µs (${ratio(ours!.cpuMicrosPerRequest! / bare.cpuMicrosPerRequest!)} bare)`,
    status: status(overhead === undefined ? undefined : overhead.median <= 10)
  })
  const p99 = ours?.p99VsBare
  out.push({
    target: "HTTP: p99 latency vs bare (median of per-round ratios)",
    goal: "≤ 1.2x",
    measured: spreadCell(p99, (n) => ratio(n)),
    status: status(p99 === undefined ? undefined : p99.median <= 1.2)
  })

  // getSession
  const small = config.inprocess[0]
  const large = config.inprocess[config.inprocess.length - 1]
  const oursSmall = findGet("ours", small)
  const expressGet = findGet("express", small, "callback", "get (store.get only)")
  const mapGet = findGet("map", small, "sync")
  const vsExpress = oursSmall && expressGet ? expressGet.nsPerOp / oursSmall.nsPerOp : undefined
  out.push({
    target: `getSession in a fiber at ${count(small)}: throughput vs express-session MemoryStore.get`,
    goal: "≥ 3x",
    measured: ratio(vsExpress),
    status: status(vsExpress === undefined ? undefined : vsExpress >= 3)
  })
  const vsMap = oursSmall && mapGet ? oursSmall.nsPerOp / mapGet.nsPerOp : undefined
  out.push({
    target: `getSession in a fiber at ${count(small)}: time vs plain Map lookup + expiry check + touch`,
    goal: "≤ 30x",
    measured: ratio(vsMap),
    status: status(vsMap === undefined ? undefined : vsMap <= 30)
  })
  const inprocessOf = (op: string, size: number) =>
    results.inprocess.find((r) => r.store === "ours" && r.mode === "fiber" && r.op === op && r.size === size)
  const update = inprocessOf("update", small)
  const vsGet = update && oursSmall ? update.nsPerOp / oursSmall.nsPerOp : undefined
  out.push({
    target: `updateData of one key vs getSession, in a fiber at ${count(small)}`,
    goal: "≤ 2x",
    measured: ratio(vsGet),
    status: status(vsGet === undefined ? undefined : vsGet <= 2)
  })
  const rotateSmall = inprocessOf("rotate", small)
  const rotateLarge = inprocessOf("rotate", large)
  const rotation = rotateSmall && rotateLarge && large !== small ? rotateLarge.nsPerOp / rotateSmall.nsPerOp : undefined
  out.push({
    target: `rotateSession at ${count(large)} vs at ${count(small)} resident${
      large < 1_000_000 ? " (1M in --full)" : ""
    }`,
    goal: "≤ 2x",
    measured: ratio(rotation),
    status: status(rotation === undefined ? undefined : rotation <= 2)
  })
  const oursLarge = findGet("ours", large)
  const scaling = oursLarge && oursSmall && large !== small ? oursLarge.nsPerOp / oursSmall.nsPerOp : undefined
  out.push({
    target: `getSession at ${count(large)} vs at ${count(small)} resident${large < 1_000_000 ? " (1M in --full)" : ""}`,
    goal: "≤ 2x slower",
    measured: ratio(scaling),
    status: status(scaling === undefined ? undefined : scaling <= 2)
  })

  // heap
  const heapOf = (store: string, authenticated: boolean) =>
    results.heap.find((r) => r.store === store && r.authenticated === authenticated)
  for (const authenticated of [false, true]) {
    const o = heapOf("ours", authenticated)
    const m = heapOf("Map", authenticated)
    const h = o && m ? o.bytesPerSession / m.bytesPerSession : undefined
    out.push({
      target: `Heap per resident session at ${count(config.heap)} vs plain Map, ${
        authenticated ? "authenticated (one user each)" : "anonymous"
      }`,
      goal: "≤ 1.3x",
      measured: h === undefined ? "–" : `${ratio(h)} (${num(o!.bytesPerSession)} vs ${num(m!.bytesPerSession)} B)`,
      status: status(h === undefined ? undefined : h <= 1.3)
    })
  }

  // sweep
  const sweepOf = (store: string, size: number, expired: number) =>
    results.sweep.find((r) => r.store === store && r.size === size && r.expired === expired)
  const n = config.sweep
  const tenth = sweepOf("ours", n, Math.round(n * 0.1))
  const hundredth = sweepOf("ours", n, Math.round(n * 0.01))
  const smallTenth = sweepOf("ours", n / 10, Math.round(n * 0.01))
  const residentEffect = hundredth && smallTenth ? hundredth.ms / smallTenth.ms : undefined
  const expiredEffect = tenth && hundredth ? tenth.ms / hundredth.ms : undefined
  out.push({
    target: `Sweep cost follows expired sessions, not residents (${count(n / 100)} expired among ${count(n)} vs ${
      count(n / 10)
    } resident)`,
    goal: "≈ 1x (≤ 1.5x); 10x expired ≈ 10x time",
    measured: `${ratio(residentEffect)} for 10x residents; ${ratio(expiredEffect)} for 10x expired`,
    status: status(residentEffect === undefined ? undefined : residentEffect <= 1.5)
  })
  out.push({
    target: `Longest event-loop stall while sweeping ${count(n)} (10% expired)${
      n < 1_000_000 ? " (1M in --full)" : ""
    }`,
    goal: "≤ 20 ms",
    measured: tenth === undefined ? "–" : `${num(tenth.maxStallMs)} ms (sweep took ${num(tenth.ms)} ms)`,
    status: status(tenth === undefined ? undefined : tenth.maxStallMs <= 20)
  })

  // redis
  const redisOf = (store: string, inflight: number) =>
    results.redis.find((r) => r.store === store && r.inflight === inflight && r.noSamples !== true)
  for (const [inflight, goal, min] of [[64, "≥ 1x (moonshot 1.5x)", 1], [1, "≥ 1x", 1]] as const) {
    const o = redisOf("ours", inflight)
    const c = redisOf("connect-redis", inflight)
    const r = o && c ? o.opsPerSec / c.opsPerSec : undefined
    out.push({
      target: `Redis: getSession throughput vs connect-redis get, ${inflight} in flight`,
      goal,
      measured: r === undefined ? "–" : `${ratio(r)} (${num(o!.opsPerSec)} vs ${num(c!.opsPerSec)} ops/s)`,
      status: status(r === undefined ? undefined : r >= min)
    })
  }
  if (results.sql !== undefined) out.push(...sqlTargets(results.sql))
  return out
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const us = (ns: number | undefined) => (ns === undefined ? undefined : ns / 1000)

/** `median (min to max)` of a spread, e.g. per-round paired differences. */
const spreadCell = (s: Spread | undefined, format: (n: number) => string = (n) => num(n)) =>
  s === undefined ? "–" : `${format(s.median)} (${format(s.min)} to ${format(s.max)})`

const opsTable = (): string => {
  const ops = results.ops
  if (ops === undefined) return ""
  return [
    `### 0. Effect operations and CPU per request, in process (HttpApp.toWebHandlerLayer, no sockets)`,
    "",
    `Operations are exact (a supervisor counts them); CPU is the median of ${ops.rounds} interleaved rounds of ${ops.requests} requests per variant, with the per-round paired differences against bare (median, min to max). ${
      describeNoise(ops.shares)
    }${isNoisy(ops.shares) ? ": **noisy run**" : ""}.`,
    "",
    table(
      [
        "variant",
        "operations/request",
        "added over bare",
        "baseline",
        "CPU µs/request",
        "CPU added over bare µs",
        "CPU × floor"
      ],
      ops.rows.map((r) => [
        r.name.startsWith("ours") ? `**${r.label}**` : r.label,
        r.opsRange[0] === r.opsRange[1] ? String(r.ops) : `${r.ops} (${r.opsRange[0]} to ${r.opsRange[1]})`,
        r.addedOps === 0 ? "–" : `+${r.addedOps}`,
        r.baseline === undefined ? "none" : String(r.baseline),
        num(r.cpuMicros),
        spreadCell(r.addedCpu),
        spreadCell(r.vsFloor, (n) => ratio(n))
      ])
    ),
    ...(ops.regressions.length > 0 ? ["", `**Above the baseline:** ${ops.regressions.join("; ")}.`] : []),
    ...(ops.improvements.length > 0
      ? [
        "",
        `Below the baseline (lock it in with \`npm run bench -- --only ops --update-baseline\`): ${
          ops.improvements.join("; ")
        }.`
      ]
      : [])
  ].join("\n")
}

const inprocessTables = (): string => {
  if (results.inprocess.length === 0) return ""
  const sizesRun = [...new Set(results.inprocess.map((r) => r.size))].sort((a, b) => a - b)
  const line = (label: string, store: string, mode_: string, op: string) => {
    const cells = sizesRun.flatMap((size) => {
      const row = results.inprocess.find((r) => r.store === store && r.mode === mode_ && r.op === op && r.size === size)
      const map = findGet("map", size, "sync")
      return [num(us(row?.nsPerOp)), row && map ? ratio(row.nsPerOp / map.nsPerOp) : "–"]
    })
    return [label, ...cells]
  }
  const header = ["get = lookup + expiry check + touch", ...sizesRun.flatMap((s) => [`µs/op @ ${count(s)}`, "× Map"])]
  const getRows = [
    line("plain Map (token as key)", "map", "sync", "get"),
    line("plain Map + SHA-256 of the token", "map+sha256", "sync", "get"),
    line("express-session MemoryStore: get only", "express", "callback", "get (store.get only)"),
    line("express-session MemoryStore: get + touch", "express", "callback", "get"),
    line("@fastify/session store: get + restore + touch + set", "fastify", "callback", "get"),
    line("**OURS getSession, in one fiber**", "ours", "fiber", "get"),
    line("**OURS getSession, one Effect.runPromise per call**", "ours", "runPromise", "get"),
    line("OURS updateData of one key, in one fiber", "ours", "fiber", "update"),
    line("OURS updateData of one key, one Effect.runPromise per call", "ours", "runPromise", "update")
  ]
  const largest = sizesRun[sizesRun.length - 1]
  const opRow = (label: string, store: string, mode_: string) => [
    label,
    ...["open", "rotate", "close"].map((op) =>
      num(
        us(
          results.inprocess.find((r) => r.store === store && r.mode === mode_ && r.op === op && r.size === largest)
            ?.nsPerOp
        )
      )
    )
  ]
  const ops = table(["µs/op @ " + count(largest), "open", "rotate", "close"], [
    opRow("plain Map", "map", "sync"),
    opRow("express-session MemoryStore", "express", "callback"),
    opRow("@fastify/session store", "fastify", "callback"),
    opRow("**OURS, in one fiber**", "ours", "fiber"),
    opRow("**OURS, runPromise per call**", "ours", "runPromise")
  ])
  return [
    "### 1. In-process operations",
    "",
    table(header, getRows),
    "",
    ops
  ].join("\n")
}

const anatomyTable = (): string => {
  if (results.anatomy.length === 0) return ""
  const real = results.anatomy.find((r) => r.variant.startsWith("real"))
  const groups = [...new Set(results.anatomy.map((r) => r.group))]
  return [
    `### 1b. Anatomy by ablation @ ${
      count(config.inprocess[0])
    } (replica of getSession from the same public pieces; one fiber)`,
    "",
    ...groups.flatMap((group) => [
      table(
        [group, "µs/op (wall)", "µs/op (CPU)", group === "getSession" ? "× real getSession" : ""],
        results.anatomy.filter((r) => r.group === group).map((r) => [
          r.variant,
          num(us(r.nsPerOp)),
          num(us(r.cpuNsPerOp)),
          group === "getSession" && real ? ratio(r.nsPerOp / real.nsPerOp) : ""
        ])
      ),
      ""
    ])
  ].join("\n")
}

const heapTable = (): string => {
  if (results.heap.length === 0) return ""
  const map = (authenticated: boolean) =>
    results.heap.find((r) => r.store === "Map" && r.authenticated === authenticated)
  return [
    `### 2. Heap per resident session (${count(config.heap)} sessions, heapUsed delta after forced GC)`,
    "",
    table(
      ["store", "principal", "bytes/session", "× plain Map"],
      results.heap.map((r) => [
        r.store === "ours" ? "**OURS memory store**" : r.store,
        r.authenticated ? "one user each" : "anonymous",
        num(r.bytesPerSession, 0),
        ratio(r.bytesPerSession / (map(r.authenticated)?.bytesPerSession ?? NaN))
      ])
    )
  ].join("\n")
}

const sweepTable = (): string => {
  if (results.sweep.length === 0) return ""
  return [
    "### 3. Sweep",
    "",
    table(
      [
        "store",
        "resident",
        "expired",
        "total ms",
        "µs per expired",
        "longest stall ms",
        "longest GC pause ms",
        "then shutdown"
      ],
      results.sweep.map((r) => [
        r.store === "ours"
          ? "**OURS cleanSessions**"
          : r.store === "Map"
          ? "Map full scan"
          : "express-session MemoryStore.all",
        count(r.size),
        count(r.expired),
        num(r.ms),
        num((r.ms * 1000) / r.expired),
        num(r.maxStallMs),
        num(r.maxGcPauseMs),
        r.shutdownMs === undefined
          ? ""
          : `${num(r.shutdownMs)} ms for ${count(r.remaining)} (${num((r.shutdownMs * 1000) / r.remaining)} µs each)`
      ])
    )
  ].join("\n")
}

const httpTable = (): string => {
  if (results.http.length === 0) return ""
  const { connections, rounds, seconds } = config.http
  const shares = results.http.flatMap((r) => (r.rounds ?? []).map((w) => w.othersShare ?? undefined))
  return [
    `### 4. HTTP on loopback (${connections} connections, ${rounds} rounds of ${seconds} s per server, interleaved; server on core 0, autocannon on core 1)`,
    "",
    `Server CPU is the server process' own (\`process.cpuUsage()\`, reported by the server) per request answered; medians over the rounds, and per-round paired differences with bare (median, min to max). Throughput and latency are wall-clock figures: on a busy machine they move most. ${
      describeNoise(shares)
    }${isNoisy(shares) ? ": **noisy run**" : ""}.`,
    "",
    table(
      [
        "server",
        "server CPU µs/req",
        "CPU added over bare µs",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99 × bare",
        "noisy rounds"
      ],
      results.http.map((r) =>
        r.skipped !== undefined || r.noSamples === true
          ? [r.label, r.noSamples === true ? "no samples" : `skipped: ${r.skipped}`, "", "", "", "", "", ""]
          : [
            r.server === "ours" ? `**${r.label}**` : r.label,
            num(r.cpuMicrosPerRequest),
            r.server === BARE ? "–" : spreadCell(r.addedCpu),
            num(r.rps),
            num(r.p50),
            num(r.p99),
            r.server === BARE ? "–" : spreadCell(r.p99VsBare, (n) => ratio(n)),
            `${(r.rounds ?? []).filter((w) => (w.othersShare ?? 0) > NOISY_SHARE).length}/${r.rounds?.length ?? 0}`
          ]
      )
    )
  ].join("\n")
}

const redisTable = (): string => {
  if (results.redis.length === 0) return ""
  const stores = [...new Set(results.redis.map((r) => r.store))]
  const cr = (inflight: number) => results.redis.find((r) => r.store === "connect-redis" && r.inflight === inflight)
  const labels: Record<string, string> = {
    ours: "**OURS getSession over SessionStore/Redis, in one fiber per request**",
    "ours-runpromise": "OURS getSession, one Effect.runPromise per call",
    "ours-store-touch": "OURS SessionStore/Redis touch alone",
    "connect-redis": "connect-redis get",
    "connect-redis-touch": "connect-redis get + touch",
    "ioredis-get": "bare ioredis GET",
    "node-redis-get": "bare node-redis GET"
  }
  return [
    "### 5. Redis (own redis-server on loopback, core 0; client on core 1)",
    "",
    table(
      [
        "client",
        "ops/s, 1 in flight",
        "× connect-redis",
        "ops/s, 64 in flight",
        "× connect-redis",
        "client CPU µs/op, 1 / 64 in flight",
        "commands/op, 1 / 64"
      ],
      stores.map((store) => {
        const at = (inflight: number) =>
          results.redis.find((r) => r.store === store && r.inflight === inflight && r.noSamples !== true)
        return [
          labels[store] ?? store,
          at(1) === undefined ? "no samples" : num(at(1)?.opsPerSec),
          ratio((at(1)?.opsPerSec ?? NaN) / (cr(1)?.opsPerSec ?? NaN)),
          at(64) === undefined ? "no samples" : num(at(64)?.opsPerSec),
          ratio((at(64)?.opsPerSec ?? NaN) / (cr(64)?.opsPerSec ?? NaN)),
          `${num(at(1)?.cpuMicrosPerOp ?? undefined)} / ${num(at(64)?.cpuMicrosPerOp ?? undefined)}`,
          at(1)?.commandsPerOp === undefined
            ? "–"
            : `${num(at(1)?.commandsPerOp)} / ${num(at(64)?.commandsPerOp)}`
        ]
      })
    )
  ].join("\n")
}

const charts = (): Record<string, string> => {
  const out: Record<string, string> = {}
  const measured = results.http.filter((r) => r.skipped === undefined && r.noSamples !== true)
  if (measured.length > 0) {
    const bars = (f: (r: HttpRow) => number | undefined) =>
      results.http.map((r) => ({
        label: r.label,
        value: r.skipped === undefined ? f(r) : undefined,
        highlight: r.server === "ours"
      }))
    out["http.svg"] = barPanels(
      "HTTP on loopback: one session cookie, counter bumped per request",
      `${mode} run ${
        meta.date.slice(0, 16)
      }Z, node ${meta.node}, ${config.http.connections} connections, median of ${config.http.rounds} x ${config.http.seconds}s`,
      [
        { title: "throughput", unit: "req/s", bars: bars((r) => r.rps) },
        { title: "server CPU", unit: "µs/request", bars: bars((r) => r.cpuMicrosPerRequest) },
        { title: "latency p99", unit: "ms", bars: bars((r) => r.p99) }
      ]
    )
  }
  if (results.inprocess.length > 0) {
    const series = (label: string, store: string, mode_: string, op: string, extra: Partial<Series> = {}): Series => ({
      label,
      points: results.inprocess
        .filter((r) => r.store === store && r.mode === mode_ && r.op === op)
        .sort((a, b) => a.size - b.size)
        .map((r) => [r.size, r.nsPerOp] as const),
      ...extra
    })
    out["getsession-scaling.svg"] = logLogChart(
      "getSession (lookup + expiry check + touch) vs resident sessions",
      `${mode} run ${meta.date.slice(0, 16)}Z, node ${meta.node}; lower is better`,
      "resident sessions",
      "time per operation",
      [
        series("OURS, one fiber", "ours", "fiber", "get", { highlight: true }),
        series("OURS, runPromise per call", "ours", "runPromise", "get", { highlight: true, dashed: true }),
        series("express MemoryStore get+touch", "express", "callback", "get"),
        series("express MemoryStore get", "express", "callback", "get (store.get only)", { dashed: true }),
        series("@fastify/session store", "fastify", "callback", "get"),
        series("plain Map + SHA-256", "map+sha256", "sync", "get", { dashed: true }),
        series("plain Map", "map", "sync", "get")
      ].filter((s) => s.points.length > 0)
    )
  }
  return out
}

const markdown = (goals: ReadonlyArray<Target>): string =>
  [
    `## effect-session benchmarks: ${mode} run, ${meta.date}`,
    "",
    `Commit ${meta.commit}${
      meta.srcChanges > 0 ? ` (plus uncommitted changes in ${meta.srcChanges} files of src/)` : ""
    }; node ${meta.node}; ${meta.machine}; load average at start ${meta.loadavg}; pinned: ${meta.pinned}.`,
    "",
    "Versions: " + Object.entries(meta.versions).map(([k, v]) => `${k} ${v}`).join(", ") + ".",
    "",
    ...(results.notes.length > 0 ? ["Notes: " + results.notes.join("; ") + ".", ""] : []),
    "### Targets",
    "",
    ...(mode === "smoke"
      ? ["_Smoke run: tiny sizes on a loaded machine; timings are not meaningful and nothing is asserted on them._", ""]
      : []),
    table(["target", "goal", "measured", "status"], goals.map((t) => [t.target, t.goal, t.measured, t.status])),
    "",
    opsTable(),
    "",
    inprocessTables(),
    "",
    anatomyTable(),
    "",
    heapTable(),
    "",
    sweepTable(),
    "",
    httpTable(),
    "",
    redisTable(),
    "",
    sqlTable(results.sql),
    ""
  ].join("\n")

const mergeLatest = () => {
  const file = join(resultsDir, `latest-${mode}.json`)
  const previous = JSON.parse(readFileSync(file, "utf8")) as Partial<Results> & { meta?: typeof meta }
  const kinds = ["inprocess", "anatomy", "heap", "sweep", "http", "redis"] as const
  for (const name of kinds) {
    if (!only.has(name) && Array.isArray(previous[name])) (results[name] as Array<unknown>) = previous[name]!
  }
  if (!only.has("ops") && previous.ops !== undefined) results.ops = previous.ops
  if (!only.has("sql") && previous.sql !== undefined) results.sql = previous.sql
  const kept = cases.filter((name) => !only.has(name))
  results.notes.push(
    `cases ${kept.join(", ")} are from the run of ${previous.meta?.date ?? "?"} (commit ${
      previous.meta?.commit ?? "?"
    })`
  )
  for (const note of (previous as { notes?: Array<string> }).notes ?? []) {
    if (!note.startsWith("case ") && !note.startsWith("cases ")) results.notes.push(note)
  }
}

const main = async () => {
  await run()
  if (merge) mergeLatest()
  const goals = targets()
  const md = markdown(goals)
  mkdirSync(resultsDir, { recursive: true })
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-")
  const json = JSON.stringify({ meta, targets: goals, ...results }, null, 2)
  for (const name of [`${mode}-${stamp}`, `latest-${mode}`]) {
    writeFileSync(join(resultsDir, `${name}.json`), json)
    writeFileSync(join(resultsDir, `${name}.md`), md)
  }
  const svgs = charts()
  for (const [name, svg] of Object.entries(svgs)) {
    writeFileSync(join(resultsDir, `${mode}-${name}`), svg)
    if (publish) {
      mkdirSync(chartsDir, { recursive: true })
      copyFileSync(join(resultsDir, `${mode}-${name}`), join(chartsDir, name))
    }
  }
  process.stdout.write(md + "\n")
  log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s; results in ${resultsDir}`)
  // A case that could not run, or a cell it did not fill, is a failure (CI runs --smoke for
  // this), and so is a skipped cell under CI; slow numbers and "no samples" are not.
  const cells = coverage()
  const bad = failingCells(cells, process.env.CI !== undefined && process.env.CI !== "")
  log(`coverage: ${summarizeCells(cells)}`)
  for (const cell of bad) {
    log(`coverage: ${cell.case} ${cell.id}: ${cell.state}${cell.detail ? ` (${cell.detail})` : ""}`)
  }
  if (failed.length > 0) log(`failed cases: ${failed.join(", ")}`)
  // operation counts are exact: one above its committed baseline is a regression, whatever the noise
  for (const line of results.ops?.improvements ?? []) {
    log(`ops: improved: ${line}; lock it in: npm run bench -- --only ops --update-baseline`)
  }
  for (const line of results.ops?.regressions ?? []) log(`ops: REGRESSION: ${line}`)
  const regressed = (results.ops?.regressions.length ?? 0) > 0
  if (regressed) log(`ops: counts above ${baselineFile}: fix them, or if intended, update it with --update-baseline`)
  if (failed.length > 0 || bad.length > 0 || regressed) process.exit(1)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
