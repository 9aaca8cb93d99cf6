/**
 * What the SQL stores promise beyond the contract, on PostgreSQL and SQLite: options checked when
 * the layer is built (no SQL through the table prefix), the schema made by the migration (or by
 * the printed SQL), migrations racing each other, rows that do not decode, and on PostgreSQL the
 * statements a lookup costs.
 */
import { PgClient } from "@effect/sql-pg"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted } from "effect"
import { SessionStore } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as SqlStore from "effect-session/SessionStore/Sql"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { cutoff, record } from "../contract/store-contract.js"

const anon = { id: "anonymous", anonymous: true }
import { freshPrefix, startPostgres } from "./postgres.js"
import { scratchDirectory } from "./support.js"

const server = await startPostgres()
const files = scratchDirectory("store")
afterAll(async () => {
  files.remove()
  await server?.stop()
})

const hostilePrefixes = [
  "",
  "x; DROP TABLE users; --",
  "x\" OR 1=1",
  "effect_'",
  "Upper_",
  "1starts_with_digit",
  "with-dash",
  "with space",
  "schema.table_",
  "é_",
  "a".repeat(33),
  "nul\u0000"
]

/** The error a layer fails to build with. */
const buildError = <E>(layer: Layer.Layer<SessionStore.SessionStore, E>) =>
  Effect.flatMap(
    Effect.exit(Effect.scoped(Layer.build(layer))),
    (exit) => Exit.isFailure(exit) && exit.cause._tag === "Fail" ? Effect.succeed(exit.cause.error) : Effect.die(exit)
  )

describe("SQL store options", () => {
  it.effect("a hostile table prefix is refused when the layer is built, before any SQL", () =>
    Effect.gen(function*() {
      for (const prefix of hostilePrefixes) {
        const error = yield* buildError(SqliteStore.layer({ filename: ":memory:", prefix }))
        expect(error, prefix).toMatchObject({ _tag: "SessionConfigError", option: "prefix" })
        const script = yield* Effect.flip(SqlStore.schema("pg", { prefix }))
        expect(script.option).toBe("prefix")
      }
    }))

  it.effect("other invalid options are refused by name", () =>
    Effect.gen(function*() {
      const cases: Array<[SqliteStore.Options, string]> = [
        [{ filename: ":memory:", timeout: 0 }, "timeout"],
        [{ filename: ":memory:", timeout: "-1 seconds" }, "timeout"],
        [{ filename: ":memory:", timeout: "forever" as never }, "timeout"],
        [{ filename: ":memory:", timeout: Infinity }, "timeout"],
        [{ filename: ":memory:", sweepBatchSize: 0 }, "sweepBatchSize"],
        [{ filename: ":memory:", sweepBatchSize: 1.5 }, "sweepBatchSize"]
      ]
      for (const [options, option] of cases) {
        expect(yield* buildError(SqliteStore.layer(options))).toMatchObject({ _tag: "SessionConfigError", option })
      }
    }))

  it.effect("layerConfig reads SESSION_SQLITE and the SESSION_SQL_* options, and checks them the same way", () =>
    Effect.gen(function*() {
      const withEnv = (env: Record<string, string>) =>
        Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      const refused = yield* buildError(
        SqliteStore.layerConfig().pipe(
          Layer.provide(withEnv({ SESSION_SQLITE: ":memory:", SESSION_SQL_PREFIX: "x; DROP TABLE y" }))
        )
      )
      expect(refused).toMatchObject({ _tag: "SessionConfigError", option: "prefix" })
      const missing = yield* buildError(SqliteStore.layerConfig().pipe(Layer.provide(withEnv({}))))
      expect(missing._tag).toBe("ConfigError")
      const filename = files.next("config.db")
      yield* Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        yield* store.insert(record("k"), SessionStore.unlimited)
        expect(Option.isSome(yield* store.get("k"))).toBe(true)
      }).pipe(
        Effect.provide(
          SqliteStore.layerConfig().pipe(
            Layer.provide(
              withEnv({ SESSION_SQLITE: filename, SESSION_SQL_PREFIX: "cfg_", SESSION_SQL_TIMEOUT: "2 seconds" })
            )
          )
        )
      )
    }))

  it.effect("the SQLite migration runs once; migrate: false checks the schema instead of creating it", () =>
    Effect.gen(function*() {
      const filename = files.next("migrate.db")
      const unmigrated = yield* buildError(SqliteStore.layer({ filename, migrate: false }))
      expect(unmigrated).toMatchObject({ _tag: "SessionConfigError", option: "migrate" })
      const keep = record("kept")
      yield* Effect.flatMap(SessionStore.SessionStore, (s) => s.insert(keep, SessionStore.unlimited)).pipe(
        Effect.provide(SqliteStore.layer({ filename }))
      )
      // built again (migrating or not): the tables and their rows are those of the first build
      for (const migrate of [true, false]) {
        const found = yield* Effect.flatMap(SessionStore.SessionStore, (s) => s.get("kept")).pipe(
          Effect.provide(SqliteStore.layer({ filename, migrate }))
        )
        expect(Option.getOrThrow(found)).toEqual(keep)
      }
    }))

  it.effect("a row that does not decode is removed and reported as Corrupt, not as a missing session", () =>
    Effect.gen(function*() {
      const filename = files.next("corrupt.db")
      const layer = SqliteStore.layer({ filename })
      yield* Effect.flatMap(SessionStore.SessionStore, (s) => s.insert(record("bad"), SessionStore.unlimited)).pipe(
        Effect.provide(layer)
      )
      const Database = (yield* Effect.promise(() => import("better-sqlite3"))).default
      const db = new Database(filename)
      db.prepare("UPDATE effect_sessions SET data = 'not json' WHERE key = 'bad'").run()
      db.close()
      yield* Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        const error = yield* Effect.flip(store.touch("bad", cutoff(1)))
        expect(error).toMatchObject({ _tag: "SessionStoreError", reason: "Corrupt" })
        expect(Option.isNone(yield* store.get("bad"))).toBe(true)
        expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 0 })
      }).pipe(Effect.provide(layer))
    }))
})

describe.skipIf(server === undefined)("SQL store on PostgreSQL", () => {
  const tables = () =>
    Effect.promise(() =>
      server!.query("SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace")
    )

  it.effect("a hostile prefix is refused before the database sees any statement", () =>
    Effect.gen(function*() {
      const before = (yield* tables())[0].n
      for (const prefix of hostilePrefixes) {
        const error = yield* buildError(PgStore.layer({ url: server!.url(), prefix }))
        expect(error, prefix).toMatchObject({ _tag: "SessionConfigError", option: "prefix" })
        const onClient = yield* buildError(
          SqlStore.layer({ prefix }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(server!.url()) })))
        )
        expect(onClient, prefix).toMatchObject({ _tag: "SessionConfigError", option: "prefix" })
      }
      expect((yield* tables())[0].n).toBe(before)
      expect(yield* buildError(PgStore.layer({ url: server!.url(), poolSize: 0 }))).toMatchObject({
        _tag: "SessionConfigError",
        option: "poolSize"
      })
    }))

  it.effect("layers migrating at once: one creates the tables, the others find them", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("race")
      const layers = Array.from({ length: 6 }, () => PgStore.layer({ url: server!.url(), prefix, poolSize: 2 }))
      const stores = yield* Effect.forEach(layers, (layer) =>
        Effect.scoped(Effect.map(Layer.build(layer), () => "built")), {
        concurrency: "unbounded"
      })
      expect(stores).toHaveLength(6)
      const migrations = yield* Effect.promise(() =>
        server!.query(`SELECT migration_id FROM ${prefix}session_migrations`)
      )
      expect(migrations).toEqual([{ migration_id: 1 }])
    }))

  it.effect("the printed schema is what the migration makes: a database built from it serves with migrate: false", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("script")
      const script = yield* SqlStore.schema("pg", { prefix })
      yield* Effect.promise(() => server!.query(script))
      yield* Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        yield* store.insert(record("a", { id: "alice", anonymous: false }), SessionStore.unlimited)
        expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 1 })
      }).pipe(Effect.provide(PgStore.layer({ url: server!.url(), prefix, migrate: false })))
    }))

  it.effect("a lookup with no touch due is one statement; a due touch adds one compare-and-set", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("count")
      yield* Effect.promise(() => server!.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
      yield* Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        yield* store.insert(record("k", { id: "alice", anonymous: false }, { lastUsedAt: 0 }), SessionStore.unlimited)
        yield* Effect.promise(() => server!.query("SELECT pg_stat_statements_reset()"))
        for (let i = 0; i < 50; i++) {
          // touch interval 1000: not due until 1000
          expect((yield* store.touch("k", cutoff(100 + i), 100 + i - 1000))._tag).toBe("Read")
        }
        expect((yield* store.touch("k", cutoff(1000), 0))._tag).toBe("Written")
      }).pipe(Effect.provide(PgStore.layer({ url: server!.url(), prefix })))
      const calls = yield* Effect.promise(() =>
        server!.query(
          "SELECT query, calls::int FROM pg_stat_statements WHERE query LIKE $1 ORDER BY calls DESC",
          [`%${prefix}sessions%`]
        )
      )
      // 51 lookups (one per touch), then one UPDATE: nothing else touched the table
      expect(calls.map((c) => [c.query.split(" ")[0], c.calls])).toEqual([["SELECT", 51], ["UPDATE", 1]])
    }))

  it.effect("concurrent lookups share statements, and each gets its own answer", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("batch")
      yield* Effect.promise(() => server!.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
      yield* Effect.gen(function*() {
        const store = yield* SessionStore.SessionStore
        const live = Array.from({ length: 40 }, (_, i) => `live-${i}`)
        yield* Effect.forEach(live, (key, i) =>
          store.insert(record(key, anon, { lastUsedAt: 0, data: { i } }), SessionStore.unlimited))
        yield* store.insert(record("old", anon, { lastUsedAt: 0, expiresAt: 10 }), SessionStore.unlimited)
        yield* Effect.promise(() =>
          server!.query("SELECT pg_stat_statements_reset()")
        )
        // 300 lookups at once: live keys (each several times), missing keys, an expired one
        const asked = Array.from({ length: 300 }, (_, i) =>
          i % 10 === 9 ? `missing-${i}` : i % 10 === 8 ? "old" : live[i % 40])
        const answers = yield* Effect.forEach(asked, (key) =>
          store.touch(key, cutoff(100), 100 - 1000), {
          concurrency: "unbounded"
        })
        answers.forEach((answer, i) => {
          const key = asked[i]
          if (key.startsWith("missing")) expect(answer._tag).toBe("Missing")
          else if (key === "old") expect(answer._tag).toBe("Expired")
          else {
            expect(answer._tag).toBe("Read")
            expect(answer._tag === "Read" && answer.record.key).toBe(key)
            expect(answer._tag === "Read" && answer.record.data).toEqual({ i: live.indexOf(key) })
          }
        })
      }).pipe(Effect.provide(PgStore.layer({ url: server!.url(), prefix, poolSize: 4 })))
      const [{ calls }] = yield* Effect.promise(() =>
        server!.query("SELECT coalesce(sum(calls), 0)::int AS calls FROM pg_stat_statements WHERE query LIKE $1", [
          `%${prefix}sessions%`
        ])
      )
      // at most 4 statements in flight (the pool): the other lookups wait and go together
      expect(calls).toBeGreaterThan(0)
      expect(calls).toBeLessThan(300 / 4)
    }))
})
