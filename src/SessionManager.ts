/**
 * The session manager: opens, looks up, touches, rotates and closes sessions, and sweeps the
 * expired ones in a supervised background fiber.
 *
 * Every operation is an `Effect` whose failures are typed; time comes from `Clock`; tokens from
 * `SessionToken.TokenGenerator`. Its guarantees rest on the store's atomic steps:
 *
 * - a session's `release` runs exactly once, whoever closes it (logout, expiry, rejection,
 *   eviction, revocation, the sweep), even when they race, and even when the caller is
 *   interrupted midway;
 * - once `closeSession` has answered, no operation serves that session again: a request already
 *   holding it fails on its next write instead of reviving it;
 * - data writes are per-key patches of the stored record, never a write-back of a stale copy.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AuthManager } from "./AuthManager.js"
import * as internalMake from "./internal/manager/make.js"
import * as internalMetrics from "./internal/manager/metrics.js"
import * as internalOptions from "./internal/manager/options.js"
import type * as Session from "./Session.js"
import type {
  AuthManagerError,
  ExplicitLogin,
  InvalidSession,
  SessionCloseError,
  SessionConfigError,
  SessionDataError,
  SessionLimitError,
  SessionStoreError
} from "./SessionError.js"
import type * as SessionStore from "./SessionStore.js"

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * A time limit, or `"off"` to disable it. `0`, negative, non-finite or unparseable values are
 * configuration errors: "no limit" is only ever spelled `"off"`.
 *
 * @since 0.1.0
 * @category options
 */
export type Limit = Duration.DurationInput | "off"

/**
 * A session cap: a positive integer, or `"unlimited"`.
 *
 * @since 0.1.0
 * @category options
 */
export type Cap = number | "unlimited"

/**
 * Options of the session manager; every one has a default (see the README's table).
 *
 * - `idleTimeout` (30 minutes): a session unused for this long expires (`Expired`, `Idle`).
 * - `absoluteLifetime` (24 hours): a session older than this expires (`Expired`, `Absolute`),
 *   however active. Rotation keeps the age; a login (rotation to another principal) restarts it.
 * - `cleanupSessionTime` (12 hours) and `cleanupAnonymousSessionTime` (2 minutes): the sweep
 *   horizon of authenticated and anonymous sessions. A session's idle limit is the shorter of
 *   `idleTimeout` and the cleanup time of its kind, so anonymous sessions go after 2 minutes of
 *   inactivity by default, and the answer of `getSession` never depends on when the sweep ran.
 * - `sweepInterval` (half the shortest cleanup time, or of the shortest limit when both are
 *   off): how often the background sweep runs; `"off"` disables it (call `cleanSessions`).
 * - `sweepBatchSize` (1000): the most sessions claimed per step of a sweep. Steps start at 64
 *   sessions and adapt to about 5 ms of work each; the sweep yields to the event loop every 5 ms.
 * - `releaseTimeout` (10 seconds): a `release` still running after this fails with
 *   `SessionCloseError` (`Timeout`).
 * - `authTimeout` (10 seconds): an `authenticate` or `validateSession` still running after this
 *   fails with `AuthManagerError` (`Timeout`); its late answer is discarded.
 * - `touchInterval` (the shorter of 1 minute and a tenth of the shortest idle limit): a lookup
 *   writes `lastUsedAt` only when it would advance by at least this much, otherwise it is a pure
 *   read. Idle expiry may then come up to one interval early, never late. `"always"` writes on
 *   every lookup; an interval of half the shortest idle limit or more is refused.
 * - `maxSessions` (1,000,000), `maxAnonymousSessions` (100,000), `maxSessionsPerPrincipal`
 *   (100): caps on live sessions.
 * - `onLimit` (`"evictLeastRecentlyUsed"`): at a cap, evict the least recently used session of
 *   that kind (an anonymous one first for `maxSessions`; authenticated sessions are never evicted
 *   to make room for anonymous ones, and a principal holding more than its fair share of
 *   `maxSessions` evicts its own), or `"refuse"` with `SessionLimitError`.
 *
 * @since 0.1.0
 * @category options
 */
export interface Options {
  readonly idleTimeout?: Limit
  readonly absoluteLifetime?: Limit
  readonly cleanupSessionTime?: Limit
  readonly cleanupAnonymousSessionTime?: Limit
  readonly sweepInterval?: Limit
  readonly sweepBatchSize?: number
  readonly releaseTimeout?: Duration.DurationInput
  readonly authTimeout?: Duration.DurationInput
  readonly touchInterval?: Duration.DurationInput | "always"
  readonly maxSessions?: Cap
  readonly maxAnonymousSessions?: Cap
  readonly maxSessionsPerPrincipal?: Cap
  readonly onLimit?: SessionStore.Limits["onLimit"]
}

/**
 * The validated settings a manager runs with (`Option.none()`: off).
 *
 * @since 0.1.0
 * @category options
 */
export interface Settings {
  readonly idleTimeout: Option.Option<Duration.Duration>
  readonly absoluteLifetime: Option.Option<Duration.Duration>
  readonly cleanupSessionTime: Option.Option<Duration.Duration>
  readonly cleanupAnonymousSessionTime: Option.Option<Duration.Duration>
  /** The idle limit that applies to each kind of session: the shorter of idle timeout and cleanup time. */
  readonly idleLimit: {
    readonly anonymous: Option.Option<Duration.Duration>
    readonly authenticated: Option.Option<Duration.Duration>
  }
  readonly sweepInterval: Option.Option<Duration.Duration>
  readonly sweepBatchSize: number
  readonly releaseTimeout: Duration.Duration
  readonly authTimeout: Duration.Duration
  /** A lookup touches only when `lastUsedAt` would advance by at least this much (zero: always). */
  readonly touchInterval: Duration.Duration
  readonly limits: SessionStore.Limits
  /** The expiry rules in milliseconds, as stores see them (`Infinity`: off). */
  readonly policy: SessionStore.Policy
}

/**
 * The defaults, as documented on `Options`.
 *
 * @example
 * ```ts
 * import { SessionManager } from "effect-session"
 *
 * console.log(SessionManager.defaults.idleTimeout) // "30 minutes"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const defaults: {
  readonly idleTimeout: "30 minutes"
  readonly absoluteLifetime: "24 hours"
  readonly cleanupSessionTime: "12 hours"
  readonly cleanupAnonymousSessionTime: "2 minutes"
  readonly sweepBatchSize: 1000
  readonly releaseTimeout: "10 seconds"
  readonly authTimeout: "10 seconds"
  readonly touchInterval: "1 minute"
  readonly maxSessions: 1_000_000
  readonly maxAnonymousSessions: 100_000
  readonly maxSessionsPerPrincipal: 100
  readonly onLimit: "evictLeastRecentlyUsed"
} = internalOptions.defaults

/**
 * Validates options and fills in defaults: the same check that building a layer makes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const error = Effect.runSync(Effect.flip(SessionManager.validateOptions({ idleTimeout: 0 })))
 * console.log(error.message) // Invalid session option idleTimeout: must be positive, got 0; spell "no limit" as "off"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const validateOptions: (options?: Options) => Effect.Effect<Settings, SessionConfigError> =
  internalOptions.validate

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

/**
 * Why a session was closed.
 *
 * @since 0.1.0
 * @category models
 */
export type CloseReason = "Logout" | "Expired" | "Rejected" | "Evicted" | "Revoked" | "Shutdown"

/**
 * A session lifecycle event, as published on `events`. Sessions are named by short id.
 *
 * @since 0.1.0
 * @category models
 */
export type SessionEvent =
  | {
    readonly _tag: "Opened"
    readonly sessionId: string
    readonly principalId: string
    readonly anonymous: boolean
  }
  | { readonly _tag: "Rotated"; readonly from: string; readonly to: string; readonly principalId: string }
  | { readonly _tag: "Closed"; readonly sessionId: string; readonly principalId: string; readonly reason: CloseReason }
  | { readonly _tag: "ReleaseFailed"; readonly reason: CloseReason; readonly error: SessionCloseError }

/**
 * What a bulk close did. Every session counted in `closed` is gone, including those whose release
 * failed (listed in `failures`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CloseReport {
  readonly closed: number
  readonly failures: ReadonlyArray<SessionCloseError>
}

/**
 * What a sweep did: sessions closed, sessions left, and releases that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface CleanReport extends CloseReport {
  readonly remaining: number
}

/**
 * The session manager's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly settings: Settings
  /**
   * Runs the auth manager's `authenticate` under the manager's guard (`authTimeout`, thrown
   * exceptions and defects as `AuthManagerError`), without opening anything.
   */
  readonly authenticate: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Session.Principal, ExplicitLogin | AuthManagerError>
  /** Authenticates the request and opens a session for the principal, with a fresh token. */
  readonly openSession: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Session.Session, ExplicitLogin | AuthManagerError | SessionStoreError | SessionLimitError>
  /**
   * Opens a session for a principal the caller already has (from `authenticate`), optionally with
   * initial data; `authenticate` is not run again. The `Opened` event and metric fire here, when
   * the session is stored.
   */
  readonly openSessionFor: (
    principal: Session.Principal,
    options?: { readonly data?: Session.Data }
  ) => Effect.Effect<Session.Session, SessionStoreError | SessionLimitError | SessionDataError>
  /** Like `getSession`, and says whether the lookup touched the session (its idle deadline moved). */
  readonly lookupSession: (
    request: HttpServerRequest.HttpServerRequest,
    token: string | Redacted.Redacted<string>
  ) => Effect.Effect<Lookup, InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError>
  /** Finds the live session of a token, validates it with the auth manager, and touches it. */
  readonly getSession: (
    request: HttpServerRequest.HttpServerRequest,
    token: string | Redacted.Redacted<string>
  ) => Effect.Effect<Session.Session, InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError>
  /**
   * Closes a session (any value naming it), and what a concurrent rotation or replacement turned
   * it into; idempotent. Fails only if this call ran a failing release.
   */
  readonly closeSession: (
    session: Pick<Session.Session, "key">
  ) => Effect.Effect<void, SessionCloseError | SessionStoreError>
  /** Moves a session to a new token (the old one dies at once), optionally to another principal. */
  readonly rotateSession: (
    session: Pick<Session.Session, "key">,
    options?: RotateOptions
  ) => Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionLimitError>
  /** Every live session (without tokens). */
  readonly currentSessions: Effect.Effect<ReadonlyArray<Session.Session>, SessionStoreError>
  /** The live sessions of a principal (without tokens). */
  readonly sessionsOf: (principalId: string) => Effect.Effect<ReadonlyArray<Session.Session>, SessionStoreError>
  /**
   * Closes every session of a principal, except the one named by `except`: once it answers, none
   * of them (nor what they are rotated or replaced into) is served again.
   */
  readonly closeAllOf: (
    principalId: string,
    options?: { readonly except?: Pick<Session.Session, "key"> }
  ) => Effect.Effect<CloseReport, SessionStoreError>
  /** Whether this session value is past a limit now. */
  readonly hasExpired: (session: Session.Record) => Effect.Effect<boolean>
  /** Closes every expired session now (what the background sweep runs). */
  readonly cleanSessions: Effect.Effect<CleanReport, SessionStoreError>
  /** Reads a data value from the stored session. */
  readonly getData: <A, I extends Session.Json>(
    session: Pick<Session.Session, "key">,
    key: Session.DataKey<A, I>
  ) => Effect.Effect<Option.Option<A>, InvalidSession | SessionStoreError | SessionDataError>
  /** Writes one data value (a per-key patch; other keys are left as stored) and touches the session. */
  readonly setData: <A, I extends Session.Json>(
    session: Pick<Session.Session, "key" | "token">,
    key: Session.DataKey<A, I>,
    value: A
  ) => Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError>
  /** Atomically replaces one data value by `f` of the stored one (compare-and-set, retried). */
  readonly updateData: <A, I extends Session.Json>(
    session: Pick<Session.Session, "key" | "token">,
    key: Session.DataKey<A, I>,
    f: (current: Option.Option<A>) => A
  ) => Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError>
  /** Removes data values by name and touches the session. */
  readonly removeData: (
    session: Pick<Session.Session, "key" | "token">,
    ...names: ReadonlyArray<string>
  ) => Effect.Effect<Session.Session, InvalidSession | SessionStoreError>
  /** Lifecycle events, from the moment the stream is run (a slow reader loses the oldest ones). */
  readonly events: Stream.Stream<SessionEvent>
}

/**
 * Options of `rotateSession`. Giving a `principal` that differs from the current one is a login:
 * the session's lifetime restarts and its data starts empty, except the keys named in `keep`
 * (data never crosses principals unless the caller says which: a flag or a CSRF token set before
 * a login must not carry over to the signed-in user). A rotation that keeps the principal keeps
 * all data.
 *
 * @since 0.1.0
 * @category models
 */
export interface RotateOptions {
  readonly principal?: Session.Principal
  readonly keep?: ReadonlyArray<string>
}

/**
 * What `lookupSession` found: the live session, and whether this lookup wrote its `lastUsedAt`
 * (so the idle deadline moved: a rolling cookie is worth re-sending).
 *
 * @since 0.2.0
 * @category models
 */
export interface Lookup {
  readonly session: Session.Session
  readonly touched: boolean
}

/**
 * The session manager.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const program = Effect.gen(function*() {
 *   const manager = yield* SessionManager.SessionManager
 *   return Option.getOrThrow(manager.settings.idleTimeout)
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class SessionManager extends Context.Tag("effect-session/SessionManager")<SessionManager, Service>() {}

// ---------------------------------------------------------------------------------------------
// Observability
// ---------------------------------------------------------------------------------------------

/**
 * The metrics the manager maintains, to read with `Metric.value` or export through an
 * `@effect/opentelemetry` metrics layer. Counters are tagged: `opened` and `active` by `kind`
 * (`anonymous` | `authenticated`), `closed` by `reason` (a `CloseReason`), `expired` by `limit`,
 * `invalid` by `reason` (an `InvalidSession` reason). `active` counts opened minus closed sessions
 * seen by this instance.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const idleExpiries = Metric.value(SessionManager.metrics.expired.pipe(Metric.tagged("limit", "Idle")))
 * Effect.runPromise(idleExpiries).then((state) => console.log(state.count)) // 0
 * ```
 *
 * @since 0.1.0
 * @category observability
 */
export const metrics = {
  opened: internalMetrics.opened,
  closed: internalMetrics.closed,
  expired: internalMetrics.expired,
  invalid: internalMetrics.invalid,
  releaseFailed: internalMetrics.releaseFailed,
  active: internalMetrics.active
} as const

// ---------------------------------------------------------------------------------------------
// Constructors and layers
// ---------------------------------------------------------------------------------------------

/**
 * Builds a session manager from validated settings (needs `AuthManager` and `SessionStore`). The
 * background sweep, if on, runs in the given scope.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { AuthManager, SessionManager, SessionStore } from "effect-session"
 *
 * // the same as SessionManager.layer, for composing by hand
 * const manager = SessionManager.make({ idleTimeout: "15 minutes" }).pipe(
 *   Effect.provide(Layer.merge(SessionStore.layerMemory, AuthManager.layerMock())),
 *   Effect.scoped
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<
  Service,
  SessionConfigError,
  AuthManager | SessionStore.SessionStore | Scope.Scope
> = internalMake.make

/**
 * The session manager layer (needs `AuthManager` and `SessionStore`; the token generator defaults
 * to the CSPRNG). Fails to build with `SessionConfigError` on invalid options. Scoped: the sweep
 * stops, and a memory store's sessions are released, when the layer is torn down.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager, SessionStore } from "effect-session"
 *
 * export const Sessions = SessionManager.layer({ idleTimeout: "15 minutes", maxSessionsPerPrincipal: 5 }).pipe(
 *   Layer.provide(SessionStore.layerMemory),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SessionManager, SessionConfigError, AuthManager | SessionStore.SessionStore> =>
  Layer.scoped(SessionManager, make(options))

/**
 * Options read through `Config` (by default from the environment), all optional:
 * `SESSION_IDLE_TIMEOUT`, `SESSION_ABSOLUTE_LIFETIME`, `SESSION_CLEANUP_SESSION_TIME`,
 * `SESSION_CLEANUP_ANONYMOUS_SESSION_TIME`, `SESSION_SWEEP_INTERVAL`, `SESSION_RELEASE_TIMEOUT`, `SESSION_AUTH_TIMEOUT`
 * (durations such as `30 minutes`, or `off`), `SESSION_SWEEP_BATCH_SIZE`, `SESSION_MAX_SESSIONS`,
 * `SESSION_MAX_ANONYMOUS_SESSIONS`, `SESSION_MAX_SESSIONS_PER_PRINCIPAL` (integers or
 * `unlimited`), `SESSION_ON_LIMIT` (`evictLeastRecentlyUsed` or `refuse`).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const options = SessionManager.config.pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ SESSION: { IDLE_TIMEOUT: "15 minutes" } }))
 * )
 * console.log(Effect.runSync(options)) // { idleTimeout: "15 minutes" }
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const config: Config.Config<Options> = internalOptions.config

/**
 * The session manager layer with options from `Config` (see `config`); a `ConfigError` for
 * unreadable values, a `SessionConfigError` for invalid ones.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, SessionManager, SessionStore } from "effect-session"
 *
 * // SESSION_IDLE_TIMEOUT="15 minutes" SESSION_ABSOLUTE_LIFETIME=off node app.js
 * export const Sessions = SessionManager.layerConfig().pipe(
 *   Layer.provide(SessionStore.layerMemory),
 *   Layer.provide(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<
  SessionManager,
  SessionConfigError | ConfigError.ConfigError,
  AuthManager | SessionStore.SessionStore
> => Layer.scoped(SessionManager, Effect.flatMap(options, make))

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

/**
 * Opens a session for the request's principal.
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const request = HttpServerRequest.fromWeb(new Request("http://localhost/"))
 * const program = Effect.gen(function*() {
 *   const session = yield* SessionManager.openSession(request)
 *   return session.principal
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const openSession = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<
  Session.Session,
  ExplicitLogin | AuthManagerError | SessionStoreError | SessionLimitError,
  SessionManager
> => Effect.flatMap(SessionManager, (manager) => manager.openSession(request))

/**
 * Runs the auth manager's `authenticate` under the manager's guard (timeout, thrown exceptions and
 * defects, and an answer that is not JSON, all as `AuthManagerError`), without opening anything.
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { SessionManager } from "effect-session"
 *
 * const whoIs = (request: HttpServerRequest.HttpServerRequest) => SessionManager.authenticate(request)
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const authenticate = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Session.Principal, ExplicitLogin | AuthManagerError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.authenticate(request))

/**
 * Stores a new session for a principal the caller already has (from `authenticate`), optionally
 * with initial data held to the rules of `setData`. The `Opened` event and metric fire once it is
 * stored.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const openForAlice = SessionManager.openSessionFor({ id: "alice", anonymous: false }, { data: { theme: "dark" } })
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const openSessionFor = (
  principal: Session.Principal,
  options?: { readonly data?: Session.Data }
): Effect.Effect<Session.Session, SessionStoreError | SessionLimitError | SessionDataError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.openSessionFor(principal, options))

/**
 * Like `getSession`, and says whether this lookup wrote the session's `lastUsedAt` (`touched`: its
 * idle deadline moved, so a rolling cookie is worth re-sending).
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const lookup = (request: HttpServerRequest.HttpServerRequest, token: string) =>
 *   SessionManager.lookupSession(request, token).pipe(
 *     Effect.map(({ session, touched }) => `${session.principal.id}${touched ? " (touched)" : ""}`)
 *   )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const lookupSession = (
  request: HttpServerRequest.HttpServerRequest,
  token: string | Redacted.Redacted<string>
): Effect.Effect<
  Lookup,
  InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError,
  SessionManager
> => Effect.flatMap(SessionManager, (manager) => manager.lookupSession(request, token))

/**
 * Looks up, validates and touches the session of a token.
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const whoami = (request: HttpServerRequest.HttpServerRequest, token: string) =>
 *   SessionManager.getSession(request, token).pipe(
 *     Effect.map((session) => session.principal.id),
 *     Effect.catchTag("InvalidSession", (error) => Effect.succeed(`nobody (${error.reason})`))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const getSession = (
  request: HttpServerRequest.HttpServerRequest,
  token: string | Redacted.Redacted<string>
): Effect.Effect<
  Session.Session,
  InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError,
  SessionManager
> => Effect.flatMap(SessionManager, (manager) => manager.getSession(request, token))

/**
 * Closes a session and releases it; closing a closed session succeeds.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Session, SessionManager } from "effect-session"
 *
 * const logout = (session: Session.Session) => SessionManager.closeSession(session)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const closeSession = (
  session: Pick<Session.Session, "key">
): Effect.Effect<void, SessionCloseError | SessionStoreError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.closeSession(session))

/**
 * Gives a session a new token; the old token stops working at once. `release` is not called.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Session, SessionManager } from "effect-session"
 *
 * // after a successful login: defeat session fixation
 * const login = (session: Session.Session, principal: Session.Principal) =>
 *   SessionManager.rotateSession(session, { principal })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const rotateSession = (
  session: Pick<Session.Session, "key">,
  options?: RotateOptions
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionLimitError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.rotateSession(session, options))

/**
 * Every live session (without tokens).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const count = Effect.map(SessionManager.currentSessions, (sessions) => sessions.length)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const currentSessions: Effect.Effect<ReadonlyArray<Session.Session>, SessionStoreError, SessionManager> = Effect
  .flatMap(SessionManager, (manager) => manager.currentSessions)

/**
 * The live sessions of one principal (without tokens).
 *
 * @example
 * ```ts
 * import { SessionManager } from "effect-session"
 *
 * const alicesSessions = SessionManager.sessionsOf("alice")
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const sessionsOf = (
  principalId: string
): Effect.Effect<ReadonlyArray<Session.Session>, SessionStoreError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.sessionsOf(principalId))

/**
 * Closes every session of a principal ("log out everywhere"), or all but one with `except`.
 *
 * @example
 * ```ts
 * import { Session, SessionManager } from "effect-session"
 *
 * const logOutEverywhereElse = (session: Session.Session) =>
 *   SessionManager.closeAllOf(session.principal.id, { except: session })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const closeAllOf = (
  principalId: string,
  options?: { readonly except?: Pick<Session.Session, "key"> }
): Effect.Effect<CloseReport, SessionStoreError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.closeAllOf(principalId, options))

/**
 * Whether a session value is past its idle limit or absolute lifetime now.
 *
 * @example
 * ```ts
 * import { Session, SessionManager } from "effect-session"
 *
 * const stale = (session: Session.Session) => SessionManager.hasExpired(session)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const hasExpired = (session: Session.Record): Effect.Effect<boolean, never, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.hasExpired(session))

/**
 * Closes every expired session now and reports what it did.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const sweep = Effect.tap(SessionManager.cleanSessions, ({ closed, remaining }) =>
 *   Effect.log(`closed ${closed}, ${remaining} left`))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const cleanSessions: Effect.Effect<CleanReport, SessionStoreError, SessionManager> = Effect.flatMap(
  SessionManager,
  (manager) => manager.cleanSessions
)

/**
 * Reads one typed data value of the stored session.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session, SessionManager } from "effect-session"
 *
 * const Theme = Session.dataKey("theme", Schema.Literal("light", "dark"))
 * const themeOf = (session: Session.Session) => SessionManager.getData(session, Theme)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const getData = <A, I extends Session.Json>(
  session: Pick<Session.Session, "key">,
  key: Session.DataKey<A, I>
): Effect.Effect<Option.Option<A>, InvalidSession | SessionStoreError | SessionDataError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.getData(session, key))

/**
 * Writes one typed data value (other keys stay as stored).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session, SessionManager } from "effect-session"
 *
 * const Theme = Session.dataKey("theme", Schema.Literal("light", "dark"))
 * const goDark = (session: Session.Session) => SessionManager.setData(session, Theme, "dark")
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const setData = <A, I extends Session.Json>(
  session: Pick<Session.Session, "key" | "token">,
  key: Session.DataKey<A, I>,
  value: A
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.setData(session, key, value))

/**
 * Atomically updates one typed data value from its stored value (safe under concurrent requests).
 *
 * @example
 * ```ts
 * import { Option, Schema } from "effect"
 * import { Session, SessionManager } from "effect-session"
 *
 * const Visits = Session.dataKey("visits", Schema.Number)
 * const countVisit = (session: Session.Session) =>
 *   SessionManager.updateData(session, Visits, (n) => Option.getOrElse(n, () => 0) + 1)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const updateData = <A, I extends Session.Json>(
  session: Pick<Session.Session, "key" | "token">,
  key: Session.DataKey<A, I>,
  f: (current: Option.Option<A>) => A
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.updateData(session, key, f))

/**
 * Removes data values by name.
 *
 * @example
 * ```ts
 * import { Session, SessionManager } from "effect-session"
 *
 * const forgetCart = (session: Session.Session) => SessionManager.removeData(session, "cart")
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const removeData = (
  session: Pick<Session.Session, "key" | "token">,
  ...names: ReadonlyArray<string>
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError, SessionManager> =>
  Effect.flatMap(SessionManager, (manager) => manager.removeData(session, ...names))

/**
 * Session lifecycle events as a stream.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { SessionManager } from "effect-session"
 *
 * const auditLog = Stream.runForEach(SessionManager.events, (event) => Effect.log(event._tag))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const events: Stream.Stream<SessionEvent, never, SessionManager> = Stream.unwrap(
  Effect.map(SessionManager, (manager) => manager.events)
)
