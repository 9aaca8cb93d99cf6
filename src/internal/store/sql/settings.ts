/**
 * Options of the SQL store, their defaults and their validation (the table prefix is checked here
 * once: it is the only option that reaches SQL text).
 *
 * @internal
 */
import * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { SessionConfigError } from "../../../SessionError.js"
import * as config from "../../config.js"

/** @internal */
export interface StoreOptions {
  readonly prefix?: string
  readonly timeout?: Duration.DurationInput
  readonly migrate?: boolean
  readonly sweepBatchSize?: number
}

/** @internal */
export const defaults = {
  prefix: "effect_",
  timeout: "5 seconds",
  migrate: true,
  sweepBatchSize: 200
} as const

/** The names of the store's tables and objects, derived from the prefix. @internal */
export interface Names {
  readonly prefix: string
  readonly sessions: string
  readonly links: string
  readonly counts: string
  readonly principals: string
  readonly migrations: string
  readonly sequence: string
}

/** @internal */
export interface Settings {
  readonly names: Names
  readonly timeout: number
  readonly migrate: boolean
  readonly sweepBatchSize: number
}

/**
 * Lower-case letters, digits and `_`, starting with a letter or `_`, at most 32 characters: every
 * name built from it is a plain SQL identifier (no quoting, no case folding surprises) within
 * PostgreSQL's 63-byte limit.
 */
const PREFIX = /^[a-z_][a-z0-9_]{0,31}$/

/** @internal */
export const namesOf = (prefix: string): Names => ({
  prefix,
  sessions: `${prefix}sessions`,
  links: `${prefix}session_links`,
  counts: `${prefix}session_counts`,
  principals: `${prefix}session_principals`,
  migrations: `${prefix}session_migrations`,
  sequence: `${prefix}session_seq`
})

/** @internal */
export const validatePrefix = (prefix: string): Effect.Effect<Names, SessionConfigError> =>
  typeof prefix === "string" && PREFIX.test(prefix)
    ? Effect.succeed(namesOf(prefix))
    : Effect.fail(
      new SessionConfigError({
        option: "prefix",
        reason: `must be 1 to 32 characters among a-z 0-9 _, not starting with a digit, got ${JSON.stringify(prefix)}`
      })
    )

/** A positive, finite duration in milliseconds (the shared rule), or a typed error naming the option. @internal */
export const millis = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.DurationInput
): Effect.Effect<number, SessionConfigError> =>
  Effect.map(config.millis(option, input ?? fallback, { off: false }), Math.ceil)

/** An integer option within bounds, or a typed error naming the option (internal/config.ts). @internal */
export const integerIn = (
  option: string,
  value: number,
  min: number,
  max: number
): Effect.Effect<number, SessionConfigError> => config.integerIn(option, value, min, max)

/** @internal */
export const validate = (options: StoreOptions): Effect.Effect<Settings, SessionConfigError> =>
  Effect.gen(function*() {
    const names = yield* validatePrefix(options.prefix ?? defaults.prefix)
    const timeout = yield* millis("timeout", options.timeout, defaults.timeout)
    const sweepBatchSize = yield* integerIn(
      "sweepBatchSize",
      options.sweepBatchSize ?? defaults.sweepBatchSize,
      1,
      10_000
    )
    return { names, timeout, migrate: options.migrate ?? defaults.migrate, sweepBatchSize }
  })

/** The advisory lock of a store on PostgreSQL: a class for effect-session, and the prefix's hash. @internal */
export const lockKeys = (names: Names): readonly [number, number] => {
  let hash = 0x811c9dc5
  for (let i = 0; i < names.prefix.length; i++) {
    hash = Math.imul(hash ^ names.prefix.charCodeAt(i), 0x01000193)
  }
  return [0x65536573, hash | 0]
}

const optional = <A>(c: Config.Config<A>) => Config.option(c).pipe(Config.map(Option.getOrUndefined))

/**
 * The store options read through `Config`: `SESSION_SQL_PREFIX`, `SESSION_SQL_TIMEOUT` (a duration
 * such as `2 seconds`), `SESSION_SQL_MIGRATE` (`true` / `false`), `SESSION_SQL_SWEEP_BATCH_SIZE`.
 * Values are checked when the layer is built, with the same typed errors as options in code.
 *
 * @internal
 */
export const storeConfig: Config.Config<StoreOptions> = Config.all({
  prefix: optional(Config.string("SESSION_SQL_PREFIX")),
  timeout: optional(Config.string("SESSION_SQL_TIMEOUT")),
  migrate: optional(Config.boolean("SESSION_SQL_MIGRATE")),
  sweepBatchSize: optional(Config.integer("SESSION_SQL_SWEEP_BATCH_SIZE"))
}).pipe(Config.map(config.givenOptions<StoreOptions>))
