/**
 * The SQLite lookup case, in one process: one session looked up by its key in a database file of
 * `--size` sessions (WAL mode), time per operation. Prints one JSON line.
 *
 *   node --import tsx src/cases/sql/sqlite-child.ts --store ours --dir /tmp/x --size 10000 --budget 300 --rounds 5 --max-ops 200000
 *
 * Stores: `ours` (SessionManager.getSession over SessionStore/Sqlite, no touch due), `ours-store-touch`
 * (the store's touch alone), `ours-on-sqlclient` (getSession over SessionStore/Sql on an
 * `@effect/sql-sqlite-node` SqliteClient), `sqlclient-select` (a point select through that
 * SqlClient: where a SqlClient's time goes), `better-sqlite3` (a raw prepared select of the same
 * row: the floor).
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import Database from "better-sqlite3"
import * as SqlStore from "effect-session/SessionStore/Sql"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { join } from "node:path"
import { argNumber, argValue } from "../../lib/env.js"
import { IDLE_MS, mint, request, visit } from "../../lib/fixtures.js"
import { measure } from "../../lib/measure.js"
import { oursOn, runChild } from "./ours.js"

const stores = ["ours", "ours-store-touch", "ours-on-sqlclient", "sqlclient-select", "better-sqlite3"]

const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const dir = argValue(argv, "dir") ?? "."
const size = argNumber(argv, "size")
const options = {
  budgetMs: argNumber(argv, "budget"),
  rounds: argNumber(argv, "rounds"),
  maxOps: argNumber(argv, "max-ops"),
  batch: 200
}
const { keys, tokens } = mint(size)
const filename = join(dir, `${storeName}-${process.pid}.db`)

// in one fiber per batch (the in-process case's "fiber" mode): the loop, not runPromise, is measured
const inFiber = (op: (i: number) => Effect.Effect<unknown, unknown>) => (start: number, count: number) =>
  Effect.runPromise(Effect.gen(function*() {
    for (let i = start; i < start + count; i++) yield* op(visit(i, size))
  }) as Effect.Effect<void>)

const measureStore = async () => {
  let result
  if (storeName === "ours" || storeName === "ours-store-touch" || storeName === "ours-on-sqlclient") {
    const layer = storeName === "ours-on-sqlclient"
      ? SqlStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename })))
      : SqliteStore.layer({ filename })
    const o = await oursOn(layer, keys, { concurrency: 1 })
    const at = Date.now()
    const cutoff = { now: at, idleBefore: { anonymous: at - IDLE_MS, authenticated: at - IDLE_MS } }
    result = await measure(
      storeName === "ours-store-touch"
        ? inFiber((i) =>
          Effect.filterOrDieMessage(o.store.touch(keys[i], cutoff, at - 60_000), (r) => r._tag === "Read", "not Read")
        )
        : inFiber((i) => o.manager.getSession(request, tokens[i])),
      options
    )
    await o.dispose()
  } else if (storeName === "sqlclient-select") {
    const runtime = ManagedRuntime.make(SqliteClient.layer({ filename }).pipe(Layer.orDie))
    const sql = await runtime.runPromise(SqlClient.SqlClient)
    await runtime.runPromise(sql`CREATE TABLE s (key TEXT PRIMARY KEY, data TEXT NOT NULL)`)
    await runtime.runPromise(
      Effect.forEach(keys, (key) => sql`INSERT INTO s VALUES (${key}, ${JSON.stringify({ counter: 0 })})`, {
        discard: true
      })
    )
    result = await measure(inFiber((i) => sql`SELECT key, data FROM s WHERE key = ${keys[i]}`), options)
    await runtime.dispose()
  } else if (storeName === "better-sqlite3") {
    const db = new Database(filename)
    db.pragma("journal_mode = WAL")
    db.exec("CREATE TABLE s (key TEXT PRIMARY KEY, data TEXT NOT NULL)")
    const insert = db.prepare("INSERT INTO s VALUES (?, ?)")
    db.transaction(() => {
      for (const key of keys) insert.run(key, JSON.stringify({ counter: 0 }))
    })()
    const select = db.prepare("SELECT key, data FROM s WHERE key = ?")
    result = await measure((start, count) => {
      for (let i = start; i < start + count; i++) {
        const row = select.get(keys[visit(i, size)]) as { data: string } | undefined
        if (row === undefined) throw new Error("miss")
      }
    }, options)
    db.close()
  } else {
    throw new Error(`unknown store ${storeName}`)
  }
  return { size, nsPerOp: result.nsPerOp, cpuNsPerOp: result.cpuNsPerOp }
}

runChild(storeName, Object.fromEntries(stores.map((store) => [store, measureStore])))
