/**
 * The PostgreSQL lookup case, one client in one process: session reads against a PostgreSQL on
 * loopback, with a fixed number of requests in flight and equal pool sizes. Prints one JSON line.
 *
 *   node --import tsx src/cases/sql/pg-child.ts --store ours --url postgres://... --pool 10 --inflight 1,64 --seconds 2 --sessions 1000
 *
 * Stores: `ours` (SessionManager.getSession over SessionStore/Pg, no touch due: one SELECT, batched
 * with the others in flight), `ours-store-touch` (the store's touch alone, not due),
 * `ours-on-sqlclient` (getSession over SessionStore/Sql on an `@effect/sql-pg` PgClient of the same
 * pool size: what the SqlClient path costs), `connect-pg-simple` (its `get`: one
 * SELECT + JSON parse, what express-session runs per request), `pg-select` (a bare `pool.query` of
 * the same row: the floor of one round trip).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as SqlStore from "effect-session/SessionStore/Sql"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createRequire } from "node:module"
import * as pg from "pg"
import { argNumber, argValue } from "../../lib/env.js"
import { expressSessionOf, IDLE_MS, mint, request } from "../../lib/fixtures.js"
import { load } from "./load.js"
import { oursOn, runChild } from "./ours.js"

const require = createRequire(import.meta.url)
const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const url = argValue(argv, "url") ?? ""
const poolSize = argNumber(argv, "pool")
const inflights = (argValue(argv, "inflight") ?? "1").split(",").map(Number)
const seconds = argNumber(argv, "seconds")
const count = argNumber(argv, "sessions")
const serverPid = argValue(argv, "server-pid") === undefined ? undefined : argNumber(argv, "server-pid")
const { keys, tokens } = mint(count)
const pick = (i: number) => (i * 7_919 + 13) % count

/** Statements run on a table so far (pg_stat_statements). */
const statementsOn = async (pool: pg.Pool, table: string): Promise<number> =>
  Number(
    (await pool.query("SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements WHERE query LIKE $1", [
      `%${table}%`
    ]))
      .rows[0].n
  )

/**
 * The load at each in-flight level; with `table`, also the statements on it per operation (every
 * operation issued, warm-up included, against every statement counted meanwhile).
 */
const drive = async (op: (i: number) => Promise<unknown>, table?: string) => {
  if (table === undefined) return load(storeName, inflights, seconds, op, serverPid)
  const admin = new pg.Pool({ connectionString: url, max: 1 })
  const results = []
  for (const inflight of inflights) {
    let issued = 0
    const before = await statementsOn(admin, table)
    const [result] = await load(storeName, [inflight], seconds, (i) => {
      issued++
      return op(i)
    }, serverPid)
    const after = await statementsOn(admin, table)
    // the two reads of pg_stat_statements count themselves (their text names the table)
    results.push({ ...result, statementsPerLookup: (after - before - 1) / issued })
  }
  await admin.end()
  return results
}

const ours = async (storeOnly: boolean, onSqlClient = false) => {
  const prefix = `bench_${process.pid}_`
  const o = await oursOn(
    onSqlClient
      ? SqlStore.layer({ prefix }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: poolSize }))
      )
      : PgStore.layer({ url, prefix, poolSize }),
    keys,
    { concurrency: poolSize }
  )
  const result = storeOnly
    ? await drive(async (i) => {
      const at = Date.now()
      const cutoff = { now: at, idleBefore: { anonymous: at - IDLE_MS, authenticated: at - IDLE_MS } }
      const read = await Effect.runPromise(o.store.touch(keys[pick(i)], cutoff, at - 60_000))
      if (read._tag !== "Read") throw new Error(`touch: ${read._tag}`)
    }, `${prefix}sessions`)
    : await drive((i) => Effect.runPromise(o.manager.getSession(request, tokens[pick(i)])), `${prefix}sessions`)
  await o.dispose()
  return result
}

const connectPgSimple = async () => {
  const session = require("express-session")
  const PgSession = require("connect-pg-simple")(session)
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
  const table = `cps_${process.pid}`
  const store = new PgSession({ pool, tableName: table, createTableIfMissing: true, pruneSessionInterval: false })
  const set = (sid: string) =>
    new Promise<void>((resolve, reject) =>
      store.set(sid, expressSessionOf(Date.now() + IDLE_MS), (error: unknown) => (error ? reject(error) : resolve()))
    )
  for (let i = 0; i < count; i += poolSize) await Promise.all(tokens.slice(i, i + poolSize).map(set))
  const result = await drive((i) =>
    new Promise((resolve, reject) =>
      store.get(
        tokens[pick(i)],
        (error: unknown, value: unknown) =>
          error ? reject(error) : value === null || value === undefined ? reject(new Error("miss")) : resolve(value)
      )
    )
  )
  await pool.query(`DROP TABLE "${table}"`)
  await pool.end()
  return result
}

const pgSelect = async () => {
  const pool = new pg.Pool({ connectionString: url, max: poolSize })
  const table = `raw_${process.pid}`
  await pool.query(`CREATE TABLE ${table} (key text PRIMARY KEY, data text NOT NULL)`)
  const value = JSON.stringify(expressSessionOf(Date.now() + IDLE_MS))
  await pool.query(`INSERT INTO ${table} SELECT unnest($1::text[]), $2`, [keys, value])
  const result = await drive(async (i) => {
    const { rows } = await pool.query(`SELECT data FROM ${table} WHERE key = $1`, [keys[pick(i)]])
    if (rows.length !== 1) throw new Error("miss")
    return JSON.parse(rows[0].data)
  })
  await pool.query(`DROP TABLE ${table}`)
  await pool.end()
  return result
}

runChild(storeName, {
  ours: async () => ({ results: await ours(false) }),
  "ours-store-touch": async () => ({ results: await ours(true) }),
  "ours-on-sqlclient": async () => ({ results: await ours(false, true) }),
  "connect-pg-simple": async () => ({ results: await connectPgSimple() }),
  "pg-select": async () => ({ results: await pgSelect() })
})
