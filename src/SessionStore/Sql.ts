/**
 * A SQL session store on `@effect/sql`: sessions in the PostgreSQL or SQLite database your
 * application already has, through its `SqlClient` (`@effect/sql-pg`, `@effect/sql-sqlite-node`).
 * It passes the same contract suite as the memory and Redis stores. For a store that opens its own
 * connection, see `SessionStore/Pg` and `SessionStore/Sqlite`.
 *
 * Layout (prefix `effect_` by default): `effect_sessions`, one row per session, with indexes for
 * the principal, the recently-used order per kind, the idle deadline per kind and the absolute
 * expiry; `effect_session_links` (rotated-away keys, so a logout with an old token closes what it
 * became); `effect_session_counts` and `effect_session_principals` (counters kept by triggers, so
 * caps cost a constant); `effect_session_migrations` (the store's own migrations table: your
 * application's `effect_sql_migrations` is left alone). `schema` prints the SQL.
 *
 * Atomicity. A lookup is one `SELECT`; a touch (only when due) and a data patch are a
 * compare-and-set `UPDATE` on the row's version. Openings and rekeys are transactions holding the
 * store's write lock (a PostgreSQL advisory lock, SQLite's write lock), so caps and eviction never
 * overshoot; removals, revocations and sweep batches are single `DELETE ... RETURNING` statements
 * under the same lock, which hand each session to exactly one caller. A rekey changes the key in
 * place, so a revocation racing a rotation removes what the rotation produced. On PostgreSQL this
 * holds at the default `READ COMMITTED` isolation.
 *
 * Failures. A database that is down, a lock wait or statement beyond `timeout`, a constraint
 * violation: `SessionStoreError` (`Unavailable`, `Timeout`, `Conflict`), never "no session".
 * Transactions bound their lock waits and statements by `timeout` on the server; single statements
 * are bounded by the client's own settings (the layers of `SessionStore/Pg` set them from
 * `timeout`). A row that does not decode is removed and reported as `Corrupt`.
 *
 * Statements run on connections of their own (`SqlClient.reserve`), never inside a transaction
 * the caller has open: a logout is not undone by the rollback of someone else's transaction. On a
 * single-connection client (SQLite), do not call session operations from inside a transaction of
 * that same client: they would wait for it.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as executor from "../internal/store/sql/executor.js"
import * as migration from "../internal/store/sql/migrate.js"
import * as schema_ from "../internal/store/sql/schema.js"
import * as settings from "../internal/store/sql/settings.js"
import * as internal from "../internal/store/sql/store.js"
import { SessionConfigError, type SessionStoreError } from "../SessionError.js"
import * as SessionStore from "../SessionStore.js"

/**
 * The SQL dialects the store speaks.
 *
 * @since 0.2.0
 * @category models
 */
export type Dialect = "pg" | "sqlite"

/**
 * Options of the SQL store.
 *
 * - `prefix` (`"effect_"`): starts the name of every table, index and function of the store. 1 to
 *   32 characters among `a-z 0-9 _`, not starting with a digit (checked when the layer is built:
 *   nothing else reaches SQL text). Two stores with the same prefix in one database share sessions.
 * - `timeout` (5 seconds): the bound on lock waits and statements (see the module documentation).
 * - `migrate` (`true`): create or upgrade the tables when the layer is built. With `false`, the
 *   layer only checks that they are current (run `migrate` yourself, or the SQL of `schema`).
 * - `sweepBatchSize` (200): rows removed per statement by a sweep, so no transaction holds its locks
 *   for long; a sweep of more runs several.
 *
 * @example
 * ```ts
 * import type * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * export const options: SqlStore.StoreOptions = { prefix: "shop_", timeout: "2 seconds" }
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export type StoreOptions = settings.StoreOptions

/**
 * The defaults, as documented on `StoreOptions`.
 *
 * @example
 * ```ts
 * import * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * console.log(SqlStore.defaults.prefix) // "effect_"
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export const defaults: {
  readonly prefix: string
  readonly timeout: Duration.DurationInput
  readonly migrate: boolean
  readonly sweepBatchSize: number
} = settings.defaults

const dialectOf = (sql: SqlClient.SqlClient): Effect.Effect<Dialect, SessionConfigError> =>
  sql.onDialectOrElse({
    pg: () => Effect.succeed<Dialect>("pg"),
    sqlite: () => Effect.succeed<Dialect>("sqlite"),
    orElse: () =>
      Effect.fail(
        new SessionConfigError({ option: "SqlClient", reason: "the SQL store supports PostgreSQL and SQLite only" })
      )
  })

/**
 * The SQL script of the store's schema (what the layer's migration runs, with the row recording
 * it), for a database administrator to review or run. Fails on an invalid prefix.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * console.log(Effect.runSync(SqlStore.schema("pg", { prefix: "shop_" })))
 * ```
 *
 * @since 0.2.0
 * @category migrations
 */
export const schema = (
  dialect: Dialect,
  options: { readonly prefix?: string } = {}
): Effect.Effect<string, SessionConfigError> =>
  Effect.map(
    settings.validatePrefix(options.prefix ?? settings.defaults.prefix),
    (names) => schema_.script(dialect, names)
  )

/**
 * Creates or upgrades the store's tables on the `SqlClient` in context, in one transaction (two
 * processes migrating at once do not collide). Answers the ids of the migrations it applied.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * // e.g. in a deployment step, with the app's SqlClient layer provided
 * export const program = SqlStore.migrate({ prefix: "shop_" }).pipe(
 *   Effect.tap((applied) => Effect.log(`session migrations applied: ${applied.join(", ") || "none"}`))
 * )
 * ```
 *
 * @since 0.2.0
 * @category migrations
 */
export const migrate = (
  options: { readonly prefix?: string; readonly timeout?: Duration.DurationInput } = {}
): Effect.Effect<ReadonlyArray<number>, SessionConfigError | SessionStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* dialectOf(sql)
    const names = yield* settings.validatePrefix(options.prefix ?? settings.defaults.prefix)
    const timeout = yield* settings.millis("timeout", options.timeout, settings.defaults.timeout)
    return yield* migration.migrate(executor.fromClient(sql, dialect, names, timeout), dialect, names)
  })

/**
 * Builds a store on the `SqlClient` in context (PostgreSQL or SQLite), migrating its tables first
 * unless `migrate: false`. Fails with `SessionConfigError` on invalid options or an unsupported
 * dialect, and with `SessionStoreError` when the database cannot be reached to migrate.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * export const StoreLive = Layer.effect(SessionStore.SessionStore, SqlStore.make({ prefix: "shop_" }))
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: StoreOptions = {}
): Effect.Effect<SessionStore.Service, SessionConfigError | SessionStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = yield* dialectOf(sql)
    const s = yield* settings.validate(options)
    return yield* internal.build(executor.fromClient(sql, dialect, s.names, s.timeout), s)
  })

/**
 * The SQL store layer, on the `SqlClient` your application provides.
 *
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { Layer, Redacted } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as SqlStore from "effect-session/SessionStore/Sql"
 *
 * const Database = PgClient.layer({ url: Redacted.make("postgres://app@127.0.0.1/app") })
 *
 * export const Sessions = SessionManager.layer({ idleTimeout: "30 minutes" }).pipe(
 *   Layer.provide(SqlStore.layer({ prefix: "shop_" })),
 *   Layer.provide(AuthManager.layerMock()),
 *   Layer.provide(Database)
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: StoreOptions = {}
): Layer.Layer<SessionStore.SessionStore, SessionConfigError | SessionStoreError, SqlClient.SqlClient> =>
  Layer.effect(SessionStore.SessionStore, make(options))
