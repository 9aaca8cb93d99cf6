/**
 * The PostgreSQL sweep case: `--expired` idle sessions among `--resident`, then one sweep, while a
 * loop looks live sessions up. Reports the sweep's time and, from pg_stat_statements, the longest
 * single statement (autocommit: how long any transaction held its row locks). Prints one JSON line.
 *
 *   node --import tsx src/cases/sql/sweep-child.ts --store ours --url postgres://... --resident 100000 --expired 10000
 *
 * Stores: `ours` (SessionManager.cleanSessions over SessionStore/Pg: batches of `sweepBatchSize`
 * rows, one `DELETE ... RETURNING` each, every session released), `connect-pg-simple` (its
 * `pruneSessions`: one `DELETE` of every expired row).
 */
import * as SessionManager from "effect-session/SessionManager"
import * as SessionStore from "effect-session/SessionStore"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createRequire } from "node:module"
import * as pg from "pg"
import { argNumber, argValue } from "../../lib/env.js"
import { anonymous, benchAuth, IDLE_MS, managerOptions, mint, recordOf, request } from "../../lib/fixtures.js"
import { percentile } from "../../lib/measure.js"

const require = createRequire(import.meta.url)
const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const url = argValue(argv, "url") ?? ""
const resident = argNumber(argv, "resident")
const expired = argNumber(argv, "expired")
const LIVE = 1_000 // real sessions (minted tokens) that the concurrent lookups use
const FILL = 100_000 // rows per bulk INSERT

export interface SweepRow {
  readonly store: string
  readonly resident: number
  readonly expired: number
  /** Sessions the sweep removed. */
  readonly removed: number
  readonly ms: number
  /** `DELETE` statements on the session table during the sweep, and the longest one (server-side ms). */
  readonly statements: number
  readonly maxStatementMs: number
  /** Lookups of live sessions run meanwhile: how long the slowest waited. */
  readonly lookups: number
  readonly lookupP99Ms: number | null
  readonly lookupMaxMs: number | null
}

const admin = new pg.Pool({ connectionString: url, max: 2 })
const now = Date.now()
const old = now - 2 * IDLE_MS

/**
 * The `DELETE` statements on `table`, from pg_stat_statements: how many ran, and the longest (each
 * runs alone in its transaction, so this is the longest any transaction held rows locked).
 */
const statementsOn = async (table: string) => {
  const { rows } = await admin.query(
    `SELECT coalesce(sum(calls), 0)::int AS calls, coalesce(max(max_exec_time), 0)::float8 AS max
     FROM pg_stat_statements WHERE query LIKE 'DELETE%' AND query LIKE $1`,
    [`%${table}%`]
  )
  return { calls: rows[0].calls as number, maxMs: rows[0].max as number }
}

/** Runs `sweep` while a loop looks sessions up; answers the sweep's result and the lookups' latencies. */
const during = async <A>(sweep: () => Promise<A>, lookup: (i: number) => Promise<unknown>) => {
  let done = false
  const latencies: Array<number> = []
  const loop = (async () => {
    for (let i = 0; !done && i < 1_000_000; i++) {
      const start = performance.now()
      await lookup(i % LIVE)
      latencies.push(performance.now() - start)
    }
  })()
  const started = performance.now()
  const result = await sweep()
  const ms = performance.now() - started
  done = true
  await loop
  latencies.sort((a, b) => a - b)
  return {
    result,
    ms,
    lookups: latencies.length,
    lookupP99Ms: latencies.length === 0 ? null : percentile(latencies, 99),
    lookupMaxMs: latencies.length === 0 ? null : latencies[latencies.length - 1]
  }
}

/** The row of a sweep: what it removed, how long it took, its statements, the lookups meanwhile. */
const rowOf = (
  run: Awaited<ReturnType<typeof during>>,
  removed: number,
  statements: { readonly calls: number; readonly maxMs: number }
): SweepRow => ({
  store: storeName,
  resident,
  expired,
  removed,
  ms: run.ms,
  statements: statements.calls,
  maxStatementMs: statements.maxMs,
  lookups: run.lookups,
  lookupP99Ms: run.lookupP99Ms,
  lookupMaxMs: run.lookupMaxMs
})

const ours = async (): Promise<SweepRow> => {
  const prefix = `sweep_${process.pid}_`
  const runtime = ManagedRuntime.make(
    SessionManager.layer(managerOptions).pipe(
      Layer.provideMerge(PgStore.layer({ url, prefix, poolSize: 4 })),
      Layer.provide(benchAuth),
      Layer.orDie
    )
  )
  const [manager, store] = await runtime.runPromise(
    Effect.all([SessionManager.SessionManager, SessionStore.SessionStore])
  )
  const { keys, tokens } = mint(LIVE)
  await runtime.runPromise(
    Effect.forEach(keys, (key) => store.insert(recordOf(key, anonymous, now), SessionStore.unlimited), {
      discard: true
    })
  )
  // the rest in bulk: `expired` unused for twice the idle timeout, the others just used
  for (let from = 0; from < resident - LIVE; from += FILL) {
    await admin.query(
      `INSERT INTO ${prefix}sessions (key, principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, lru)
       SELECT 'bulk-' || i, 'anonymous', true, NULL, $1::float8, CASE WHEN i < $2::int THEN $3::float8 ELSE $1::float8 END,
              $4::float8, '{"counter":0}', nextval('${prefix}session_seq')
       FROM generate_series($5::int, $6::int) AS i`,
      [now, expired, old, now + 24 * 3_600_000, from, Math.min(from + FILL, resident - LIVE) - 1]
    )
  }
  await admin.query(`VACUUM ANALYZE ${prefix}sessions`)
  await admin.query("SELECT pg_stat_statements_reset()")
  const run = await during(
    () => runtime.runPromise(manager.cleanSessions),
    (i) => runtime.runPromise(manager.getSession(request, tokens[i]))
  )
  const after = await statementsOn(`${prefix}sessions`)
  await runtime.dispose()
  await admin.query(
    `DROP TABLE ${prefix}sessions, ${prefix}session_links, ${prefix}session_counts, ${prefix}session_principals CASCADE`
  )
  return rowOf(run, run.result.closed, after)
}

const connectPgSimple = async (): Promise<SweepRow> => {
  const session = require("express-session")
  const PgSession = require("connect-pg-simple")(session)
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  const table = `cps_sweep_${process.pid}`
  const store = new PgSession({ pool, tableName: table, pruneSessionInterval: false })
  // its documented table (node_modules/connect-pg-simple/table.sql)
  await admin.query(`CREATE TABLE "${table}" (sid varchar NOT NULL COLLATE "default" PRIMARY KEY, sess json NOT NULL,
    expire timestamp(6) NOT NULL)`)
  await admin.query(`CREATE INDEX "IDX_${table}_expire" ON "${table}" (expire)`)
  for (let from = 0; from < resident; from += FILL) {
    await admin.query(
      `INSERT INTO "${table}" (sid, sess, expire)
       SELECT 's-' || i, '{"cookie":{},"counter":0}',
              CASE WHEN i < $1::int THEN now() - interval '1 hour' ELSE now() + interval '1 day' END
       FROM generate_series($2::int, $3::int) AS i`,
      [expired, from, Math.min(from + FILL, resident) - 1]
    )
  }
  await admin.query(`VACUUM ANALYZE "${table}"`)
  const countBefore = (await admin.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n as number
  await admin.query("SELECT pg_stat_statements_reset()")
  const run = await during(
    () =>
      new Promise<void>((resolve, reject) =>
        store.pruneSessions((error: unknown) => (error ? reject(error) : resolve()))
      ),
    (i) => new Promise((resolve) => store.get(`s-${expired + i}`, resolve))
  )
  const after = await statementsOn(table)
  const countAfter = (await admin.query(`SELECT count(*)::int AS n FROM "${table}"`)).rows[0].n as number
  await admin.query(`DROP TABLE "${table}"`)
  await pool.end()
  return rowOf(run, countBefore - countAfter, after)
}

const main = async () => {
  await admin.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
  const row = storeName === "ours"
    ? await ours()
    : storeName === "connect-pg-simple"
    ? await connectPgSimple()
    : undefined
  if (row === undefined) throw new Error(`unknown store ${storeName}`)
  await admin.end()
  process.stdout.write(JSON.stringify(row) + "\n")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
