/**
 * The manager's options: defaults, validation into `Settings` (the policy in milliseconds, the
 * caps), and the `Config` mapping. Every combination that cannot work fails here, with a
 * `SessionConfigError` naming the option.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { SessionConfigError } from "../../SessionError.js"
import type { Cap, Options, Settings } from "../../SessionManager.js"
import { duration, givenOptions, invalid } from "../config.js"
import * as expiry from "../expiry.js"

/** @internal */
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

const decodeCap = (option: string, value: Cap): Either.Either<number, SessionConfigError> => {
  if (value === "unlimited") return Either.right(Infinity)
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    return Either.left(invalid(option, `must be a positive integer or "unlimited", got ${JSON.stringify(value)}`))
  }
  return Either.right(value)
}

const shortest = (...limits: Array<Option.Option<Duration.Duration>>): Option.Option<Duration.Duration> =>
  Option.reduceCompact(limits, Duration.infinity, Duration.min).pipe(Option.liftPredicate(Duration.isFinite))

const millisOf = (limit: Option.Option<Duration.Duration>): number =>
  Option.match(limit, { onNone: () => Infinity, onSome: Duration.toMillis })

/** @internal */
export const validate = (options: Options = {}): Effect.Effect<Settings, SessionConfigError> =>
  Effect.gen(function*() {
    const limit = (option: keyof typeof defaults & keyof Options) =>
      duration(option, options[option] ?? defaults[option], { off: true })
    const idleTimeout = yield* limit("idleTimeout")
    const absoluteLifetime = yield* limit("absoluteLifetime")
    const cleanupSessionTime = yield* limit("cleanupSessionTime")
    const cleanupAnonymousSessionTime = yield* limit("cleanupAnonymousSessionTime")
    const every = shortest(idleTimeout, absoluteLifetime, cleanupSessionTime, cleanupAnonymousSessionTime)
    if (Option.isNone(every)) {
      return yield* invalid("idleTimeout", "every time limit is off: sessions would never expire")
    }
    const sweepDefault = Duration.toMillis(
      Option.getOrElse(shortest(cleanupSessionTime, cleanupAnonymousSessionTime), () => every.value)
    ) / 2
    const sweepInterval = yield* duration("sweepInterval", options.sweepInterval ?? Math.max(1, sweepDefault), {
      off: true
    })
    const releaseTimeout = yield* duration("releaseTimeout", options.releaseTimeout ?? defaults.releaseTimeout, {
      off: false
    })
    const authTimeout = yield* duration("authTimeout", options.authTimeout ?? defaults.authTimeout, { off: false })
    const sweepBatchSize = options.sweepBatchSize ?? defaults.sweepBatchSize
    if (!Number.isSafeInteger(sweepBatchSize) || sweepBatchSize < 1) {
      return yield* invalid("sweepBatchSize", `must be a positive integer, got ${JSON.stringify(sweepBatchSize)}`)
    }
    const maxSessions = yield* decodeCap("maxSessions", options.maxSessions ?? defaults.maxSessions)
    // an explicit maxSessions below a default cap lowers that cap with it
    const lowered = (fallback: number): Cap =>
      options.maxSessions !== undefined && maxSessions < fallback ? "unlimited" : fallback
    const maxAnonymousSessions = yield* decodeCap(
      "maxAnonymousSessions",
      options.maxAnonymousSessions ?? lowered(defaults.maxAnonymousSessions)
    )
    const maxSessionsPerPrincipal = yield* decodeCap(
      "maxSessionsPerPrincipal",
      options.maxSessionsPerPrincipal ?? lowered(defaults.maxSessionsPerPrincipal)
    )
    for (
      const [option, cap] of [["maxAnonymousSessions", maxAnonymousSessions], [
        "maxSessionsPerPrincipal",
        maxSessionsPerPrincipal
      ]] as const
    ) {
      if (Number.isFinite(cap) && cap > maxSessions) {
        return yield* invalid(option, `must not exceed maxSessions (${maxSessions}), got ${cap}`)
      }
    }
    const onLimit = options.onLimit ?? defaults.onLimit
    if (onLimit !== "evictLeastRecentlyUsed" && onLimit !== "refuse") {
      return yield* invalid("onLimit", `must be "evictLeastRecentlyUsed" or "refuse", got ${JSON.stringify(onLimit)}`)
    }
    const idleLimit = {
      anonymous: shortest(idleTimeout, cleanupAnonymousSessionTime),
      authenticated: shortest(idleTimeout, cleanupSessionTime)
    }
    const idle = { anonymous: millisOf(idleLimit.anonymous), authenticated: millisOf(idleLimit.authenticated) }
    const touchInterval = options.touchInterval === "always"
      ? Duration.zero
      : options.touchInterval === undefined
      ? Duration.millis(expiry.defaultTouchInterval(idle))
      : Option.getOrThrow(yield* duration("touchInterval", options.touchInterval, { off: false }))
    const policy = { idle, absolute: millisOf(absoluteLifetime), touchInterval: Duration.toMillis(touchInterval) }
    const problem = expiry.policyProblem(policy)
    if (problem !== undefined) return yield* invalid(problem.option, problem.reason)
    return {
      idleTimeout,
      absoluteLifetime,
      cleanupSessionTime,
      cleanupAnonymousSessionTime,
      idleLimit,
      sweepInterval,
      sweepBatchSize,
      releaseTimeout: Option.getOrThrow(releaseTimeout),
      authTimeout: Option.getOrThrow(authTimeout),
      touchInterval,
      policy,
      limits: {
        maxSessions,
        maxAnonymousSessions: Math.min(maxAnonymousSessions, maxSessions),
        maxSessionsPerPrincipal,
        onLimit
      }
    }
  })

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

/** @internal */
export const config: Config.Config<Options> = Config.all({
  idleTimeout: optionalString("IDLE_TIMEOUT"),
  absoluteLifetime: optionalString("ABSOLUTE_LIFETIME"),
  cleanupSessionTime: optionalString("CLEANUP_SESSION_TIME"),
  cleanupAnonymousSessionTime: optionalString("CLEANUP_ANONYMOUS_SESSION_TIME"),
  sweepInterval: optionalString("SWEEP_INTERVAL"),
  releaseTimeout: optionalString("RELEASE_TIMEOUT"),
  authTimeout: optionalString("AUTH_TIMEOUT"),
  touchInterval: optionalString("TOUCH_INTERVAL"),
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
