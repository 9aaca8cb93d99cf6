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
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { acceptSession, AuthManager } from "./AuthManager.js"
import { givenOptions } from "./internal/config.js"
import * as expiry from "./internal/expiry.js"
import * as json from "./internal/json.js"
import * as Session from "./Session.js"
import {
  AuthManagerError,
  type ExplicitLogin,
  InvalidSession,
  SessionCloseError,
  SessionConfigError,
  SessionDataError,
  type SessionLimitError,
  SessionStoreError
} from "./SessionError.js"
import * as SessionStore from "./SessionStore.js"
import * as SessionToken from "./SessionToken.js"

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
 * - `sweepBatchSize` (1000): sessions claimed per step of a sweep; the sweep yields between steps.
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
export const defaults = {
  idleTimeout: "30 minutes",
  absoluteLifetime: "24 hours",
  cleanupSessionTime: "12 hours",
  cleanupAnonymousSessionTime: "2 minutes",
  sweepBatchSize: 1000,
  releaseTimeout: "10 seconds",
  authTimeout: "10 seconds",
  touchInterval: "1 minute",
  maxSessions: 1_000_000,
  maxAnonymousSessions: 100_000,
  maxSessionsPerPrincipal: 100,
  onLimit: "evictLeastRecentlyUsed"
} as const satisfies Options

const invalid = (option: string, reason: string) => Either.left(new SessionConfigError({ option, reason }, true))

const decodeLimit = (
  option: string,
  input: Limit | undefined,
  fallback: Limit
): Either.Either<Option.Option<Duration.Duration>, SessionConfigError> => {
  const value = input ?? fallback
  if (value === "off") return Either.right(Option.none())
  if (typeof value === "number" && (Number.isNaN(value) || value < 0)) {
    return invalid(option, `must be a positive duration, got ${value}`)
  }
  if (typeof value === "bigint" && value < BigInt(0)) {
    return invalid(option, `must be a positive duration, got ${value}`)
  }
  const duration = Duration.decodeUnknown(value)
  if (Option.isNone(duration)) {
    return invalid(option, `cannot parse ${JSON.stringify(String(value))} as a duration (e.g. "30 minutes", or "off")`)
  }
  if (!Duration.isFinite(duration.value)) return invalid(option, `must be finite; spell "no limit" as "off"`)
  if (Duration.toMillis(duration.value) <= 0) {
    return invalid(option, `must be positive, got ${Duration.format(duration.value)}; spell "no limit" as "off"`)
  }
  return Either.right(duration)
}

const decodeCap = (
  option: string,
  input: Cap | undefined,
  fallback: Cap
): Either.Either<number, SessionConfigError> => {
  const value = input ?? fallback
  if (value === "unlimited") return Either.right(Infinity)
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    return invalid(option, `must be a positive integer or "unlimited", got ${JSON.stringify(value)}`)
  }
  return Either.right(value)
}

const shortest = (...limits: Array<Option.Option<Duration.Duration>>): Option.Option<Duration.Duration> =>
  Option.reduceCompact(limits, Duration.infinity, Duration.min).pipe(Option.liftPredicate(Duration.isFinite))

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
export const validateOptions = (options: Options = {}): Effect.Effect<Settings, SessionConfigError> =>
  Effect.gen(function*() {
    const idleTimeout = yield* decodeLimit("idleTimeout", options.idleTimeout, defaults.idleTimeout)
    const absoluteLifetime = yield* decodeLimit("absoluteLifetime", options.absoluteLifetime, defaults.absoluteLifetime)
    const cleanupSessionTime = yield* decodeLimit(
      "cleanupSessionTime",
      options.cleanupSessionTime,
      defaults.cleanupSessionTime
    )
    const cleanupAnonymousSessionTime = yield* decodeLimit(
      "cleanupAnonymousSessionTime",
      options.cleanupAnonymousSessionTime,
      defaults.cleanupAnonymousSessionTime
    )
    const every = shortest(idleTimeout, absoluteLifetime, cleanupSessionTime, cleanupAnonymousSessionTime)
    if (Option.isNone(every)) {
      return yield* invalid("idleTimeout", "every time limit is off: sessions would never expire")
    }
    const sweepDefault =
      Duration.toMillis(Option.getOrElse(shortest(cleanupSessionTime, cleanupAnonymousSessionTime), () =>
        every.value)) / 2
    const sweepInterval = yield* decodeLimit("sweepInterval", options.sweepInterval, Math.max(1, sweepDefault))
    const releaseTimeout = yield* decodeLimit("releaseTimeout", options.releaseTimeout, defaults.releaseTimeout)
    if (Option.isNone(releaseTimeout)) {
      return yield* invalid("releaseTimeout", "cannot be off")
    }
    const authTimeout = yield* decodeLimit("authTimeout", options.authTimeout, defaults.authTimeout)
    if (Option.isNone(authTimeout)) {
      return yield* invalid("authTimeout", "cannot be off")
    }
    const sweepBatchSize = options.sweepBatchSize ?? defaults.sweepBatchSize
    if (!Number.isSafeInteger(sweepBatchSize) || sweepBatchSize < 1) {
      return yield* invalid("sweepBatchSize", `must be a positive integer, got ${JSON.stringify(sweepBatchSize)}`)
    }
    const maxSessions = yield* decodeCap("maxSessions", options.maxSessions, defaults.maxSessions)
    const maxAnonymousSessions = yield* decodeCap(
      "maxAnonymousSessions",
      options.maxAnonymousSessions,
      // an explicit maxSessions below the default anonymous cap lowers that cap with it
      options.maxSessions !== undefined && maxSessions < defaults.maxAnonymousSessions
        ? "unlimited"
        : defaults.maxAnonymousSessions
    )
    const maxSessionsPerPrincipal = yield* decodeCap(
      "maxSessionsPerPrincipal",
      options.maxSessionsPerPrincipal,
      // likewise for an explicit maxSessions below the default per-principal cap
      options.maxSessions !== undefined && maxSessions < defaults.maxSessionsPerPrincipal
        ? "unlimited"
        : defaults.maxSessionsPerPrincipal
    )
    if (Number.isFinite(maxAnonymousSessions) && maxAnonymousSessions > maxSessions) {
      return yield* invalid(
        "maxAnonymousSessions",
        `must not exceed maxSessions (${maxSessions}), got ${maxAnonymousSessions}`
      )
    }
    if (Number.isFinite(maxSessionsPerPrincipal) && maxSessionsPerPrincipal > maxSessions) {
      return yield* invalid(
        "maxSessionsPerPrincipal",
        `must not exceed maxSessions (${maxSessions}), got ${maxSessionsPerPrincipal}`
      )
    }
    const onLimit = options.onLimit ?? defaults.onLimit
    if (onLimit !== "evictLeastRecentlyUsed" && onLimit !== "refuse") {
      return yield* invalid("onLimit", `must be "evictLeastRecentlyUsed" or "refuse", got ${JSON.stringify(onLimit)}`)
    }
    const idleLimit = {
      anonymous: shortest(idleTimeout, cleanupAnonymousSessionTime),
      authenticated: shortest(idleTimeout, cleanupSessionTime)
    }
    const shortestIdle = Duration.toMillis(
      Option.getOrElse(shortest(idleLimit.anonymous, idleLimit.authenticated), () =>
        Duration.infinity)
    )
    const touchInterval = options.touchInterval === "always"
      ? Duration.zero
      : yield* Effect.map(
        decodeLimit(
          "touchInterval",
          options.touchInterval,
          Math.max(1, Math.min(Duration.toMillis(defaults.touchInterval), shortestIdle / 10))
        ),
        Option.getOrElse(() => Duration.zero)
      )
    if (Duration.toMillis(touchInterval) >= shortestIdle / 2) {
      return yield* invalid(
        "touchInterval",
        `must be under half the shortest idle limit (${Duration.format(Duration.millis(shortestIdle))}), got ${
          Duration.format(touchInterval)
        }; idle expiry may come up to one interval early`
      )
    }
    const millisOf = (limit: Option.Option<Duration.Duration>) =>
      Option.match(limit, { onNone: () => Infinity, onSome: Duration.toMillis })
    return {
      idleTimeout,
      absoluteLifetime,
      cleanupSessionTime,
      cleanupAnonymousSessionTime,
      idleLimit,
      sweepInterval,
      sweepBatchSize,
      releaseTimeout: releaseTimeout.value,
      authTimeout: authTimeout.value,
      touchInterval,
      policy: {
        idle: { anonymous: millisOf(idleLimit.anonymous), authenticated: millisOf(idleLimit.authenticated) },
        absolute: millisOf(absoluteLifetime),
        touchInterval: Duration.toMillis(touchInterval)
      },
      limits: {
        maxSessions,
        maxAnonymousSessions: Math.min(maxAnonymousSessions, maxSessions),
        maxSessionsPerPrincipal,
        onLimit
      }
    }
  })

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

const openedTotal = Metric.counter("effect_session_opened_total", {
  description: "Sessions opened",
  incremental: true
})
const closedTotal = Metric.counter("effect_session_closed_total", {
  description: "Sessions closed, by reason",
  incremental: true
})
const expiredTotal = Metric.counter("effect_session_expired_total", {
  description: "Sessions expired, by limit",
  incremental: true
})
const invalidTotal = Metric.counter("effect_session_invalid_total", {
  description: "Tokens refused, by reason",
  incremental: true
})
const releaseFailedTotal = Metric.counter("effect_session_release_failed_total", {
  description: "Releases that failed or timed out",
  incremental: true
})
const activeSessions = Metric.counter("effect_session_active", {
  description: "Sessions opened minus sessions closed by this instance, by kind"
})

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
  opened: openedTotal,
  closed: closedTotal,
  expired: expiredTotal,
  invalid: invalidTotal,
  releaseFailed: releaseFailedTotal,
  active: activeSessions
} as const

const byKind = <A>(metric: Metric.Metric.Counter<number>, f: (m: Metric.Metric.Counter<number>) => A) => ({
  anonymous: f(Metric.tagged(metric, "kind", "anonymous")),
  authenticated: f(Metric.tagged(metric, "kind", "authenticated"))
})
const opened = byKind(openedTotal, Metric.increment)
const activeUp = byKind(activeSessions, (m) => Metric.incrementBy(m, 1))
const activeDown = byKind(activeSessions, (m) => Metric.incrementBy(m, -1))
const closedBy = (reason: CloseReason) => Metric.increment(Metric.tagged(closedTotal, "reason", reason))
const closedCounters = {
  Logout: closedBy("Logout"),
  Expired: closedBy("Expired"),
  Rejected: closedBy("Rejected"),
  Evicted: closedBy("Evicted"),
  Revoked: closedBy("Revoked"),
  Shutdown: closedBy("Shutdown")
} satisfies Record<CloseReason, Effect.Effect<void>>
const expiredBy = {
  Idle: Metric.increment(Metric.tagged(expiredTotal, "limit", "Idle")),
  Absolute: Metric.increment(Metric.tagged(expiredTotal, "limit", "Absolute"))
}
const invalidBy = {
  Malformed: Metric.increment(Metric.tagged(invalidTotal, "reason", "Malformed")),
  Unknown: Metric.increment(Metric.tagged(invalidTotal, "reason", "Unknown")),
  Expired: Metric.increment(Metric.tagged(invalidTotal, "reason", "Expired")),
  Rejected: Metric.increment(Metric.tagged(invalidTotal, "reason", "Rejected")),
  Revoked: Metric.increment(Metric.tagged(invalidTotal, "reason", "Revoked"))
}
const kindOf = (record: Session.Record) => record.principal.anonymous ? "anonymous" : "authenticated"

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

type ReleaseOutcome = SessionCloseError | undefined

interface ClaimOutcome {
  /** Whether this call removed the session (and so ran its release). */
  readonly mine: boolean
  readonly failure: ReleaseOutcome
}
const notMine: ClaimOutcome = { mine: false, failure: undefined }

const MAX_TOKEN_ATTEMPTS = 3

// Spans only when a tracer is installed (e.g. OpenTelemetry): Effect's built-in tracer exports
// nothing, yet each span captures a stack trace and costs more than the whole session lookup.
const builtInTracer = Effect.runSync(Effect.tracer)

// Builds an effect from user code: one that throws instead of returning an effect is a defect.
const build = <A, E>(effect: () => Effect.Effect<A, E>): Effect.Effect<A, E> => {
  try {
    return effect()
  } catch (defect) {
    return Effect.die(defect)
  }
}
const traced = (name: string, sessionId?: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    tracer === builtInTracer
      ? self
      : Effect.withSpan(self, name, sessionId === undefined ? {} : { attributes: { "session.id": sessionId } })
  )

// Without a span (no tracer installed), annotateCurrentSpan builds and discards an exception.
const annotateSpan = (key: string, value: string): Effect.Effect<void> =>
  Effect.tracerWith((tracer) => tracer === builtInTracer ? Effect.void : Effect.annotateCurrentSpan(key, value))

// Yields to the event loop (a macrotask), so that long work never holds it; unlike a sleep, it
// does not depend on the Clock, so it also proceeds under TestClock.
const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})
const MAX_UPDATE_ATTEMPTS = 16
const TOMBSTONE_CAP = 10_000
const TOMBSTONE_AGE = 24 * 60 * 60 * 1000
const ROTATION_LINK_GRACE = 60 * 60 * 1000

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
export const make = (options: Options = {}): Effect.Effect<
  Service,
  SessionConfigError,
  AuthManager | SessionStore.SessionStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const settings = yield* validateOptions(options)
    const auth = yield* AuthManager
    const store = yield* SessionStore.SessionStore
    const generator = yield* SessionToken.TokenGenerator
    const events = yield* Effect.acquireRelease(PubSub.sliding<SessionEvent>(1024), PubSub.shutdown)
    const limits = settings.limits
    if (store.validatePolicy !== undefined) yield* store.validatePolicy(settings.policy)
    const absolute = settings.policy.absolute
    // A rotated-away key keeps leading to its successor this long, so a logout racing a rotation
    // still closes what it became (see SessionStore.Rekey.linkUntil).
    const linkGrace = Math.min(ROTATION_LINK_GRACE, absolute)
    const cutoffAt = (now: number) => expiry.cutoffAt(settings.policy, now)
    const expiresAtFrom = (createdAt: number) => absolute === Infinity ? null : createdAt + absolute
    const expiryLimit = (record: Session.Record, now: number) => expiry.limitOf(record, settings.policy, now)
    const publish = (event: SessionEvent) => PubSub.publish(events, event)

    // The auth manager is user code: bound it in time and turn its defects into typed failures,
    // including an exception thrown while building its effect (hence the thunk). `disconnect`: the
    // caller is answered at the deadline even if the call ignores interruption; the call is then
    // interrupted in the background and its late answer discarded.
    const guarded = <A, E>(
      operation: AuthManagerError["operation"],
      effect: () => Effect.Effect<A, E>
    ): Effect.Effect<A, E | AuthManagerError> => {
      const built = build(effect)
      // Already complete (Effect.succeed, Effect.fail, ...): nothing to bound, no fiber or timer.
      if (Exit.isExit(built)) {
        return Exit.isFailure(built) && Cause.isDie(built.cause)
          ? Effect.fail(new AuthManagerError({ operation, reason: "Defect", cause: built.cause }, true))
          : built
      }
      return built.pipe(
        Effect.disconnect,
        Effect.timeoutFail({
          duration: settings.authTimeout,
          onTimeout: () => new AuthManagerError({ operation, reason: "Timeout" }, true)
        }),
        Effect.catchAllDefect((cause) =>
          Effect.fail(new AuthManagerError({ operation, reason: "Defect", cause }, true))
        )
      )
    }

    // --- closing: exactly one release per removed record -------------------------------------

    // Releases in flight, so that a closer who lost the claim can wait for the winner's release.
    const releasing = new Map<string, Deferred.Deferred<ReleaseOutcome>>()

    const outcomeOf = (sessionId: string, exit: Exit.Exit<void, SessionCloseError>): ReleaseOutcome => {
      if (Exit.isSuccess(exit)) return undefined
      const failure = exit.cause._tag === "Fail" ? Option.some(exit.cause.error) : Option.none()
      return Option.getOrElse(
        failure,
        () => new SessionCloseError({ sessionId, reason: "Defect", cause: exit.cause }, true)
      )
    }

    // Metrics, events and logs of a finished release.
    const account = (record: Session.Record, reason: CloseReason, failure: ReleaseOutcome) => {
      const sessionId = SessionToken.shortId(record.key)
      return Effect.all([
        closedCounters[reason],
        activeDown[kindOf(record)],
        publish({ _tag: "Closed", sessionId, principalId: record.principal.id, reason }),
        failure === undefined ? Effect.void : Effect.all([
          Metric.increment(releaseFailedTotal),
          publish({ _tag: "ReleaseFailed", reason, error: failure }),
          Effect.logWarning("session release failed").pipe(Effect.annotateLogs({ session: sessionId, reason }))
        ]),
        Effect.logDebug("session closed").pipe(Effect.annotateLogs({ session: sessionId, reason }))
      ], { discard: true })
    }

    const runRelease = (
      record: Session.Record,
      reason: CloseReason,
      release: Effect.Effect<void, SessionCloseError>
    ): Effect.Effect<ReleaseOutcome> => {
      const sessionId = SessionToken.shortId(record.key)
      // `disconnect`: a release that ignores interruption is still cut at releaseTimeout (it goes
      // on in the background), so no closer, sweep or shutdown waits on it forever.
      return release.pipe(
        Effect.disconnect,
        Effect.timeoutFail({
          duration: settings.releaseTimeout,
          onTimeout: () => new SessionCloseError({ sessionId, reason: "Timeout" }, true)
        }),
        Effect.exit,
        Effect.map((exit) => outcomeOf(sessionId, exit)),
        Effect.tap((failure) => account(record, reason, failure))
      )
    }

    // Starts the release of a record this caller removed, in a daemon fiber so that an interrupted
    // caller cannot cut it short (the timeout bounds it), and registers it for other closers.
    const startRelease = (record: Session.Record, reason: CloseReason) =>
      Effect.suspend(() => {
        const done = Deferred.unsafeMake<ReleaseOutcome>(FiberId.none)
        const release = build(() => auth.release(record))
        if (Exit.isExit(release)) {
          // Already complete (no release, or a synchronous one): settle it here, no fiber or timer.
          const outcome = outcomeOf(SessionToken.shortId(record.key), release as Exit.Exit<void, SessionCloseError>)
          return Effect.as(
            Effect.zipRight(account(record, reason, outcome), Deferred.succeed(done, outcome)),
            done
          )
        }
        releasing.set(record.key, done)
        // Forked from the caller's uninterruptible claim: make the release interruptible again, or
        // its timeout could never cut a hanging one. Nothing else can interrupt a daemon.
        return Effect.interruptible(runRelease(record, reason, release)).pipe(
          Effect.flatMap((outcome) => Deferred.succeed(done, outcome)),
          Effect.ensuring(Effect.suspend(() => {
            if (releasing.get(record.key) === done) releasing.delete(record.key)
            // built only when the release was lost (interrupted): a Schema error costs ~50 µs
            return Effect.flatMap(Deferred.isDone(done), (isDone) =>
              isDone
                ? Effect.void
                : Deferred.succeed(
                  done,
                  new SessionCloseError({ sessionId: SessionToken.shortId(record.key), reason: "Defect" }, true)
                ))
          })),
          Effect.forkDaemon,
          Effect.as(done)
        )
      })

    // Removes a session and releases it if this call won the removal; a caller that lost waits for
    // the winner's release, so "closed" always means "released".
    const claim = (key: string, reason: CloseReason, followRotations = false): Effect.Effect<
      ClaimOutcome,
      SessionStoreError
    > =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(store.remove(key, followRotations ? { followRotations } : undefined), (removed) => {
          if (Option.isSome(removed)) {
            return Effect.flatMap(
              startRelease(removed.value, reason),
              (done) => restore(Effect.map(Deferred.await(done), (failure) => ({ mine: true, failure })))
            )
          }
          const pending = releasing.get(key)
          return pending === undefined ? Effect.succeed(notMine) : restore(Effect.as(Deferred.await(pending), notMine))
        })
      )

    const releaseEvicted = (evicted: ReadonlyArray<Session.Record>) =>
      evicted.length === 0 ? Effect.void : Effect.forEach(evicted, (record) => startRelease(record, "Evicted"), {
        discard: true
      })

    // Keys of sessions that expired recently, so that a token presented after the sweep removed its
    // session still answers "Expired" (with its limit) rather than "Unknown". Bounded in count and
    // age; per process (with a shared store, another instance may answer "Unknown").
    const tombstones = new Map<string, { readonly limit: "Idle" | "Absolute"; readonly at: number }>()
    const bury = (key: string, limit: "Idle" | "Absolute", at: number) => {
      tombstones.delete(key)
      tombstones.set(key, { limit, at })
      if (tombstones.size > TOMBSTONE_CAP) tombstones.delete(tombstones.keys().next().value!)
    }

    const expire = (record: Session.Record, limit: "Idle" | "Absolute") =>
      Effect.flatMap(
        Effect.suspend(() => {
          // Buried before the claim, not after: the claim waits for the release, and meanwhile a
          // concurrent request for the same token (which finds the session gone) must already
          // answer Expired rather than Unknown.
          bury(record.key, limit, record.lastUsedAt)
          return claim(record.key, "Expired")
        }),
        (outcome) => {
          const sessionId = SessionToken.shortId(record.key)
          return Effect.zipRight(
            Effect.all([expiredBy[limit], invalidBy.Expired], { discard: true }),
            Effect.fail(
              new InvalidSession({
                reason: "Expired",
                limit,
                sessionId,
                ...(outcome.failure === undefined ? {} : { closeError: outcome.failure })
              }, true)
            )
          )
        }
      )

    const unknown = (key: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const sessionId = SessionToken.shortId(key)
        const tombstone = tombstones.get(key)
        if (tombstone !== undefined && now - tombstone.at < TOMBSTONE_AGE) {
          return Effect.zipRight(
            invalidBy.Expired,
            Effect.fail(new InvalidSession({ reason: "Expired", limit: tombstone.limit, sessionId }, true))
          )
        }
        return Effect.zipRight(
          invalidBy.Unknown,
          Effect.fail(new InvalidSession({ reason: "Unknown", sessionId }, true))
        )
      })

    // A record its principal's revocation marked: close it (whoever removes it releases it).
    const revoked = (record: Session.Record) =>
      Effect.flatMap(claim(record.key, "Revoked"), (outcome) =>
        Effect.zipRight(
          invalidBy.Revoked,
          Effect.fail(
            new InvalidSession({
              reason: "Revoked",
              sessionId: SessionToken.shortId(record.key),
              ...(outcome.failure === undefined ? {} : { closeError: outcome.failure })
            }, true)
          )
        ))

    // Interprets a store write: the record, or the typed failure that the write revealed.
    const written = (
      result: SessionStore.WriteResult,
      key: string,
      now: number
    ): Effect.Effect<Session.Record, InvalidSession | SessionStoreError> => {
      switch (result._tag) {
        case "Written":
          return Effect.succeed(result.record)
        case "Missing":
          return unknown(key)
        case "Expired":
          return expire(result.record, expiryLimit(result.record, now) ?? "Idle")
        case "Revoked":
          return revoked(result.record)
        case "Conflict":
          return Effect.fail(new SessionStoreError({ reason: "Conflict", operation: "update" }, true))
      }
    }

    const withToken = (record: Session.Record, token: Redacted.Redacted<string> | undefined): Session.Session =>
      token === undefined ? record : { ...record, token }

    // Mints a token whose key is free: a collision is astronomically unlikely with 256-bit tokens,
    // but a deterministic test generator can produce one, and a store insert is if-absent.
    const withFreshToken = <A, E, R>(
      use: (token: Redacted.Redacted<string>, key: string) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> => {
      const attempt = (n: number): Effect.Effect<A, E, R> =>
        Effect.flatMap(generator.generate, (token) =>
          use(token, SessionToken.hash(Redacted.value(token))).pipe(
            Effect.catchIf(
              (error) => n < MAX_TOKEN_ATTEMPTS && error instanceof SessionStoreError && error.reason === "Conflict",
              () => attempt(n + 1)
            )
          ))
      return attempt(1)
    }

    // --- operations ----------------------------------------------------------------------------

    const authenticate: Service["authenticate"] = (request) => guarded("authenticate", () => auth.authenticate(request))

    // Initial data from the caller is held to the rules of setData (JSON values only, bounded depth).
    const checkedData = (data: Session.Data): Effect.Effect<Session.Data, SessionDataError> => {
      const result = json.checkedData(data)
      return result instanceof json.Invalid
        ? Effect.fail(new SessionDataError({ key: result.name, reason: "NotJson" }, true))
        : Effect.succeed(result)
    }

    const openSessionFor: Service["openSessionFor"] = (principal, openOptions) =>
      (openOptions?.data === undefined
        ? open(principal, {})
        : Effect.flatMap(checkedData(openOptions.data), (data) => open(principal, data))).pipe(
          traced("SessionManager.openSessionFor")
        )

    const open = (principal: Session.Principal, data: Session.Data) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const session = yield* withFreshToken((token, key) => {
          const record: Session.Record = {
            key,
            principal,
            createdAt: now,
            lastUsedAt: now,
            expiresAt: expiresAtFrom(now),
            data
          }
          // Uninterruptible from the store call to the start of the evicted sessions' releases: an
          // interruption in between would lose sessions the store already removed (as `claim` does).
          return Effect.uninterruptible(Effect.flatMap(store.insert(record, limits), releaseEvicted)).pipe(
            Effect.as(withToken(record, token))
          )
        })
        const sessionId = SessionToken.shortId(session.key)
        yield* Effect.all([
          opened[kindOf(session)],
          activeUp[kindOf(session)],
          publish({ _tag: "Opened", sessionId, principalId: principal.id, anonymous: principal.anonymous }),
          annotateSpan("session.id", sessionId),
          Effect.logDebug("session opened").pipe(Effect.annotateLogs({ session: sessionId }))
        ], { discard: true })
        return session
      })

    const openSession: Service["openSession"] = (request) =>
      Effect.flatMap(authenticate(request), (principal) => open(principal, {})).pipe(
        traced("SessionManager.openSession")
      )

    const rekey = (
      key: string,
      next: (now: number) => Omit<SessionStore.Rekey, "key">,
      cutoff: SessionStore.Cutoff
    ): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionLimitError> =>
      withFreshToken((token, newKey) =>
        Effect.flatMap(
          // uninterruptible until the evicted sessions' releases have started (see openSession)
          Effect.uninterruptible(
            Effect.tap(
              store.rekey(key, { key: newKey, linkUntil: cutoff.now + linkGrace, ...next(cutoff.now) }, limits, cutoff),
              (result) => result._tag === "Rekeyed" ? releaseEvicted(result.evicted) : Effect.void
            )
          ),
          (result) => {
            switch (result._tag) {
              case "Missing":
                return unknown(key)
              case "Expired":
                return expire(result.record, expiryLimit(result.record, cutoff.now) ?? "Idle")
              case "Revoked":
                return revoked(result.record)
              case "Rekeyed": {
                const from = SessionToken.shortId(key)
                const to = SessionToken.shortId(newKey)
                const { previous, record } = result
                const kindChanged = kindOf(previous) !== kindOf(record)
                return Effect.all([
                  kindChanged ? Effect.zipRight(activeDown[kindOf(previous)], activeUp[kindOf(record)]) : Effect.void,
                  publish({ _tag: "Rotated", from, to, principalId: record.principal.id }),
                  Effect.logDebug("session rotated").pipe(Effect.annotateLogs({ session: to, from }))
                ], { discard: true }).pipe(Effect.as(withToken(record, token)))
              }
            }
          }
        )
      )

    const validate = (
      request: HttpServerRequest.HttpServerRequest,
      session: Session.Session
    ): Effect.Effect<Session.Session, InvalidSession | AuthManagerError> =>
      auth.validateSession === acceptSession
        ? Effect.succeed(session)
        : guarded("validateSession", () => auth.validateSession(request, session))

    const accepts = auth.validateSession === acceptSession

    // validateSession's verdict: the session itself (accepted), a replacement (stored under a new
    // token in the same step as the old key's removal), or a rejection (the session is closed).
    const validated = (
      request: HttpServerRequest.HttpServerRequest,
      session: Session.Session,
      cutoff: SessionStore.Cutoff
    ) => {
      const sessionId = SessionToken.shortId(session.key)
      return validate(request, session).pipe(
        Effect.catchTag("InvalidSession", (rejection) =>
          Effect.flatMap(claim(session.key, "Rejected"), (outcome) =>
            Effect.zipRight(
              invalidBy.Rejected,
              Effect.fail(
                new InvalidSession({
                  reason: "Rejected",
                  sessionId,
                  ...(outcome.failure === undefined ? {} : { closeError: outcome.failure }),
                  ...(rejection.cause === undefined ? {} : { cause: rejection.cause })
                }, true)
              )
            ))),
        Effect.flatMap((verdict) =>
          verdict === session ? Effect.succeed(session) : rekey(session.key, () => ({
            principal: verdict.principal,
            createdAt: verdict.createdAt,
            expiresAt: verdict.expiresAt,
            data: verdict.data
          }), cutoff)
        )
      )
    }

    // The request path: kept to one clock read and one store step when nothing needs validating.
    const lookupSession: Service["lookupSession"] = (request, token) => {
      const raw = typeof token === "string" ? token : Redacted.value(token)
      // Format first: a malformed value never reaches the store, a log or a span.
      if (!SessionToken.isWellFormed(raw)) {
        return Effect.zipRight(invalidBy.Malformed, Effect.fail(new InvalidSession({ reason: "Malformed" }, true)))
      }
      const key = SessionToken.hash(raw)
      const redacted = typeof token === "string" ? Redacted.make(token) : token
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const cutoff = cutoffAt(now)
        return Effect.flatMap(
          store.touch(key, cutoff, expiry.touchBefore(settings.policy, now)),
          (result): Effect.Effect<
            Lookup,
            InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError
          > => {
            switch (result._tag) {
              case "Missing":
                return unknown(key)
              case "Expired":
                return expire(result.record, expiryLimit(result.record, now) ?? "Idle")
              case "Revoked":
                return revoked(result.record)
              case "Written":
              case "Read": {
                const session = withToken(result.record, redacted)
                const touched = result._tag === "Written"
                return accepts
                  ? Effect.succeed({ session, touched })
                  : Effect.map(
                    validated(request, session, cutoff),
                    (verdict) => verdict === session ? { session, touched } : { session: verdict, touched: true }
                  )
              }
            }
          }
        )
      }).pipe(traced("SessionManager.getSession", SessionToken.shortId(key)))
    }

    const getSession: Service["getSession"] = (request, token) =>
      Effect.map(lookupSession(request, token), (lookup) => lookup.session)

    const closeSession: Service["closeSession"] = (session) =>
      claim(session.key, "Logout", true).pipe(
        Effect.flatMap((outcome) => outcome.failure === undefined ? Effect.void : Effect.fail(outcome.failure)),
        traced("SessionManager.closeSession", SessionToken.shortId(session.key))
      )

    const rotateSession: Service["rotateSession"] = (session, rotateOptions) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const principal = rotateOptions?.principal
        const current = principal === undefined ? Option.none() : yield* store.get(session.key)
        // A change of principal is a login: the new session's lifetime starts now.
        const login = Option.isSome(current) && principal !== undefined &&
          (current.value.principal.id !== principal.id || current.value.principal.anonymous !== principal.anonymous)
        return yield* rekey(session.key, (at) =>
          Option.match(current, {
            onNone: () => ({}),
            onSome: (record) =>
              login
                ? {
                  principal: principal!,
                  createdAt: at,
                  expiresAt: expiresAtFrom(at),
                  // data never crosses principals unless named
                  keep: rotateOptions?.keep ?? []
                }
                : { principal: principal ?? record.principal }
          }), cutoffAt(now))
      }).pipe(
        traced("SessionManager.rotateSession", SessionToken.shortId(session.key))
      )

    const live = (records: ReadonlyArray<Session.Record>) =>
      Effect.map(Clock.currentTimeMillis, (now) => records.filter((record) => expiryLimit(record, now) === undefined))

    const currentSessions: Service["currentSessions"] = Effect.flatMap(store.list, live).pipe(
      traced("SessionManager.currentSessions")
    )

    const sessionsOf: Service["sessionsOf"] = (principalId) =>
      Effect.flatMap(store.listByPrincipal(principalId), live).pipe(traced("SessionManager.sessionsOf"))

    const report = (outcomes: ReadonlyArray<ClaimOutcome>, marked = 0): CloseReport => {
      let closed = marked
      const failures: Array<SessionCloseError> = []
      for (const outcome of outcomes) {
        if (outcome.mine) closed++
        if (outcome.failure !== undefined) failures.push(outcome.failure)
      }
      return { closed, failures }
    }

    // One store step revokes the principal's sessions (see SessionStore.revoke: complete, whatever
    // rotates concurrently); the records it removed are released here, those it could only mark
    // are released by the sweep or by the next request that meets them.
    const closeAllOf: Service["closeAllOf"] = (principalId, closeOptions) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          store.revoke(principalId, closeOptions?.except === undefined ? {} : { except: closeOptions.except.key }),
          (result) =>
            Effect.flatMap(
              Effect.forEach(result.removed, (record) => startRelease(record, "Revoked")),
              (dones) =>
                restore(Effect.map(
                  Effect.forEach(dones, Deferred.await),
                  (failures) => report(failures.map((failure) => ({ mine: true, failure })), result.marked)
                ))
            )
        )
      ).pipe(traced("SessionManager.closeAllOf"))

    const hasExpired: Service["hasExpired"] = (session) =>
      Effect.map(Clock.currentTimeMillis, (now) => expiryLimit(session, now) !== undefined)

    // Claims expired sessions batch by batch (each batch costs what it claims, thanks to the store's
    // indexes), yielding between batches so the event loop is never held long.
    const sweep = (cutoff: SessionStore.Cutoff, reason: (record: Session.Record) => CloseReason) =>
      Effect.gen(function*() {
        const outcomes: Array<ClaimOutcome> = []
        while (true) {
          // uninterruptible from the claim to the start of the releases: an interrupted sweep (at
          // shutdown) must not lose the sessions it has just removed from the store
          const dones = yield* Effect.uninterruptible(
            Effect.flatMap(store.claimExpired(cutoff, settings.sweepBatchSize), (batch) =>
              Effect.forEach(batch, (record) => {
                const limit = expiryLimit(record, cutoff.now)
                if (limit !== undefined) {
                  bury(record.key, limit, record.lastUsedAt)
                }
                // a claimed record the cutoff does not expire was revoked (SessionStore.claimExpired)
                return Effect.zipRight(
                  limit === undefined ? Effect.void : expiredBy[limit],
                  startRelease(record, limit === undefined ? "Revoked" : reason(record))
                )
              }))
          )
          for (const done of dones) {
            outcomes.push({ mine: true, failure: yield* Deferred.await(done) })
          }
          if (dones.length < settings.sweepBatchSize) {
            break
          }
          yield* yieldToEventLoop
        }
        return report(outcomes)
      })

    const cleanSessions: Service["cleanSessions"] = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const result = yield* sweep(cutoffAt(now), () =>
        "Expired")
      const count = yield* store.count
      return { ...result, remaining: count.anonymous + count.authenticated }
    }).pipe(traced("SessionManager.cleanSessions"))

    // --- data --------------------------------------------------------------------------------

    const load = (key: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const stored = yield* store.get(key)
        if (Option.isNone(stored)) {
          return yield* unknown(key)
        }
        const limit = expiryLimit(stored.value, now)
        if (limit !== undefined) {
          return yield* expire(stored.value, limit)
        }
        return stored.value
      })

    const patch = (session: Pick<Session.Session, "key" | "token">, change: SessionStore.DataPatch) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(store.update(session.key, change, cutoffAt(now)), (result) =>
          result._tag === "Conflict"
            ? Effect.succeed(Option.none<Session.Session>())
            : Effect.map(written(result, session.key, now), (record) =>
              Option.some(withToken(record, session.token)))))

    const getData: Service["getData"] = (session, dataKey) =>
      Effect.flatMap(load(session.key), (record) =>
        Session.get(record, dataKey))

    const setData: Service["setData"] = (session, dataKey, value) =>
      Effect.flatMap(Session.encode(dataKey, value), (json) =>
        Effect.flatMap(
          patch(session, { set: [[dataKey.name, json]] }),
          (result) =>
            Option.isSome(result)
              ? Effect.succeed(result.value)
              : Effect.fail(new SessionStoreError({ reason: "Conflict", operation: "setData" }, true))
        )).pipe(traced("SessionManager.setData"))

    const updateData: Service["updateData"] = (session, dataKey, f) => {
      const attempt = (
        n: number
      ): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError> =>
        Effect.gen(function*() {
          const record = yield* load(session.key)
          const stored = Object.prototype.hasOwnProperty.call(record.data, dataKey.name)
            ? record.data[dataKey.name]
            : undefined
          const current = stored === undefined ? Option.none() : Option.some(yield* Session.decode(dataKey, stored))
          const json = yield* Session.encode(dataKey, f(current))
          const result = yield* patch(session, {
            set: [[dataKey.name, json]],
            expect: { name: dataKey.name, value: stored }
          })
          if (Option.isSome(result)) {
            return result.value
          }
          if (n >= MAX_UPDATE_ATTEMPTS) {
            return yield* new SessionStoreError({ reason: "Conflict", operation: "updateData" }, true)
          }
          return yield* attempt(n + 1)
        })
      return attempt(1).pipe(traced("SessionManager.updateData"))
    }

    const removeData: Service["removeData"] = (session, ...names) =>
      Effect.flatMap(
        patch(session, { remove: names }),
        (result) =>
          Option.isSome(result)
            ? Effect.succeed(result.value)
            : Effect.fail(new SessionStoreError({ reason: "Conflict", operation: "removeData" }, true))
      ).pipe(traced("SessionManager.removeData"))

    // --- lifecycle -----------------------------------------------------------------------------

    // At shutdown: wait for releases in flight; a non-persistent store's sessions die with the
    // process, so release them (a persistent store keeps them for the next process).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* Effect.forEach([...releasing.values()], Deferred.await, { discard: true })
        if (!store.persistent) {
          const all = { now: Infinity, idleBefore: { anonymous: Infinity, authenticated: Infinity } }
          yield* sweep(all, () =>
            "Shutdown")
        }
      }).pipe(Effect.catchAllCause((cause) =>
        Effect.logError("session shutdown incomplete", cause)
      ))
    )

    if (Option.isSome(settings.sweepInterval)) {
      const interval = settings.sweepInterval.value
      yield* Effect.sleep(interval).pipe(
        Effect.zipRight(cleanSessions),
        Effect.tap((done) =>
          done.closed === 0 ? Effect.void : Effect.logDebug("session sweep").pipe(
            Effect.annotateLogs({ closed: done.closed, remaining: done.remaining, failures: done.failures.length })
          )
        ),
        // One bad sweep (store error, defect) is logged; the loop goes on.
        Effect.catchAllCause((cause) => Effect.logError("session sweep failed", cause)),
        Effect.forever,
        Effect.forkScoped
      )
    }

    return SessionManager.of({
      settings,
      authenticate,
      openSession,
      openSessionFor,
      lookupSession,
      getSession,
      closeSession,
      rotateSession,
      currentSessions,
      sessionsOf,
      closeAllOf,
      hasExpired,
      cleanSessions,
      getData,
      setData,
      updateData,
      removeData,
      events: Stream.fromPubSub(events)
    })
  })

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

const optionalString = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.getOrUndefined))

const capConfig = (name: string) =>
  optionalString(name).pipe(
    Config.mapOrFail((value): Either.Either<Cap | undefined, ConfigError.ConfigError> => {
      if (value === undefined || value === "unlimited") return Either.right(value)
      const n = Number(value)
      return Number.isSafeInteger(n)
        ? Either.right(n)
        : Either.left(
          ConfigError.InvalidData([name], `expected a positive integer or "unlimited", got ${JSON.stringify(value)}`)
        )
    })
  )

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
export const config: Config.Config<Options> = Config.all({
  idleTimeout: optionalString("IDLE_TIMEOUT"),
  absoluteLifetime: optionalString("ABSOLUTE_LIFETIME"),
  cleanupSessionTime: optionalString("CLEANUP_SESSION_TIME"),
  cleanupAnonymousSessionTime: optionalString("CLEANUP_ANONYMOUS_SESSION_TIME"),
  sweepInterval: optionalString("SWEEP_INTERVAL"),
  releaseTimeout: optionalString("RELEASE_TIMEOUT"),
  authTimeout: optionalString("AUTH_TIMEOUT"),
  sweepBatchSize: capConfig("SWEEP_BATCH_SIZE"),
  maxSessions: capConfig("MAX_SESSIONS"),
  maxAnonymousSessions: capConfig("MAX_ANONYMOUS_SESSIONS"),
  maxSessionsPerPrincipal: capConfig("MAX_SESSIONS_PER_PRINCIPAL"),
  onLimit: optionalString("ON_LIMIT")
}).pipe(
  Config.nested("SESSION"),
  // Durations stay strings here: the layer parses and validates them with the same typed errors.
  Config.map(givenOptions<Options>)
)

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
