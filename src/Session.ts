/**
 * The session model: who it belongs to, when it was made and used, when it ends, and its data.
 *
 * Sessions are immutable values. Data is plain JSON keyed by name and read or written through a
 * `DataKey`, which pairs a name with a `Schema`, so every value is decoded on the way out and
 * encoded on the way in.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as codec from "./internal/codec.js"
import * as json from "./internal/json.js"
import { SessionDataError } from "./SessionError.js"
import * as SessionToken from "./SessionToken.js"

/**
 * A JSON value: what session data and principal attributes may hold.
 *
 * @since 0.1.0
 * @category models
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * Schema of a JSON value (used by stores that serialize sessions).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * console.log(Schema.is(Session.Json)({ cart: [1, "two", null] })) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.Number,
  Schema.String,
  Schema.Array(Schema.suspend((): Schema.Schema<Json> => Json)),
  Schema.Record({ key: Schema.String, value: Schema.suspend((): Schema.Schema<Json> => Json) })
)

/**
 * Who a session belongs to, as decided by the `AuthManager`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Principal {
  readonly id: string
  readonly anonymous: boolean
  readonly attributes?: { readonly [key: string]: Json }
}

/**
 * Schema of a `Principal`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * console.log(Schema.is(Session.Principal)({ id: "alice", anonymous: false })) // true
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Principal: Schema.Schema<Principal> = Schema.Struct({
  id: Schema.String,
  anonymous: Schema.Boolean,
  attributes: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Json }), { exact: true })
})

/**
 * The data of a session: JSON values by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Data = { readonly [key: string]: Json }

/**
 * A session. Times are epoch milliseconds read from `Clock`.
 *
 * - `key`: SHA-256 of the token (base64url); safe to log and index, useless as a cookie.
 * - `token`: the cookie value, present on sessions returned by `openSession`, `getSession` and
 *   `rotateSession`, absent on listings.
 * - `expiresAt`: the absolute end of life (`createdAt + absoluteLifetime`), `null` when the absolute
 *   lifetime is off. The idle limit is checked against `lastUsedAt`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly key: string
  readonly token?: Redacted.Redacted<string>
  readonly principal: Principal
  readonly createdAt: number
  readonly lastUsedAt: number
  readonly expiresAt: number | null
  readonly data: Data
}

/**
 * A session as stores hold it: without its token.
 *
 * @since 0.1.0
 * @category models
 */
export type Record = Omit<Session, "token">

/**
 * Schema of a stored session, for stores that serialize.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * const json = JSON.stringify(Schema.encodeSync(Session.Record)({
 *   key: "k", principal: { id: "alice", anonymous: false }, createdAt: 0, lastUsedAt: 0, expiresAt: null, data: {}
 * }))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Record: Schema.Schema<Record> = Schema.Struct({
  key: Schema.String,
  principal: Principal,
  createdAt: Schema.Number,
  lastUsedAt: Schema.Number,
  expiresAt: Schema.NullOr(Schema.Number),
  data: Schema.Record({ key: Schema.String, value: Json })
})

/**
 * A typed name for one session data value.
 *
 * @since 0.1.0
 * @category models
 */
export interface DataKey<A, I extends Json = Json> {
  readonly name: string
  readonly schema: Schema.Schema<A, I>
}

/**
 * Declares a typed session data entry. The schema's encoded side must be JSON.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * const Counter = Session.dataKey("counter", Schema.Number)
 * const Cart = Session.dataKey("cart", Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Int })))
 * console.log(Counter.name, Cart.name) // "counter" "cart"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const dataKey = <A, I extends Json>(name: string, schema: Schema.Schema<A, I>): DataKey<A, I> => ({
  name,
  schema
})

/**
 * Reads a data value from this session value (no store access; `SessionManager.getData` reads
 * the stored one). `None` when absent; `SessionDataError` when it does not decode.
 *
 * @example
 * ```ts
 * import { Effect, Option, Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * const Counter = Session.dataKey("counter", Schema.Number)
 * const session: Session.Session = {
 *   key: "k", principal: { id: "alice", anonymous: false },
 *   createdAt: 0, lastUsedAt: 0, expiresAt: null, data: { counter: 3 }
 * }
 * console.log(Effect.runSync(Session.get(session, Counter))) // { _id: "Option", _tag: "Some", value: 3 }
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const get = <A, I extends Json>(
  session: Pick<Session, "data">,
  key: DataKey<A, I>
): Effect.Effect<Option.Option<A>, SessionDataError> =>
  Object.prototype.hasOwnProperty.call(session.data, key.name)
    ? decode(key, session.data[key.name]).pipe(Effect.map(Option.some))
    : Effect.succeedNone

/**
 * Decodes a stored JSON value with a data key's schema.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * const Visits = Session.dataKey("visits", Schema.Number)
 * console.log(Effect.runSync(Session.decode(Visits, 3))) // 3
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const decode = <A, I extends Json>(key: DataKey<A, I>, value: unknown): Effect.Effect<A, SessionDataError> =>
  codec.decodeNow(key, value) ?? Effect.mapError(
    Schema.decodeUnknown(key.schema)(value),
    (cause) => new SessionDataError({ key: key.name, reason: "Decode", cause })
  )

/**
 * Encodes a value with a data key's schema into a fresh, plain JSON value (deep-copied, so later
 * changes to the caller's object never reach the store).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Session } from "effect-session"
 *
 * const Seen = Session.dataKey("seen", Schema.DateFromString)
 * console.log(Effect.runSync(Session.encode(Seen, new Date(0)))) // "1970-01-01T00:00:00.000Z"
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const encode = <A, I extends Json>(key: DataKey<A, I>, value: A): Effect.Effect<Json, SessionDataError> =>
  codec.encodeNow(key, value) ?? Effect.flatMap(
    Effect.mapError(
      Schema.encode(key.schema)(value),
      (cause) => new SessionDataError({ key: key.name, reason: "Encode", cause })
    ),
    (encoded) => codec.copied(key, encoded)
  )

/**
 * Whether the session belongs to an anonymous principal.
 *
 * @example
 * ```ts
 * import { Session } from "effect-session"
 *
 * console.log(Session.isAnonymous({ principal: { id: "anonymous", anonymous: true } })) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAnonymous = (session: Pick<Session, "principal">): boolean => session.principal.anonymous

/**
 * The short, loggable name of a session: a prefix of its key, never the token.
 *
 * @example
 * ```ts
 * import { Session } from "effect-session"
 *
 * console.log(Session.shortId({ key: "q1w2e3r4t5y6u7i8o9p0" })) // "q1w2e3r4t5y6"
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const shortId = (session: Pick<Session, "key">): string => SessionToken.shortId(session.key)

/**
 * Deep equality of two JSON values (used for conditional data updates).
 *
 * @example
 * ```ts
 * import { Session } from "effect-session"
 *
 * console.log(Session.jsonEquals({ a: [1, 2] }, { a: [1, 2] })) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const jsonEquals: (a: Json | undefined, b: Json | undefined) => boolean = json.jsonEquals
