/**
 * Decoding and encoding data values with a data key's schema, synchronously when the schema is
 * (almost always): no Effect per value on the request path. A schema with asynchronous steps
 * answers `undefined` here and runs as an effect (`Session.decode` / `Session.encode`).
 *
 * Depth is bounded before any schema runs: schemas recurse, and a hostile depth or a cycle would
 * overflow the stack (see `json.exceedsDepth`).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import type * as Session from "../Session.js"
import { SessionDataError } from "../SessionError.js"
import * as json from "./json.js"

const failed = (
  key: { readonly name: string },
  reason: "Decode" | "Encode",
  issue: ParseResult.ParseIssue
): Either.Either<never, SessionDataError> =>
  Either.left(new SessionDataError({ key: key.name, reason, cause: new ParseResult.ParseError({ issue }) }, true))

/** A stored value decoded, or why not; `undefined` when the schema must run as an effect. @internal */
export const decodeNow = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>,
  value: unknown
): Either.Either<A, SessionDataError> | undefined => {
  if (json.exceedsDepth(value)) return Either.left(new SessionDataError({ key: key.name, reason: "Decode" }, true))
  const result = ParseResult.decodeUnknownEither(key.schema)(value)
  if (Either.isRight(result)) return Either.right(result.right)
  return result.left._tag === "Forbidden" ? undefined : failed(key, "Decode", result.left)
}

/** A value's encoded side as a fresh, frozen JSON value (`copied`), or why not. @internal */
export const copied = (
  key: { readonly name: string },
  encoded: unknown
): Either.Either<Session.Json, SessionDataError> => {
  const copy = json.toJson(encoded)
  return copy === json.notJson
    ? Either.left(new SessionDataError({ key: key.name, reason: "NotJson" }, true))
    : Either.right(copy)
}

/** A value encoded and copied, or why not; `undefined` when the schema must run as an effect. @internal */
export const encodeNow = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>,
  value: A
): Either.Either<Session.Json, SessionDataError> | undefined => {
  if (json.exceedsDepth(value)) return Either.left(new SessionDataError({ key: key.name, reason: "NotJson" }, true))
  const result = ParseResult.encodeEither(key.schema)(value)
  if (Either.isRight(result)) return copied(key, result.right)
  return result.left._tag === "Forbidden" ? undefined : failed(key, "Encode", result.left)
}
