/**
 * Records to hash fields (writes) and back from the scripts' JSON replies (reads). A reply is
 * parsed once (`JSON.parse`), checked, and frozen in place: records handed out cannot be changed.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Session from "../../../Session.js"
import type * as SessionStore from "../../../SessionStore.js"
import { FORMAT_VERSION } from "./lua.js"

/** The prefix of data fields in a record hash. @internal */
export const DATA = "d:"

const isPrincipal = Schema.is(Session.Principal)

/** JSON text with object keys sorted: equal JSON values have equal text, so Lua compares strings. @internal */
export const canonical = (value: Session.Json): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const object = value as { readonly [key: string]: Session.Json }
  return `{${Object.keys(object).sort().map((key) => `${JSON.stringify(key)}:${canonical(object[key])}`).join(",")}}`
}

/** A number as a script argument (`+inf` / `-inf` for infinities). @internal */
export const numberArg = (n: number): string => n === Infinity ? "+inf" : n === -Infinity ? "-inf" : String(n)

/** A cutoff as script arguments: now, idleBefore anonymous, idleBefore authenticated. @internal */
export const cutoffArgs = (cutoff: SessionStore.Cutoff): Array<string> => [
  numberArg(cutoff.now),
  numberArg(cutoff.idleBefore.anonymous),
  numberArg(cutoff.idleBefore.authenticated)
]

/** @internal */
export const principalFields = (principal: Session.Principal): Either.Either<Array<string>, string> => {
  if (!isPrincipal(principal)) return Either.left("principal is not valid")
  return Either.right(["pid", principal.id, "anon", principal.anonymous ? "1" : "0", "p", JSON.stringify(principal)])
}

/** @internal */
export const dataFields = (data: Session.Data): Array<string> => {
  const fields: Array<string> = []
  for (const name of Object.keys(data)) fields.push(DATA + name, canonical(data[name]))
  return fields
}

const finite = (n: number) => Number.isFinite(n)

/** The hash fields of a record. @internal */
export const encodeRecord = (record: Session.Record): Either.Either<Array<string>, string> =>
  Either.flatMap(principalFields(record.principal), (principal) => {
    const { createdAt, expiresAt, lastUsedAt } = record
    if (!finite(createdAt) || !finite(lastUsedAt) || (expiresAt !== null && !finite(expiresAt))) {
      return Either.left("times must be finite numbers")
    }
    return Either.right([
      "v",
      FORMAT_VERSION,
      ...principal,
      "c",
      String(createdAt),
      "u",
      String(lastUsedAt),
      "e",
      expiresAt === null ? "null" : String(expiresAt),
      ...dataFields(record.data)
    ])
  })

/** Freezes a parsed JSON value in place, deeply. */
const freeze = <A>(value: A): A => {
  if (value !== null && typeof value === "object") {
    for (const name in value) freeze((value as Record<string, unknown>)[name])
    Object.freeze(value)
  }
  return value
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)

interface Reply {
  readonly k: unknown
  readonly i: unknown
  readonly a: unknown
  readonly p: unknown
  readonly c: unknown
  readonly u: unknown
  readonly e: unknown
  readonly d: unknown
}

/**
 * A record from its JSON text starting at `from` (after a status letter), or why it is not one.
 * Never throws: a text too deep to parse or freeze is simply not a record.
 *
 * @internal
 */
export const decodeRecord = (text: string, from = 0): Session.Record | string => {
  let reply: Reply
  try {
    reply = JSON.parse(from === 0 ? text : text.slice(from)) as Reply
  } catch {
    return "not JSON"
  }
  if (!isObject(reply)) return "not a session record of this format"
  const { a, c, d, e, i, k, p, u } = reply
  if (
    typeof k !== "string" || typeof i !== "string" || (a !== 0 && a !== 1) || typeof c !== "number" ||
    typeof u !== "number" || (e !== null && typeof e !== "number") || !isObject(d)
  ) return "not a session record of this format"
  if (
    !isObject(p) || p.id !== i || p.anonymous !== (a === 1) ||
    (p.attributes !== undefined && !isObject(p.attributes))
  ) {
    return "principal does not match its index fields"
  }
  for (const name of Object.keys(p)) {
    if (name !== "id" && name !== "anonymous" && name !== "attributes") return "principal does not decode"
  }
  try {
    return Object.freeze({
      key: k,
      principal: freeze(p) as unknown as Session.Principal,
      createdAt: c,
      lastUsedAt: u,
      expiresAt: e,
      data: freeze(d) as Session.Data
    })
  } catch {
    return "too deep"
  }
}
