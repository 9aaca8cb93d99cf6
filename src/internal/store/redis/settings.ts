/**
 * Options of the Redis store, their defaults and their validation.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { ClusterOptions, RedisOptions } from "ioredis"
import { SessionConfigError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { integerIn } from "../../config.js"
import { basesOf, MAX_BUCKETS } from "./buckets.js"

/** @internal */
export interface StoreOptions {
  readonly prefix?: string
  readonly commandTimeout?: Duration.DurationInput
  readonly maxIdleTtl?: Duration.DurationInput | "off"
  readonly expiryGrace?: Duration.DurationInput
  readonly scanCount?: number
  readonly buckets?: number
}

/** @internal */
export interface Options extends StoreOptions {
  readonly url?: string | Redacted.Redacted<string>
  readonly nodes?: ReadonlyArray<string | Redacted.Redacted<string>>
  readonly connectTimeout?: Duration.DurationInput
  readonly autoPipelining?: boolean
  readonly redis?: RedisOptions
  readonly cluster?: ClusterOptions
}

/** @internal */
export const defaults = {
  prefix: "effect-session",
  commandTimeout: "2 seconds",
  connectTimeout: "5 seconds",
  maxIdleTtl: "30 days",
  expiryGrace: "1 day",
  scanCount: 1000,
  buckets: 1,
  clusterBuckets: 16
} as const

/** @internal */
export interface Settings {
  readonly prefix: string
  /** The key base of each slot bucket (`{prefix}:` for one bucket: see buckets.ts). */
  readonly bases: ReadonlyArray<string>
  /** `{prefix}:`: the single-slot layout (0.1.0's), which a store of several buckets drains. */
  readonly legacyBase: string
  readonly commandTimeout: number
  readonly maxIdleTtl: number
  readonly expiryGrace: number
  readonly scanCount: number
}

const PREFIX = /^[A-Za-z0-9_.:-]{1,100}$/

/** @internal */
export const duration = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Either.Either<number, SessionConfigError> => {
  const value = input ?? fallback
  const decoded = typeof value === "number" && (Number.isNaN(value) || value <= 0)
    ? Option.none()
    : Duration.decodeUnknown(value)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
    return Either.left(
      new SessionConfigError({ option, reason: `must be a positive, finite duration, got ${String(value)}` })
    )
  }
  return Either.right(Duration.toMillis(decoded.value))
}

/** @internal */
export const validate = (
  options: StoreOptions,
  cluster: boolean
): Effect.Effect<Settings, SessionConfigError> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? defaults.prefix
    if (!PREFIX.test(prefix)) {
      return yield* new SessionConfigError({
        option: "prefix",
        reason: `must be 1 to 100 characters among A-Z a-z 0-9 _ . : -, got ${JSON.stringify(prefix)}`
      })
    }
    const commandTimeout = yield* duration("commandTimeout", options.commandTimeout, defaults.commandTimeout)
    const maxIdleTtl = options.maxIdleTtl === "off"
      ? Infinity
      : yield* duration("maxIdleTtl", options.maxIdleTtl, defaults.maxIdleTtl)
    const expiryGrace = yield* duration("expiryGrace", options.expiryGrace, defaults.expiryGrace)
    const scanCount = yield* integerIn("scanCount", options.scanCount ?? defaults.scanCount, 1, 100_000)
    const buckets = yield* integerIn(
      "buckets",
      options.buckets ?? (cluster ? defaults.clusterBuckets : defaults.buckets),
      1,
      MAX_BUCKETS
    )
    return {
      prefix,
      bases: basesOf(prefix, buckets),
      legacyBase: `{${prefix}}:`,
      commandTimeout,
      maxIdleTtl,
      expiryGrace,
      scanCount
    }
  })

const human = (ms: number) => Duration.format(Duration.millis(ms))

/**
 * Refuses a manager policy the safety-net TTL would contradict: a record lives at most
 * `maxIdleTtl` after its last write (a touch or an update), so every idle limit must be shorter,
 * with room for the sweep to claim the session first; with an idle limit off, a finite
 * `maxIdleTtl` would delete live sessions.
 *
 * @internal
 */
export const validatePolicy = (
  settings: Settings,
  policy: SessionStore.Policy
): Effect.Effect<void, SessionConfigError> => {
  if (settings.maxIdleTtl === Infinity) return Effect.void
  const longest = Math.max(policy.idle.anonymous, policy.idle.authenticated)
  if (longest === Infinity) {
    return Effect.fail(
      new SessionConfigError({
        option: "maxIdleTtl",
        reason: `is ${
          human(settings.maxIdleTtl)
        }, but a kind of session has no idle limit: Redis would delete it after that long unused; set maxIdleTtl: "off" or an idle limit`
      })
    )
  }
  if (settings.maxIdleTtl <= longest) {
    return Effect.fail(
      new SessionConfigError({
        option: "maxIdleTtl",
        reason: `is ${human(settings.maxIdleTtl)}, not above the longest idle limit (${
          human(longest)
        }): Redis would delete sessions that are still live`
      })
    )
  }
  return Effect.void
}
