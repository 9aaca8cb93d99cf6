/**
 * A Redis session store (`ioredis` 5 or 6), for sessions shared by several instances and kept
 * across restarts, on a single Redis (with or without Sentinel, TLS) or a Redis Cluster. It passes
 * the same contract suite as the memory store: every operation that writes is one Lua script,
 * hence one atomic step on the server, so two instances never release a session twice, a logout is
 * never undone and a data patch never overwrites a concurrent one.
 *
 * Lookups do not write: a lookup whose touch is not due (see the manager's `touchInterval`) is one
 * read-only command (`HMGET` of the record's JSON text, rewritten by every write), parsed once; a
 * due touch is one more command (a script). Lookups issued in the same tick share one read-only
 * script call per 128 and per bucket: concurrent requests pay one command and one round trip. A read cannot remove a corrupt value: a follow-up
 * write does. Because undue lookups write nothing, they keep working when Redis is out of memory
 * (and a due touch refused for lack of memory serves the session untouched instead of failing).
 *
 * Layout. A store's sessions are spread over `buckets` slot buckets (option `buckets`: 1 on a
 * single Redis, 16 on a Redis Cluster). Every key of a bucket starts with the bucket's hash tag,
 * so a bucket lives in one cluster slot and every script runs in one slot: it declares the
 * bucket's fixed keys (its sorted sets) in `KEYS`, and derives from the same hash tag the keys it
 * only finds at run time (the session's hash, a principal's set, rotation links, the victims of an
 * eviction), which Redis Cluster accepts since they are in the declared keys' slot (a proxy that
 * routes by `KEYS` routes every script right; one that checks every key against `KEYS` refuses
 * them). The tags are chosen so that buckets fall in equal ranges of the 16,384 slots, hence
 * spread over the masters. A session's bucket follows from its key (FNV-1a of the
 * key); a rotation stays in its bucket (the store sets `sameBucket`, and the manager mints keys
 * that do), so it is one atomic single-slot step. With one bucket the tag is `{prefix}` (the
 * layout of 0.1.0); with more, bucket `i`'s tag is `{prefix#n}` for a fixed `n`. Per bucket
 * (`<base>` is the bucket's `{tag}:`):
 *
 * - `<base>s:<key>`: one hash per session, `<key>` being the session key (SHA-256 of the token;
 *   tokens are never stored). Fields: `v` (format version), `pid`, `anon`, `p` (principal JSON),
 *   `c`, `u`, `e` (createdAt, lastUsedAt, expiresAt or `null`), and `d:<name>` per data value
 *   (JSON with sorted object keys, so conditional updates compare text), `o` (the data names in
 *   order), `j` (the record as one JSON text, what a lookup reads), `ml`, `mp` (its entries in
 *   the sets below), `f` (its rotation family, once rotated) and `r` (once revoked). Data patches
 *   are applied field by field on the server, never as a write-back of a whole record.
 * - `<base>lru:anonymous`, `<base>lru:authenticated`: sorted sets by lastUsedAt (LRU eviction and
 *   the idle sweep). Entries are `<server time in µs>:<key>`, so sessions used in the same
 *   millisecond are ordered by order of use (no global counter).
 * - `<base>exp`: sorted set by expiresAt (the absolute-expiry sweep); `<base>rv`: sessions revoked
 *   and not yet released.
 * - `<base>p:<principalId>`: one sorted set per authenticated principal and bucket, by lastUsedAt
 *   (`listByPrincipal`, per-principal caps), and `<base>pp`: the principals holding sessions in
 *   the bucket (the fair share at `maxSessions`).
 * - `<base>l:<oldKey>` and `<base>f:<family>`: rotation links (`Rekey.linkUntil`), kept until the
 *   link's end: the family a rotated-away key belongs to, and the key that family lives under.
 *
 * What spans buckets (with one bucket, each of these is one script: exact and atomic):
 *
 * - `revoke` (`closeAllOf`) marks the principal's sessions in every bucket (each mark atomic with
 *   that bucket's lookups and rotations) before it answers, then removes and returns what it
 *   marked; a marked session is never served again (`Revoked`), and one it could not remove is
 *   handed out by the sweep, so it is released exactly once.
 * - `maxSessions` and `maxAnonymousSessions` hold per bucket, as shares adding up to the cap (at
 *   least 1 each): the store never holds more than the cap, but a bucket can be full (evicting or
 *   refusing, its own least recently used first) while others are not, before the cap is reached
 *   in all (with 16 buckets and keys spread evenly, about `1.8 × sqrt(16 × cap)` sessions before:
 *   2% of a cap of 100,000); a cap below the number of buckets holds as that number.
 * - `maxSessionsPerPrincipal` is checked across buckets around the bucket's step (a refusal reads
 *   every bucket first; an eviction trims after): exact for one opening at a time; concurrent
 *   openings of one principal can overshoot it by their number minus one until the last one trims.
 *   An authenticated opening under a finite cap costs one call per bucket besides its script.
 * - `listByPrincipal`, `count`, `list` and the sweep visit every bucket, one bounded call at a
 *   time: each call sees its bucket consistently, the whole is not one snapshot.
 *
 * Expiry is decided on every operation from the `Cutoff` the manager gives; Redis TTLs are only a
 * safety net, set relative to each write (never absolute, so the app clock and the server clock
 * need not agree): a record lives at most `maxIdleTtl` after its last write, and at most
 * `expiryGrace` past its `expiresAt`. The store refuses (`validatePolicy`, when the manager is
 * built) a `maxIdleTtl` that is not above the manager's longest idle limit; a record removed by a
 * TTL is never released, so keep the sweep running (it claims expired sessions long before). Index
 * entries left behind by a TTL are repaired lazily: when the sweep, an eviction or a listing meets
 * them (until then `count` includes them).
 *
 * Bounded work: each `claimExpired` script call visits at most a fixed number of index entries
 * (dead ones included) in one bucket and the store calls it again while there is more;
 * `listByPrincipal` reads a principal's sessions in pages. A revocation's cost in a bucket follows
 * the principal's sessions there, bounded by `maxSessionsPerPrincipal`.
 *
 * A value under a session key that is not a record of this format (corrupt, or written by another
 * format version) is removed, logged, and seen as missing (the manager answers `InvalidSession`).
 * A Redis that is down, slow or refusing gives `SessionStoreError` (`Unavailable`, `Timeout`) within
 * the command timeout; the client keeps reconnecting and the store recovers on its own. After a
 * `Timeout` or `Unavailable` error on a write, the outcome is unknown (the script may have run).
 *
 * Listings: `listByPrincipal` reads the principal's index (never `KEYS`); `list` walks the keyspace
 * of every master with `SCAN` and a bounded `COUNT` per step, so it never blocks Redis but costs
 * time linear in the database: it is for administration (`SessionManager.currentSessions`), not
 * for request paths.
 *
 * Redis Cluster: `make` takes a `Cluster` client as well as a `Redis` one, and `layer` opens one
 * from `nodes`. Lookups go to the master (reads from a replica could serve a session a logout has
 * just removed). Sessions stored in the one-bucket layout (0.1.0's, or `buckets: 1`) are not read
 * by a store of several buckets: its sweep claims them, whatever their times, and the manager
 * releases them (their users sign in again). Every instance of a store must use the same
 * `buckets`.
 *
 * Run Redis with `maxmemory-policy noeviction`: every record carries a TTL, so `volatile-*` policies
 * would evict live sessions. On a replicated Redis (Sentinel, Cluster), acknowledged writes can be
 * lost on failover (replication is asynchronous): a logout or a rotation acknowledged just before a
 * failover can come undone.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Cluster, Redis, RedisOptions } from "ioredis"
import { givenOptions } from "../internal/config.js"
import * as client from "../internal/store/redis/client.js"
import * as lua from "../internal/store/redis/lua.js"
import * as settings from "../internal/store/redis/settings.js"
import * as internal from "../internal/store/redis/store.js"
import type { SessionConfigError } from "../SessionError.js"
import * as SessionStore from "../SessionStore.js"

/**
 * Options of a store on an existing client (`make`).
 *
 * - `prefix` (`"effect-session"`): names the store; keys start with `{prefix}`. 1 to 100 characters
 *   among `A-Z a-z 0-9 _ . : -`. Two stores with the same prefix on one Redis share their sessions.
 * - `commandTimeout` (2 seconds): the bound on each call (a call that has not answered 500 ms after
 *   it fails with `Timeout`; the layer also sets it as the client's `commandTimeout`).
 * - `maxIdleTtl` (30 days, or `"off"`): the safety-net TTL after each write. Must exceed the longest
 *   idle limit of the manager plus its sweep interval.
 * - `expiryGrace` (1 day): how long a record outlives its `expiresAt` in Redis, so the sweep can
 *   claim (and release) it first.
 * - `scanCount` (1000): the `COUNT` of each `SCAN` step of `list`.
 * - `buckets` (1 on a single Redis, 16 on a Redis Cluster): the slot buckets sessions are spread
 *   over (1 to 1024), each with its own hash tag, hence its own cluster slot. A session's bucket
 *   follows from its key; a rotation stays in it. One bucket is the layout of 0.1.0 (every key in
 *   one slot, every rule exact); with more, caps and counts span buckets (see the module docs).
 *   Every instance of a store must use the same number.
 *
 * @example
 * ```ts
 * import type * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * export const options: RedisStore.StoreOptions = { prefix: "shop", commandTimeout: "500 millis", maxIdleTtl: "7 days" }
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export type StoreOptions = settings.StoreOptions

/**
 * Options of the store layer: the store options, plus the connection.
 *
 * - `url`: a `redis://` or `rediss://` URL (redacted or not); default `redis://127.0.0.1:6379`.
 * - `nodes`: instead of `url`, the startup nodes of a Redis Cluster (URLs; the credentials and TLS
 *   of the first apply to every node): the layer opens an ioredis `Cluster`.
 * - `connectTimeout` (5 seconds): the bound on each connection attempt, and how long building the
 *   layer waits for the first one (it builds anyway, with a warning, if Redis is not there yet).
 * - `autoPipelining` (true): commands issued in the same tick leave in one write (ioredis'
 *   `enableAutoPipelining`), which concurrent requests share. Lookups are gathered by the store
 *   whatever this option (one read-only script call for the lookups of a tick).
 * - `redis`: further `ioredis` options (of each node, on a cluster), applied over `clientOptions`
 *   (override at your own risk); `cluster`: further `ClusterOptions`.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import type * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * export const options: RedisStore.Options = {
 *   url: Redacted.make("redis://:password@127.0.0.1:6379/0"),
 *   prefix: "shop",
 *   connectTimeout: "2 seconds",
 *   redis: { connectionName: "shop-sessions" }
 * }
 *
 * // a Redis Cluster
 * export const cluster: RedisStore.Options = { nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"], prefix: "shop" }
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export type Options = settings.Options

/**
 * The defaults, as documented on `StoreOptions` and `Options`.
 *
 * @example
 * ```ts
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * console.log(RedisStore.defaults.maxIdleTtl) // "30 days"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const defaults: {
  readonly prefix: string
  readonly commandTimeout: Duration.DurationInput
  readonly connectTimeout: Duration.DurationInput
  readonly maxIdleTtl: Duration.DurationInput
  readonly expiryGrace: Duration.DurationInput
  readonly scanCount: number
  readonly buckets: number
  readonly clusterBuckets: number
} = settings.defaults

/**
 * The format version written in every record (field `v`). A record of another version is treated
 * as foreign: removed and seen as missing. Do not run two format versions on one prefix.
 *
 * @example
 * ```ts
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * console.log(RedisStore.formatVersion) // "1"
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const formatVersion: string = lua.FORMAT_VERSION

/**
 * The `ioredis` options the layer uses, for a client you build yourself: fail fast while Redis is
 * away (no offline queue, in-flight commands failed at once and never resent), a command timeout,
 * and reconnection for ever with a backoff of up to one second.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis"
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * const client = new Redis("redis://127.0.0.1:6379", RedisStore.clientOptions({ commandTimeout: 1000 }))
 * client.on("error", () => {})
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const clientOptions = (
  options: { readonly commandTimeout?: number; readonly connectTimeout?: number } = {}
): RedisOptions => client.clientOptions(options.commandTimeout ?? 2000, options.connectTimeout ?? 5000)

/**
 * Builds a store on an existing `ioredis` client (a `Redis`, with Sentinel or TLS as you configure
 * it, or a `Cluster`), which the caller keeps owning (it is not closed with the scope). The store's
 * scripts are defined on it (`defineCommand`, names starting with `effectSession_`). Listeners that log connection errors once per outage are attached for the
 * scope. Give the client `clientOptions()` (or equivalent settings) for bounded failures; a client
 * without a `commandTimeout` gets a deadline of `commandTimeout` + 500 ms per call from the store.
 * A client still connecting is waited for, up to `commandTimeout`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Redis } from "ioredis"
 * import { SessionStore } from "effect-session"
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * const client = new Redis("redis://127.0.0.1:6379", RedisStore.clientOptions())
 * export const StoreLive = Layer.scoped(SessionStore.SessionStore, RedisStore.make(client, { prefix: "shop" }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  redis: Redis | Cluster,
  options: StoreOptions = {}
): Effect.Effect<SessionStore.Service, SessionConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const valid = yield* settings.validate(options, redis.isCluster)
    const runtime = yield* Effect.runtime<never>()
    yield* Effect.acquireRelease(
      Effect.sync(() => client.monitor(redis, runtime)),
      (detach) => Effect.sync(detach)
    )
    yield* client.waitReady(redis, valid.commandTimeout)
    return yield* internal.make(redis, valid)
  })

/**
 * The Redis store layer: opens a connection (scoped: `quit` when the layer is released), waits a
 * bounded time for it, and provides `SessionStore`. Fails to build with `SessionConfigError` on
 * invalid options; an unreachable Redis is not a build failure (operations fail with
 * `SessionStoreError` until it is back).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * export const Sessions = SessionManager.layer({ idleTimeout: "30 minutes" }).pipe(
 *   Layer.provide(RedisStore.layer({ url: "redis://127.0.0.1:6379", prefix: "shop" })),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<SessionStore.SessionStore, SessionConfigError> =>
  Layer.scoped(
    SessionStore.SessionStore,
    Effect.gen(function*() {
      const valid = yield* settings.validate(options, options.nodes !== undefined)
      const redis = yield* client.acquireClient(options, valid)
      return yield* internal.make(redis, valid)
    })
  )

const optional = <A>(config: Config.Config<A>) => Config.option(config).pipe(Config.map(Option.getOrUndefined))

/**
 * Options read through `Config` (by default from the environment): `REDIS_URL` (required,
 * redacted), and optionally `SESSION_REDIS_PREFIX`, `SESSION_REDIS_COMMAND_TIMEOUT`,
 * `SESSION_REDIS_CONNECT_TIMEOUT`, `SESSION_REDIS_MAX_IDLE_TTL` (durations such as `2 seconds`;
 * `off` for the TTL), `SESSION_REDIS_EXPIRY_GRACE`, `SESSION_REDIS_SCAN_COUNT` and
 * `SESSION_REDIS_BUCKETS`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * // Redis when REDIS_URL is set, the memory store otherwise
 * export const StoreLive = Layer.unwrapEffect(
 *   Effect.map(
 *     Effect.option(RedisStore.config),
 *     (options) => options._tag === "Some" ? RedisStore.layer(options.value) : SessionStore.layerMemory
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.redacted("REDIS_URL"),
  prefix: optional(Config.string("SESSION_REDIS_PREFIX")),
  commandTimeout: optional(Config.string("SESSION_REDIS_COMMAND_TIMEOUT")),
  connectTimeout: optional(Config.string("SESSION_REDIS_CONNECT_TIMEOUT")),
  maxIdleTtl: optional(Config.string("SESSION_REDIS_MAX_IDLE_TTL")),
  expiryGrace: optional(Config.string("SESSION_REDIS_EXPIRY_GRACE")),
  scanCount: optional(Config.integer("SESSION_REDIS_SCAN_COUNT")),
  buckets: optional(Config.integer("SESSION_REDIS_BUCKETS"))
}).pipe(
  // Durations stay strings here: the layer parses and validates them with typed errors.
  Config.map(givenOptions<Options>)
)

/**
 * The Redis store layer with options from `Config` (see `config`): a `ConfigError` when
 * `REDIS_URL` is missing or a value unreadable, a `SessionConfigError` when one is invalid.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager } from "effect-session"
 * import * as RedisStore from "effect-session/SessionStore/Redis"
 *
 * // REDIS_URL=redis://127.0.0.1:6379 SESSION_REDIS_PREFIX=shop node app.js
 * export const Sessions = SessionManager.layerConfig().pipe(
 *   Layer.provide(RedisStore.layerConfig()),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<SessionStore.SessionStore, SessionConfigError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
