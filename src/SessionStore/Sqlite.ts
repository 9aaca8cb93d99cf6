/**
 * The SQL session store on SQLite, in a database file of its own (or `:memory:`): sessions that
 * survive a restart of a single-machine application, with no server at all. Same tables and
 * guarantees as `SessionStore/Sql`.
 *
 * The store opens the file with `better-sqlite3` (the driver of `@effect/sql-sqlite-node`) and runs
 * its statements on it directly, each prepared once: through a `SqlClient`, a point select costs
 * about ten times the select itself (a tracing span, a scope, a semaphore and a cache lookup per
 * statement), and a session lookup is one point select. Use `SessionStore/Sql` on your
 * application's `SqliteClient` instead to keep sessions in the same database as your data.
 *
 * The file is in WAL mode (readers never wait for the writer) with `synchronous = NORMAL` (a power
 * loss may drop the last transactions, never corrupt the file). Several processes may share it:
 * writes take the database's write lock, and one waits for another up to `timeout` (then
 * `SessionStoreError` `Timeout`). SQLite calls are synchronous: while a write waits for another
 * process's lock, the event loop waits with it.
 *
 * @since 0.2.0
 */
import Database from "better-sqlite3"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as executor from "../internal/store/sql/executor.js"
import * as settings from "../internal/store/sql/settings.js"
import { fromDatabase } from "../internal/store/sql/sqliteDatabase.js"
import * as internal from "../internal/store/sql/store.js"
import type { SessionConfigError, SessionStoreError } from "../SessionError.js"
import * as SessionStore from "../SessionStore.js"

/**
 * Options of the SQLite store layer: the database file (`":memory:"` for a database that lives as
 * long as the layer), and the store options.
 *
 * @example
 * ```ts
 * import type * as SqliteStore from "effect-session/SessionStore/Sqlite"
 *
 * export const options: SqliteStore.Options = { filename: "./sessions.db", prefix: "shop_" }
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export interface Options extends settings.StoreOptions {
  readonly filename: string
}

const open = (filename: string, timeout: number): Effect.Effect<Database.Database, SessionStoreError> =>
  Effect.try({
    try: () => {
      const db = new Database(filename, { timeout })
      try {
        if (filename !== ":memory:" && filename !== "") db.pragma("journal_mode = WAL")
        db.pragma("synchronous = NORMAL")
        return db
      } catch (error) {
        db.close()
        throw error
      }
    },
    catch: (error) => executor.failure("open", error)
  })

/**
 * The SQLite store layer: opens the database (scoped: closed when the layer is released), migrates
 * the tables unless `migrate: false`, and provides `SessionStore`. Fails to build with
 * `SessionConfigError` on invalid options and with `SessionStoreError` when the file cannot be
 * opened.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as SqliteStore from "effect-session/SessionStore/Sqlite"
 *
 * export const Sessions = SessionManager.layer({ idleTimeout: "30 minutes" }).pipe(
 *   Layer.provide(SqliteStore.layer({ filename: "./sessions.db" })),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<SessionStore.SessionStore, SessionConfigError | SessionStoreError> =>
  Layer.scoped(
    SessionStore.SessionStore,
    Effect.gen(function*() {
      const s = yield* settings.validate(options)
      const db = yield* Effect.acquireRelease(open(options.filename, s.timeout), (db) => Effect.sync(() => db.close()))
      return yield* internal.build(fromDatabase(db, yield* Effect.runtime<never>()), s)
    })
  )

/**
 * Options read through `Config` (by default from the environment): `SESSION_SQLITE` (the file),
 * and the store options `SESSION_SQL_PREFIX`, `SESSION_SQL_TIMEOUT`, `SESSION_SQL_MIGRATE`,
 * `SESSION_SQL_SWEEP_BATCH_SIZE`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as SqliteStore from "effect-session/SessionStore/Sqlite"
 *
 * // SQLite when SESSION_SQLITE is set, the memory store otherwise
 * export const StoreLive = Layer.unwrapEffect(
 *   Effect.map(
 *     Effect.option(SqliteStore.config),
 *     (options) => options._tag === "Some" ? SqliteStore.layer(options.value) : SessionStore.layerMemory
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export const config: Config.Config<Options> = Config.all({
  filename: Config.string("SESSION_SQLITE"),
  store: settings.storeConfig
}).pipe(Config.map(({ filename, store }) => ({ ...store, filename })))

/**
 * The SQLite store layer with options from `Config` (see `config`): a `ConfigError` when
 * `SESSION_SQLITE` is missing or a value unreadable, a `SessionConfigError` when one is invalid.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as SqliteStore from "effect-session/SessionStore/Sqlite"
 *
 * // SESSION_SQLITE=./sessions.db node app.js
 * export const Sessions = SessionManager.layerConfig().pipe(
 *   Layer.provide(SqliteStore.layerConfig()),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<SessionStore.SessionStore, SessionConfigError | SessionStoreError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
