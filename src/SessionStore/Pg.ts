/**
 * The SQL session store on PostgreSQL, with a connection pool of its own (`pg`, the driver of
 * `@effect/sql-pg`), every wait bounded by `timeout`: connecting, lock waits and statements on the
 * server (`lock_timeout`, `statement_timeout`), and each answer on the client (`query_timeout`).
 * A database that is down or restarting gives `SessionStoreError` (`Unavailable`, `Timeout`) within
 * that bound; the pool reconnects on its own, and the store recovers without being rebuilt.
 *
 * The store is `SessionStore/Sql`'s (same tables, same guarantees), with its statements run on the
 * pool directly as named prepared statements: PostgreSQL parses and plans each once per
 * connection, and a lookup costs one round trip and one `Effect.async`. Through a `SqlClient`, every
 * statement also pays a tracing span, a scope and a reserved connection, and is parsed and planned
 * again by the server (see BENCHMARKS.md). Use `SessionStore/Sql` instead to keep sessions on the
 * `SqlClient` your application already has.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ConnectionOptions } from "node:tls"
import * as Pg from "pg"
import { givenOptions } from "../internal/config.js"
import { fromPool } from "../internal/store/sql/pgPool.js"
import * as settings from "../internal/store/sql/settings.js"
import * as internal from "../internal/store/sql/store.js"
import type { SessionConfigError, SessionStoreError } from "../SessionError.js"
import * as SessionStore from "../SessionStore.js"

/**
 * Options of the PostgreSQL store layer: the store options (as `SessionStore/Sql`'s `StoreOptions`),
 * plus the connection.
 *
 * - `url`: a `postgres://` URL (redacted or not). Otherwise `host`, `port`, `database`, `username`,
 *   `password`, and for anything left out `pg`'s usual environment variables (`PGHOST`, ...).
 * - `ssl`: `true`, or Node's TLS options.
 * - `poolSize` (10): connections in the pool.
 * - `applicationName` (`"effect-session"`): what `pg_stat_activity` shows.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as PgStore from "effect-session/SessionStore/Pg"
 *
 * export const options: PgStore.Options = {
 *   url: Redacted.make("postgres://app:secret@127.0.0.1:5432/app"),
 *   prefix: "shop_",
 *   poolSize: 20
 * }
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export interface Options extends settings.StoreOptions {
  readonly url?: string | Redacted.Redacted<string>
  readonly host?: string
  readonly port?: number
  readonly database?: string
  readonly username?: string
  readonly password?: string | Redacted.Redacted<string>
  readonly ssl?: boolean | ConnectionOptions
  readonly poolSize?: number
  readonly applicationName?: string
}

const secret = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

/** The pool's settings: every wait bounded by the store's timeout. */
const poolConfig = (options: Options, timeout: number, poolSize: number): Pg.PoolConfig => {
  const config: Pg.PoolConfig = {
    max: poolSize,
    connectionTimeoutMillis: timeout,
    // the server cancels a statement or a lock wait beyond the timeout; the client stops waiting
    // for an answer a little later (a server that stopped answering)
    statement_timeout: timeout,
    lock_timeout: timeout,
    query_timeout: timeout + 500,
    idle_in_transaction_session_timeout: timeout * 2,
    keepAlive: true,
    application_name: options.applicationName ?? "effect-session"
  }
  const url = secret(options.url)
  const password = secret(options.password)
  if (url !== undefined) config.connectionString = url
  if (options.host !== undefined) config.host = options.host
  if (options.port !== undefined) config.port = options.port
  if (options.database !== undefined) config.database = options.database
  if (options.username !== undefined) config.user = options.username
  if (password !== undefined) config.password = password
  if (options.ssl !== undefined) config.ssl = options.ssl
  return config
}

/**
 * The PostgreSQL store layer: opens a pool (scoped: closed when the layer is released), migrates
 * the tables unless `migrate: false`, and provides `SessionStore`. Fails to build with
 * `SessionConfigError` on invalid options and with `SessionStoreError` when the database cannot be
 * reached within `timeout`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as PgStore from "effect-session/SessionStore/Pg"
 *
 * export const Sessions = SessionManager.layer({ idleTimeout: "30 minutes" }).pipe(
 *   Layer.provide(PgStore.layer({ url: "postgres://app@127.0.0.1:5432/app", prefix: "shop_" })),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SessionStore.SessionStore, SessionConfigError | SessionStoreError> =>
  Layer.scoped(
    SessionStore.SessionStore,
    Effect.gen(function*() {
      const s = yield* settings.validate(options)
      const poolSize = yield* settings.integerIn("poolSize", options.poolSize ?? 10, 1, 1000)
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new Pg.Pool(poolConfig(options, s.timeout, poolSize))
          // an idle connection dropped by the server: the pool replaces it; nothing to report
          pool.on("error", () => {})
          // a connection checked out for a transaction has no pool listener: without its own, a
          // server that dies mid-transaction ends the process with an uncaught 'error'. The
          // statement in flight fails typed, and the connection is dropped on release.
          pool.on("connect", (client) => client.on("error", () => {}))
          return pool
        }),
        (pool) => Effect.promise(() => pool.end())
      )
      return yield* internal.build(fromPool(pool, s.names, s.timeout, poolSize), s)
    })
  )

const optional = <A>(config: Config.Config<A>) => Config.option(config).pipe(Config.map(Option.getOrUndefined))

/**
 * Options read through `Config` (by default from the environment): `DATABASE_URL` (redacted), or
 * else `PGHOST` with `PGPORT`, `PGDATABASE`, `PGUSER` and `PGPASSWORD` (redacted); `SESSION_PG_POOL_SIZE`;
 * and the store options `SESSION_SQL_PREFIX`, `SESSION_SQL_TIMEOUT`, `SESSION_SQL_MIGRATE`,
 * `SESSION_SQL_SWEEP_BATCH_SIZE`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as PgStore from "effect-session/SessionStore/Pg"
 *
 * // PostgreSQL when DATABASE_URL is set, the memory store otherwise
 * export const StoreLive = Layer.unwrapEffect(
 *   Effect.map(
 *     Effect.option(PgStore.config),
 *     (options) => options._tag === "Some" ? PgStore.layer(options.value) : SessionStore.layerMemory
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export const config: Config.Config<Options> = Config.all({
  connection: Config.orElse(
    Config.map(Config.redacted("DATABASE_URL"), (url): Options => ({ url })),
    () =>
      Config.map(
        Config.all({
          host: Config.string("PGHOST"),
          port: optional(Config.integer("PGPORT")),
          database: optional(Config.string("PGDATABASE")),
          username: optional(Config.string("PGUSER")),
          password: optional(Config.redacted("PGPASSWORD"))
        }),
        givenOptions<Options>
      )
  ),
  poolSize: optional(Config.integer("SESSION_PG_POOL_SIZE")),
  store: settings.storeConfig
}).pipe(
  Config.map(({ connection, poolSize, store }) => ({ ...store, ...connection, ...givenOptions<Options>({ poolSize }) }))
)

/**
 * The PostgreSQL store layer with options from `Config` (see `config`): a `ConfigError` when
 * neither `DATABASE_URL` nor `PGHOST` is set or a value is unreadable, a `SessionConfigError` when
 * one is invalid.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as PgStore from "effect-session/SessionStore/Pg"
 *
 * // DATABASE_URL=postgres://app@127.0.0.1:5432/app SESSION_SQL_PREFIX=shop_ node app.js
 * export const Sessions = SessionManager.layerConfig().pipe(
 *   Layer.provide(PgStore.layerConfig()),
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
