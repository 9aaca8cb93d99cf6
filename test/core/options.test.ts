import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Duration, Effect, Layer, Option } from "effect"
import { AuthManager, SessionError, SessionLive, SessionManager, SessionStore } from "effect-session"

const build = (
  layer: Layer.Layer<SessionManager.SessionManager, unknown, AuthManager.AuthManager | SessionStore.SessionStore>
) =>
  Effect.scoped(
    Layer.build(layer.pipe(Layer.provide(SessionStore.layerMemory), Layer.provide(AuthManager.layerMock())))
  )

const configError = (options: SessionManager.Options) => Effect.flip(SessionManager.validateOptions(options))

describe("options", () => {
  it.effect("defaults are the documented ones", () =>
    Effect.gen(function*() {
      const settings = yield* SessionManager.validateOptions()
      const millis = (d: Option.Option<Duration.Duration>) => Duration.toMillis(Option.getOrThrow(d))
      expect(millis(settings.idleTimeout)).toBe(30 * 60_000)
      expect(millis(settings.absoluteLifetime)).toBe(24 * 3_600_000)
      expect(millis(settings.cleanupSessionTime)).toBe(12 * 3_600_000)
      expect(millis(settings.cleanupAnonymousSessionTime)).toBe(2 * 60_000)
      expect(millis(settings.idleLimit.anonymous)).toBe(2 * 60_000)
      expect(millis(settings.idleLimit.authenticated)).toBe(30 * 60_000)
      expect(millis(settings.sweepInterval)).toBe(60_000)
      expect(Duration.toMillis(settings.releaseTimeout)).toBe(10_000)
      expect(Duration.toMillis(settings.authTimeout)).toBe(10_000)
      expect(settings.sweepBatchSize).toBe(1000)
      expect(settings.limits).toEqual({
        maxSessions: 1_000_000,
        maxAnonymousSessions: 100_000,
        maxSessionsPerPrincipal: 100,
        onLimit: "evictLeastRecentlyUsed"
      })
    }))

  it.effect("accepts every DurationInput form and \"off\"", () =>
    Effect.gen(function*() {
      const settings = yield* SessionManager.validateOptions({
        idleTimeout: "15 minutes",
        absoluteLifetime: Duration.hours(8),
        cleanupSessionTime: 3_600_000,
        cleanupAnonymousSessionTime: "off",
        sweepInterval: "off"
      })
      expect(Duration.toMillis(Option.getOrThrow(settings.idleTimeout))).toBe(900_000)
      expect(Duration.toMillis(Option.getOrThrow(settings.absoluteLifetime))).toBe(8 * 3_600_000)
      expect(Option.isNone(settings.cleanupAnonymousSessionTime)).toBe(true)
      expect(Duration.toMillis(Option.getOrThrow(settings.idleLimit.anonymous))).toBe(900_000)
      expect(Option.isNone(settings.sweepInterval)).toBe(true)
    }))

  const invalidDurations: Array<[string, SessionManager.Options, RegExp]> = [
    ["zero", { idleTimeout: 0 }, /idleTimeout: must be positive/],
    ["zero string", { absoluteLifetime: "0 seconds" }, /absoluteLifetime: must be positive/],
    ["negative", { idleTimeout: -5 }, /idleTimeout: must be a positive duration, got -5/],
    ["NaN", { cleanupSessionTime: NaN }, /cleanupSessionTime: must be a positive duration/],
    ["Infinity", { idleTimeout: Infinity }, /idleTimeout: must be finite; spell "no limit" as "off"/],
    ["infinite Duration", { absoluteLifetime: Duration.infinity }, /must be finite/],
    ["unparseable", { idleTimeout: "half an hour" as Duration.DurationInput }, /cannot parse "half an hour"/],
    ["off release timeout", { releaseTimeout: "off" as Duration.DurationInput }, /releaseTimeout: cannot be off/],
    ["off auth timeout", { authTimeout: "off" as Duration.DurationInput }, /authTimeout: cannot be off/],
    ["zero sweep interval", { sweepInterval: 0 }, /sweepInterval: must be positive/],
    [
      "every limit off",
      { idleTimeout: "off", absoluteLifetime: "off", cleanupSessionTime: "off", cleanupAnonymousSessionTime: "off" },
      /sessions would never expire/
    ]
  ]
  for (const [name, options, message] of invalidDurations) {
    it.effect(`rejects durations: ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* configError(options)
        expect(error._tag).toBe("SessionConfigError")
        expect(error.message).toMatch(message)
      }))
  }

  const invalidCaps: Array<[string, SessionManager.Options, RegExp]> = [
    ["zero cap", { maxSessions: 0 }, /maxSessions: must be a positive integer/],
    ["fractional cap", { maxAnonymousSessions: 1.5 }, /maxAnonymousSessions: must be a positive integer/],
    ["negative cap", { maxSessionsPerPrincipal: -1 }, /maxSessionsPerPrincipal/],
    [
      "string cap",
      { maxSessions: "many" as unknown as number },
      /maxSessions: must be a positive integer or "unlimited"/
    ],
    [
      "anonymous above total",
      { maxSessions: 10, maxAnonymousSessions: 20 },
      /maxAnonymousSessions: must not exceed maxSessions \(10\), got 20/
    ],
    [
      "per principal above total",
      { maxSessions: 10, maxSessionsPerPrincipal: 11 },
      /maxSessionsPerPrincipal: must not exceed maxSessions \(10\), got 11/
    ],
    ["batch size", { sweepBatchSize: 0 }, /sweepBatchSize: must be a positive integer/],
    ["policy", { onLimit: "drop" as "refuse" }, /onLimit: must be/]
  ]
  for (const [name, options, message] of invalidCaps) {
    it.effect(`rejects caps: ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* configError(options)
        expect(error.message).toMatch(message)
      }))
  }

  it.effect("a small maxSessions lowers the default anonymous cap with it", () =>
    Effect.gen(function*() {
      const settings = yield* SessionManager.validateOptions({ maxSessions: 50 })
      expect(settings.limits.maxAnonymousSessions).toBe(50)
    }))

  it.effect("an invalid option fails the layer build with a typed error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(build(SessionManager.layer({ idleTimeout: "0 minutes" })))
      expect(error).toMatchObject({ _tag: "SessionConfigError", option: "idleTimeout" })
    }))

  const refusedCombinations: Array<[string, SessionManager.Options, RegExp]> = [
    [
      "a touch interval of half the shortest idle limit (the anonymous 2 minutes)",
      { touchInterval: "1 minute" },
      /touchInterval: must be under half the shortest idle limit \(2m\), got 1m; idle expiry may come up/
    ],
    [
      "a touch interval longer than the idle limit",
      { idleTimeout: "10 minutes", touchInterval: "1 hour" },
      /touchInterval/
    ],
    ["a zero touch interval (spell it \"always\")", { touchInterval: 0 }, /touchInterval: must be positive/],
    ["an \"off\" touch interval", { touchInterval: "off" as "always" }, /touchInterval: cannot be off/]
  ]
  for (const [name, options, message] of refusedCombinations) {
    it.effect(`refuses combinations that cannot work: ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(build(SessionManager.layer(options)))
        expect(error).toBeInstanceOf(SessionError.SessionConfigError)
        expect((error as SessionError.SessionConfigError).message).toMatch(message)
      }))
  }

  it.effect("a store that cannot honour the policy (its own TTLs) fails the layer build", () =>
    Effect.gen(function*() {
      const seen: Array<SessionStore.Policy> = []
      const strict = Layer.effect(
        SessionStore.SessionStore,
        Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => ({
          ...inner,
          validatePolicy: (policy) => {
            seen.push(policy)
            return policy.idle.authenticated > 60 * 60_000
              ? Effect.fail(
                new SessionError.SessionConfigError({ option: "maxIdleTtl", reason: "below the idle limit" })
              )
              : Effect.void
          }
        }))
      )
      const built = (options: SessionManager.Options) =>
        Effect.scoped(
          Layer.build(SessionManager.layer(options).pipe(Layer.provide(strict), Layer.provide(AuthManager.layerMock())))
        )
      yield* built({})
      expect(seen[0]).toEqual({
        idle: { anonymous: 2 * 60_000, authenticated: 30 * 60_000 },
        absolute: 24 * 3_600_000,
        touchInterval: 12_000
      })
      const error = yield* Effect.flip(built({ idleTimeout: "2 hours", cleanupSessionTime: "off" }))
      expect(error).toMatchObject({ _tag: "SessionConfigError", option: "maxIdleTtl" })
    }))

  it.effect("SessionLive builds with defaults and needs only an AuthManager", () =>
    Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      expect(manager.settings.limits.maxSessions).toBe(1_000_000)
    }).pipe(Effect.provide(SessionLive.pipe(Layer.provide(AuthManager.layerMock())))))
})

describe("layerConfig", () => {
  const fromEnv = (env: Record<string, string>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
    Effect.withConfigProvider(self, ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

  it.effect("reads SESSION_* variables, durations and \"off\" included", () =>
    Effect.gen(function*() {
      const manager = Context.get(yield* build(SessionManager.layerConfig()), SessionManager.SessionManager)
      expect(Duration.toMillis(Option.getOrThrow(manager.settings.idleTimeout))).toBe(15 * 60_000)
      expect(Option.isNone(manager.settings.absoluteLifetime)).toBe(true)
      expect(manager.settings.limits.maxSessions).toBe(500)
      expect(manager.settings.limits.maxSessionsPerPrincipal).toBe(Infinity)
      expect(manager.settings.limits.onLimit).toBe("refuse")
      expect(manager.settings.policy.touchInterval).toBe(0)
    }).pipe(fromEnv({
      SESSION_IDLE_TIMEOUT: "15 minutes",
      SESSION_ABSOLUTE_LIFETIME: "off",
      SESSION_MAX_SESSIONS: "500",
      SESSION_MAX_SESSIONS_PER_PRINCIPAL: "unlimited",
      SESSION_ON_LIMIT: "refuse",
      SESSION_TOUCH_INTERVAL: "always"
    })))

  it.effect("an invalid duration is a SessionConfigError, an unreadable number a ConfigError", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(
        build(SessionManager.layerConfig()).pipe(fromEnv({ SESSION_IDLE_TIMEOUT: "0 seconds" }))
      )
      expect(zero).toMatchObject({ _tag: "SessionConfigError", option: "idleTimeout" })
      const word = yield* Effect.flip(
        build(SessionManager.layerConfig()).pipe(fromEnv({ SESSION_MAX_SESSIONS: "lots" }))
      )
      expect(word).toMatchObject({ _op: "InvalidData" })
    }))
})
