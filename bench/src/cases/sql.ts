/**
 * Case 6, the SQL stores: lookups against connect-pg-simple on one PostgreSQL (equal pool sizes,
 * 1 and 64 requests in flight, statements per lookup from pg_stat_statements), lookups on SQLite
 * against a raw better-sqlite3 prepared select, and a sweep on PostgreSQL (the longest statement:
 * how long any transaction held its locks). PostgreSQL is a throwaway cluster (the test harness's,
 * `initdb` + `pg_ctl` on a free loopback port), pinned to core 0; clients run one at a time on
 * core 1, in alternating order over the repetitions.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { postgresAvailable, type PostgresServer, spawnPostgres } from "../../../test/sql/postgres.js"
import type { Cell, CellState } from "../lib/coverage.js"
import { cellState } from "../lib/coverage.js"
import type { Mode } from "../lib/env.js"
import { canPin, runJson } from "../lib/proc.js"
import { num, ratio, table } from "../lib/report.js"
import type { Load } from "./sql/load.js"
import type { SweepRow } from "./sql/sweep-child.js"

export interface PgLookupRow extends Load {
  readonly store: string
  readonly noSamples?: boolean
  /** Statements on the session table per lookup (ours only). */
  readonly statementsPerLookup?: number
  readonly repetitions: ReadonlyArray<number>
}

export interface SqliteRow {
  readonly store: string
  readonly size: number
  readonly nsPerOp: number
  readonly cpuNsPerOp: number
}

export interface SqlResults {
  readonly pg: ReadonlyArray<PgLookupRow>
  readonly sqlite: ReadonlyArray<SqliteRow>
  readonly sweep: ReadonlyArray<SweepRow>
  readonly skipped?: string
  readonly versions: { readonly postgres: string }
}

const sizes: Record<Mode, {
  readonly pg: { readonly seconds: number; readonly sessions: number; readonly repetitions: number }
  readonly sqlite: {
    readonly size: number
    readonly budgetMs: number
    readonly rounds: number
    readonly maxOps: number
  }
  readonly sweep: { readonly resident: number; readonly expired: number }
}> = {
  smoke: {
    pg: { seconds: 0.2, sessions: 100, repetitions: 1 },
    sqlite: { size: 1_000, budgetMs: 20, rounds: 1, maxOps: 1_000 },
    sweep: { resident: 2_000, expired: 200 }
  },
  quick: {
    pg: { seconds: 1.5, sessions: 1_000, repetitions: 2 },
    sqlite: { size: 10_000, budgetMs: 300, rounds: 5, maxOps: 300_000 },
    sweep: { resident: 100_000, expired: 10_000 }
  },
  full: {
    pg: { seconds: 4, sessions: 10_000, repetitions: 3 },
    sqlite: { size: 100_000, budgetMs: 1_000, rounds: 7, maxOps: 2_000_000 },
    sweep: { resident: 1_000_000, expired: 100_000 }
  }
}

/** Requests in flight, and the pool size both PostgreSQL stores get. */
export const sqlInflights = [1, 64] as const
const POOL = 10
export const pgStores = ["ours", "ours-store-touch", "ours-on-sqlclient", "connect-pg-simple", "pg-select"] as const
export const sqliteStores = [
  "ours",
  "ours-store-touch",
  "ours-on-sqlclient",
  "sqlclient-select",
  "better-sqlite3"
] as const
export const sweepStores = ["ours", "connect-pg-simple"] as const

type Log = (line: string) => void

/** A child's command-line arguments: `--name value` for each entry. */
const flags = (args: Record<string, string | number>): Array<string> =>
  Object.entries(args).flatMap(([name, value]) => [`--${name}`, String(value)])

/** Pins a process and its current children (the postmaster's backends) to core 0; new backends inherit it. */
const pinServer = async (server: PostgresServer) => {
  if (!canPin()) return
  const { execFileSync } = await import("node:child_process")
  for (const pid of server.pids()) {
    try {
      execFileSync("taskset", ["-pc", "0", String(pid)], { stdio: "ignore" })
    } catch {
      // a process that ended meanwhile
    }
  }
}

export const runSql = async (mode: Mode, log: Log): Promise<SqlResults> => {
  const size = sizes[mode]
  const parallel = mode === "smoke" ? 2 : 1
  const pin = parallel > 1 ? {} : { core: 1 }
  const timeoutMs = mode === "full" ? 900_000 : 240_000
  if (!postgresAvailable()) {
    const skipped = "PostgreSQL binaries are not installed (apt-get install -y postgresql)"
    if (process.env.CI) throw new Error(skipped)
    return { pg: [], sqlite: await runSqlite(mode, log), sweep: [], skipped, versions: { postgres: "missing" } }
  }
  const server = await spawnPostgres()
  try {
    await pinServer(server)
    await server.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    const version = (await server.query("SHOW server_version"))[0].server_version as string
    const out = new Map<string, Array<Load & { statementsPerLookup?: number }>>()
    for (let rep = 0; rep < size.pg.repetitions; rep++) {
      const order = rep % 2 === 0 ? pgStores : [...pgStores].reverse()
      for (const store of order) {
        const result = await runJson<{ results: Array<Load & { statementsPerLookup?: number }> }>(
          "src/cases/sql/pg-child.ts",
          flags({
            store,
            url: server.url(),
            pool: POOL,
            inflight: sqlInflights.join(","),
            seconds: size.pg.seconds,
            sessions: size.pg.sessions,
            "server-pid": server.pids()[0]
          }),
          { ...pin, timeoutMs }
        )
        log(
          `sql: pg ${store}: ${result.results.map((r) => `${r.inflight} in flight ${num(r.opsPerSec)}/s`).join(", ")}`
        )
        out.set(store, [...(out.get(store) ?? []), ...result.results])
      }
    }
    const pg: Array<PgLookupRow> = []
    for (const store of pgStores) {
      for (const inflight of sqlInflights) {
        const reps = (out.get(store) ?? []).filter((r) => r.inflight === inflight)
        if (reps.length === 0) continue
        const best = reps.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))
        pg.push({
          ...best,
          store,
          ...(best.ops === 0 ? { noSamples: true } : {}),
          repetitions: reps.map((r) => r.opsPerSec)
        })
      }
    }
    const sweep: Array<SweepRow> = []
    for (const store of sweepStores) {
      const row = await runJson<SweepRow>(
        "src/cases/sql/sweep-child.ts",
        flags({ store, url: server.url(), resident: size.sweep.resident, expired: size.sweep.expired }),
        { ...pin, timeoutMs }
      )
      log(`sql: sweep ${store}: ${num(row.ms)} ms, longest statement ${num(row.maxStatementMs)} ms`)
      sweep.push(row)
    }
    return { pg, sqlite: await runSqlite(mode, log), sweep, versions: { postgres: version } }
  } finally {
    await server.stop()
  }
}

const runSqlite = async (mode: Mode, log: Log): Promise<Array<SqliteRow>> => {
  const size = sizes[mode].sqlite
  const dir = mkdtempSync(join(tmpdir(), "effect-session-bench-sqlite-"))
  const pin = mode === "smoke" ? {} : { core: 1 }
  try {
    const rows: Array<SqliteRow> = []
    for (const store of sqliteStores) {
      const row = await runJson<SqliteRow>(
        "src/cases/sql/sqlite-child.ts",
        flags({ store, dir, size: size.size, budget: size.budgetMs, rounds: size.rounds, "max-ops": size.maxOps }),
        { ...pin, timeoutMs: mode === "full" ? 600_000 : 180_000 }
      )
      log(`sql: sqlite ${store}: ${(row.nsPerOp / 1000).toFixed(2)} µs/op`)
      rows.push(row)
    }
    return rows
  } finally {
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true })
  }
}

/** One cell per expected measurement (see lib/coverage.ts). */
export const sqlCells = (results: SqlResults | undefined): Array<Cell> => {
  const cells: Array<Cell> = []
  const add = (id: string, state: { readonly state: CellState; readonly detail?: string }) =>
    cells.push({ case: "sql", id, ...state })
  const skipped = results?.skipped
  for (const store of pgStores) {
    for (const inflight of sqlInflights) {
      const row = results?.pg.find((r) => r.store === store && r.inflight === inflight)
      add(
        `pg ${store}, ${inflight} in flight`,
        skipped === undefined ? cellState(row, (r) => [r.opsPerSec]) : { state: "skipped", detail: skipped }
      )
    }
  }
  for (const store of sweepStores) {
    const row = results?.sweep.find((r) => r.store === store)
    add(
      `pg sweep ${store}`,
      skipped === undefined ? cellState(row, (r) => [r.ms, r.maxStatementMs]) : { state: "skipped", detail: skipped }
    )
  }
  for (const store of sqliteStores) {
    add(`sqlite ${store}`, cellState(results?.sqlite.find((r) => r.store === store), (r) => [r.nsPerOp]))
  }
  return cells
}

export interface SqlTarget {
  readonly target: string
  readonly goal: string
  readonly measured: string
  readonly status: "met" | "missed" | "not measured"
}

/** The issue's speed targets for the SQL stores. */
export const sqlTargets = (results: SqlResults | undefined): Array<SqlTarget> => {
  const status = (ok: boolean | undefined): SqlTarget["status"] =>
    ok === undefined ? "not measured" : ok ? "met" : "missed"
  const pgOf = (store: string, inflight: number) =>
    results?.pg.find((r) => r.store === store && r.inflight === inflight && r.noSamples !== true)
  const out: Array<SqlTarget> = []
  for (const [inflight, goal, min] of [[64, "≥ 1.5x", 1.5], [1, "≥ 1x", 1]] as const) {
    const o = pgOf("ours", inflight)
    const c = pgOf("connect-pg-simple", inflight)
    const r = o && c ? o.opsPerSec / c.opsPerSec : undefined
    out.push({
      target: `PostgreSQL: getSession throughput vs connect-pg-simple get, ${inflight} in flight, pools of ${POOL}`,
      goal,
      measured: r === undefined ? "–" : `${ratio(r)} (${num(o!.opsPerSec)} vs ${num(c!.opsPerSec)} ops/s)`,
      status: status(r === undefined ? undefined : r >= min)
    })
  }
  const perLookup = pgOf("ours", 1)?.statementsPerLookup
  out.push({
    target: "PostgreSQL: statements per lookup with no touch due (pg_stat_statements)",
    goal: "1",
    measured: perLookup === undefined ?
      "–" :
      `${num(perLookup)} at 1 in flight, ${num(pgOf("ours", 64)?.statementsPerLookup ?? NaN)} at 64 (batched)`,
    status: status(perLookup === undefined ? undefined : perLookup <= 1.01)
  })
  const sqliteOf = (store: string) => results?.sqlite.find((r) => r.store === store)
  const ours = sqliteOf("ours")
  const raw = sqliteOf("better-sqlite3")
  const touch = sqliteOf("ours-store-touch")
  const sqlite = ours && raw ? ours.nsPerOp / raw.nsPerOp : undefined
  out.push({
    target: `SQLite: getSession time vs a raw better-sqlite3 prepared select of the same row (${
      touch && raw ? `the store's touch alone: ${ratio(touch.nsPerOp / raw.nsPerOp)}` : "–"
    })`,
    goal: "≤ 3x",
    measured: sqlite === undefined
      ? "–"
      : `${ratio(sqlite)} (${num(ours!.nsPerOp / 1000)} vs ${num(raw!.nsPerOp / 1000)} µs)`,
    status: status(sqlite === undefined ? undefined : sqlite <= 3)
  })
  const sweep = results?.sweep.find((r) => r.store === "ours")
  out.push({
    target: `PostgreSQL sweep of ${
      sweep === undefined ? "–" : `${num(sweep.expired)} expired among ${num(sweep.resident)}`
    }: longest statement (its locks' hold)`,
    goal: "≤ 50 ms",
    measured: sweep === undefined ? "–" : `${num(sweep.maxStatementMs)} ms`,
    status: status(sweep === undefined ? undefined : sweep.maxStatementMs <= 50)
  })
  return out
}

const labels: Record<string, string> = {
  ours: "**OURS getSession**",
  "ours-store-touch": "OURS store touch alone (not due: one read)",
  "ours-on-sqlclient": "OURS getSession, SessionStore/Sql on a SqlClient",
  "connect-pg-simple": "connect-pg-simple get",
  "pg-select": "bare pg pool.query of the row",
  "sqlclient-select": "a point select through @effect/sql-sqlite-node's SqlClient",
  "better-sqlite3": "raw better-sqlite3 prepared select"
}

export const sqlTable = (results: SqlResults | undefined): string => {
  if (results === undefined) return ""
  const lines = ["### 6. SQL stores", ""]
  if (results.skipped !== undefined) lines.push(`PostgreSQL skipped: ${results.skipped}.`, "")
  if (results.pg.length > 0) {
    const cps = (inflight: number) => results.pg.find((r) => r.store === "connect-pg-simple" && r.inflight === inflight)
    lines.push(
      `PostgreSQL ${results.versions.postgres} on loopback (core 0), client on core 1, pools of ${POOL}; best of the repetitions. CPU per lookup: the client process, and the server's processes.`,
      "",
      table(
        [
          "client",
          "in flight",
          "ops/s",
          "× connect-pg-simple",
          "p50 µs",
          "p99 µs",
          "client CPU µs",
          "server CPU µs",
          "statements/lookup"
        ],
        results.pg.map((r) => [
          labels[r.store] ?? r.store,
          String(r.inflight),
          r.noSamples ? "no samples" : num(r.opsPerSec),
          ratio(r.opsPerSec / (cps(r.inflight)?.opsPerSec ?? NaN)),
          num(r.p50Micros ?? NaN),
          num(r.p99Micros ?? NaN),
          num(r.clientCpuMicros ?? NaN),
          num(r.serverCpuMicros ?? NaN),
          r.statementsPerLookup === undefined ? "" : num(r.statementsPerLookup)
        ])
      ),
      ""
    )
  }
  if (results.sweep.length > 0) {
    lines.push(
      table(
        [
          "sweep",
          "expired / resident",
          "ms",
          "statements",
          "longest statement ms",
          "lookups meanwhile",
          "lookup p99 ms",
          "lookup max ms"
        ],
        results.sweep.map((r) => [
          r.store === "ours" ? "**OURS cleanSessions**" : "connect-pg-simple pruneSessions",
          `${num(r.removed)} / ${num(r.resident)}`,
          num(r.ms),
          num(r.statements),
          num(r.maxStatementMs),
          num(r.lookups),
          num(r.lookupP99Ms ?? NaN),
          num(r.lookupMaxMs ?? NaN)
        ])
      ),
      ""
    )
  }
  if (results.sqlite.length > 0) {
    const raw = results.sqlite.find((r) => r.store === "better-sqlite3")
    lines.push(
      `SQLite file (WAL), ${num(results.sqlite[0].size)} sessions, one fiber per batch:`,
      "",
      table(
        ["lookup", "µs/op", "CPU µs/op", "× raw better-sqlite3"],
        results.sqlite.map((r) => [
          labels[r.store] ?? r.store,
          num(r.nsPerOp / 1000),
          num(r.cpuNsPerOp / 1000),
          ratio(r.nsPerOp / (raw?.nsPerOp ?? NaN))
        ])
      )
    )
  }
  return lines.join("\n")
}
