/**
 * Option decoding shared by the manager and the stores: one rule for durations, one for integer
 * options, one for the options read through `Config`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { SessionConfigError } from "../SessionError.js"

/** A configuration error (built without re-validating its fields). @internal */
export const invalid = (option: string, reason: string): SessionConfigError =>
  new SessionConfigError({ option, reason }, true)

/** An integer option within bounds, or a typed error naming the option. @internal */
export const integerIn = (
  option: string,
  value: number,
  min: number,
  max: number
): Either.Either<number, SessionConfigError> =>
  Number.isSafeInteger(value) && value >= min && value <= max
    ? Either.right(value)
    : Either.left(invalid(option, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`))

/**
 * Decodes a duration option: a positive, finite duration, or `"off"` (`None`) where `off` is
 * allowed. `0`, negative, non-finite and unparseable values are refused with a message that says
 * how to spell "no limit": a limit is never silently off.
 *
 * @internal
 */
export const duration = (
  option: string,
  value: unknown,
  options: { readonly off: boolean }
): Either.Either<Option.Option<Duration.Duration>, SessionConfigError> => {
  if (value === "off") {
    return options.off ? Either.right(Option.none()) : Either.left(invalid(option, "cannot be off"))
  }
  if ((typeof value === "number" && (Number.isNaN(value) || value < 0)) || (typeof value === "bigint" && value < 0)) {
    return Either.left(invalid(option, `must be a positive duration, got ${value}`))
  }
  const decoded = Duration.decodeUnknown(value)
  if (Option.isNone(decoded)) {
    return Either.left(
      invalid(option, `cannot parse ${JSON.stringify(String(value))} as a duration (e.g. "30 minutes", or "off")`)
    )
  }
  if (!Duration.isFinite(decoded.value)) {
    return Either.left(invalid(option, `must be finite; spell "no limit" as "off"`))
  }
  if (Duration.toMillis(decoded.value) <= 0) {
    return Either.left(
      invalid(option, `must be positive, got ${Duration.format(decoded.value)}; spell "no limit" as "off"`)
    )
  }
  return Either.right(decoded)
}

/** A duration option in milliseconds (`Infinity` for `"off"`, where allowed). @internal */
export const millis = (
  option: string,
  value: unknown,
  options: { readonly off: boolean }
): Either.Either<number, SessionConfigError> =>
  Either.map(duration(option, value, options), Option.match({ onNone: () => Infinity, onSome: Duration.toMillis }))

/**
 * Options read through `Config`, keeping only those that were given: with
 * `exactOptionalPropertyTypes` an absent option must be absent, not `undefined`. Values are left as
 * read; the layer validates them, with the same typed errors as options given in code.
 *
 * @internal
 */
export const givenOptions = <Options>(raw: { readonly [name: string]: unknown }): Options => {
  const options: { [name: string]: unknown } = {}
  for (const [name, value] of Object.entries(raw)) if (value !== undefined) options[name] = value
  return options as Options
}
