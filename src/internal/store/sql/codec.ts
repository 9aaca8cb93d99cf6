/**
 * Rows to records and back.
 *
 * - Session data and principal attributes are stored as JSON text. `JSON.stringify` writes a NUL
 *   character as the escape `\u0000`, so the text holds no NUL byte and PostgreSQL's `text` takes
 *   it; `JSON.parse` gives it back. (PostgreSQL's `jsonb` rejects `\u0000` even escaped, which is
 *   why data is not `jsonb`: patches are compare-and-set on the row's version instead.)
 * - Session keys and principal ids are stored escaped: `\` becomes `\\` and NUL becomes `\0`. The
 *   escape is injective, leaves ordinary ids unchanged, and lets PostgreSQL index ids holding NUL.
 * - Records handed out are deep-frozen.
 *
 * @internal
 */
import type * as Session from "../../../Session.js"

/** The columns every read selects, in this order. @internal */
export const COLUMNS = "key, id, principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, lru"

/** A row as read: what `COLUMNS` selects. @internal */
export interface Row {
  readonly key: string
  readonly id: string | number
  readonly principal_id: string
  readonly anonymous: boolean | number
  readonly attributes: string | null
  readonly created_at: number
  readonly last_used_at: number
  readonly expires_at: number | null
  readonly data: string
  readonly lru: string | number
}

/** A decoded row: the record, with the row's identity (`id`, stable across rekeys) and version (`lru`). @internal */
export interface Stored {
  readonly record: Session.Record
  readonly id: string | number
  readonly lru: string | number
}

const ESCAPED = /[\\\0]/g

/** Escapes `\` and NUL (injective; ordinary ids pass unchanged). @internal */
export const escapeId = (id: string): string =>
  id.indexOf("\\") === -1 && id.indexOf("\0") === -1 ? id : id.replace(ESCAPED, (c) => c === "\\" ? "\\\\" : "\\0")

const UNESCAPED = /\\([\\0])/g

/** The inverse of `escapeId`. @internal */
export const unescapeId = (stored: string): string =>
  stored.indexOf("\\") === -1 ? stored : stored.replace(UNESCAPED, (_, c: string) => c === "0" ? "\0" : "\\")

/** Freezes a freshly parsed JSON value in place, deeply. @internal */
export const freezeJson = <A>(value: A): A => {
  if (value !== null && typeof value === "object") {
    if (Array.isArray(value)) {
      for (const item of value) freezeJson(item)
    } else {
      for (const name of Object.keys(value)) freezeJson((value as { readonly [key: string]: unknown })[name])
    }
    Object.freeze(value)
  }
  return value
}

const isObject = (value: unknown): value is { readonly [key: string]: Session.Json } =>
  value !== null && typeof value === "object" && !Array.isArray(value)

/**
 * Decodes a row, or answers why it cannot be (a row written by hand, or by another format).
 * `JSON.parse` keeps keys such as `__proto__` as plain own data.
 *
 * @internal
 */
export const decode = (row: Row): Stored | string => {
  let data: unknown
  let attributes: unknown
  try {
    data = JSON.parse(row.data)
    attributes = row.attributes === null ? undefined : JSON.parse(row.attributes)
  } catch {
    return "data or attributes are not JSON"
  }
  if (!isObject(data) || (attributes !== undefined && !isObject(attributes))) {
    return "data or attributes are not objects"
  }
  const createdAt = Number(row.created_at)
  const lastUsedAt = Number(row.last_used_at)
  const expiresAt = row.expires_at === null ? null : Number(row.expires_at)
  if (
    !Number.isFinite(createdAt) || !Number.isFinite(lastUsedAt) || (expiresAt !== null && !Number.isFinite(expiresAt))
  ) {
    return "times are not finite numbers"
  }
  const id = unescapeId(row.principal_id)
  const anonymous = row.anonymous === true || row.anonymous === 1
  const principal: Session.Principal = attributes === undefined
    ? Object.freeze({ id, anonymous })
    : Object.freeze({ id, anonymous, attributes: freezeJson(attributes) })
  return {
    record: Object.freeze({
      key: unescapeId(row.key),
      principal,
      createdAt,
      lastUsedAt,
      expiresAt,
      data: freezeJson(data)
    }),
    id: row.id,
    lru: row.lru
  }
}

/** The parameters of a record's columns, as `insert` and `rekey` write them. @internal */
export interface Encoded {
  readonly key: string
  readonly principal_id: string
  readonly anonymous: number
  readonly attributes: string | null
  readonly created_at: number
  readonly last_used_at: number
  readonly expires_at: number | null
  readonly data: string
}

/** @internal */
export const encode = (record: Session.Record): Encoded => ({
  key: escapeId(record.key),
  principal_id: escapeId(record.principal.id),
  // 1 / 0: SQLite has no boolean parameters, and PostgreSQL reads '1' and '0' as booleans
  anonymous: record.principal.anonymous ? 1 : 0,
  attributes: record.principal.attributes === undefined ? null : JSON.stringify(record.principal.attributes),
  created_at: record.createdAt,
  last_used_at: record.lastUsedAt,
  expires_at: record.expiresAt,
  data: JSON.stringify(record.data)
})

/** The named keys of `data`, those it holds. @internal */
export const kept = (data: Session.Data, names: ReadonlyArray<string>): Session.Data => {
  const result: { [key: string]: Session.Json } = {}
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(data, name)) {
      Object.defineProperty(result, name, { value: data[name], enumerable: true, writable: true, configurable: true })
    }
  }
  return result
}

/** The data after a patch (`set` values defined as own properties, so `__proto__` stays data). @internal */
export const patched = (
  data: Session.Data,
  patch: { readonly set?: ReadonlyArray<readonly [string, Session.Json]>; readonly remove?: ReadonlyArray<string> }
): Session.Data => {
  const next: { [key: string]: Session.Json } = {}
  for (const name of Object.keys(data)) {
    Object.defineProperty(next, name, { value: data[name], enumerable: true, writable: true, configurable: true })
  }
  for (const name of patch.remove ?? []) delete next[name]
  for (const [name, value] of patch.set ?? []) {
    Object.defineProperty(next, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return next
}
