/**
 * Every way a session operation can fail, as distinct typed values.
 *
 * Each error is a `Schema.TaggedError` whose `_tag` is its class name and which carries an HTTP
 * status annotation, so it can be declared on `HttpApi` endpoints and serialized as it is. None of
 * them ever holds a raw token: sessions are named by `sessionId`, a short prefix of the session key
 * (itself a SHA-256 of the token).
 *
 * @since 0.1.0
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/**
 * The request carries no acceptable credentials: the user must log in (HTTP 401).
 *
 * Raised by `AuthManager.authenticate`; `SessionManager.openSession` propagates it unchanged and
 * stores nothing.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.ExplicitLogin({ message: "password required" })
 * console.log(error._tag) // "ExplicitLogin"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ExplicitLogin extends Schema.TaggedError<ExplicitLogin>()(
  "ExplicitLogin",
  {
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 401 })
) {}

/**
 * Why closing a session failed: `Failed` (the auth manager's `release` failed), `Timeout` (it did
 * not finish within `releaseTimeout`) or `Defect` (it threw or died).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionError } from "effect-session"
 *
 * console.log(Schema.is(SessionError.CloseFailure)("Timeout")) // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const CloseFailure = Schema.Literal("Failed", "Timeout", "Defect")

/**
 * Releasing what a session held failed (HTTP 500). The session is removed all the same: a failed
 * close never leaves a usable session behind.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.SessionCloseError({ sessionId: "q1w2e3r4t5y6", reason: "Timeout" })
 * console.log(error.message) // "Closing session q1w2e3r4t5y6 failed: Timeout"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionCloseError extends Schema.TaggedError<SessionCloseError>()(
  "SessionCloseError",
  {
    sessionId: Schema.String,
    reason: CloseFailure,
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 500 })
) {
  get message(): string {
    return `Closing session ${this.sessionId} failed: ${this.reason}`
  }
}

/**
 * Why a token was refused: `Malformed` (not a token this library could have minted; the store was
 * not consulted), `Unknown` (no such session: never minted, closed or rotated away), `Expired`
 * (see `limit`), `Rejected` (the auth manager's `validateSession` refused it) or `Revoked` (its
 * principal's sessions were closed by `SessionManager.closeAllOf`, "log out everywhere"), or
 * `Ambiguous` (the request carried the session cookie more than once, e.g. one tossed by a
 * subdomain: none is picked; see `HttpSession`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionError } from "effect-session"
 *
 * console.log(Schema.is(SessionError.InvalidReason)("Expired")) // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const InvalidReason = Schema.Literal("Malformed", "Unknown", "Expired", "Rejected", "Revoked", "Ambiguous")

/**
 * Which limit an expired session hit: `Idle` (no use for longer than its idle limit) or `Absolute`
 * (older than `absoluteLifetime`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionError } from "effect-session"
 *
 * console.log(Schema.is(SessionError.ExpiryLimit)("Absolute")) // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const ExpiryLimit = Schema.Literal("Idle", "Absolute")

/**
 * The token does not name a live session (HTTP 401).
 *
 * For `Expired`, `Rejected` and `Revoked` the session has been closed before this error is returned; if its
 * release failed, that failure travels along in `closeError` instead of being dropped.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.InvalidSession({ reason: "Expired", limit: "Idle", sessionId: "q1w2e3r4t5y6" })
 * console.log(error.message) // "Invalid session q1w2e3r4t5y6: Expired (Idle)"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSession extends Schema.TaggedError<InvalidSession>()(
  "InvalidSession",
  {
    reason: InvalidReason,
    limit: Schema.optional(ExpiryLimit),
    sessionId: Schema.optional(Schema.String),
    closeError: Schema.optional(SessionCloseError),
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 401 })
) {
  get message(): string {
    const limit = this.limit === undefined ? "" : ` (${this.limit})`
    return `Invalid session${this.sessionId === undefined ? "" : ` ${this.sessionId}`}: ${this.reason}${limit}`
  }
}

/**
 * What went wrong in the store: `Unavailable` (unreachable or refusing), `Timeout` (no answer in
 * time), `Corrupt` (a stored value that does not decode; the entry is removed) or `Conflict` (an
 * atomic write lost to a concurrent one more often than the retry budget allows, or a key
 * collision).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionError } from "effect-session"
 *
 * console.log(Schema.is(SessionError.StoreFailure)("Unavailable")) // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const StoreFailure = Schema.Literal("Unavailable", "Timeout", "Corrupt", "Conflict")

/**
 * The session store failed (HTTP 503). Never reported as "no session": callers must fail closed
 * and must not clear the client's cookie.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.SessionStoreError({ reason: "Unavailable", operation: "get" })
 * console.log(error.message) // "Session store get failed: Unavailable"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionStoreError extends Schema.TaggedError<SessionStoreError>()(
  "SessionStoreError",
  {
    reason: StoreFailure,
    operation: Schema.String,
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 503 })
) {
  get message(): string {
    return `Session store ${this.operation} failed: ${this.reason}`
  }
}

/**
 * The cap that refused a new session (see `SessionManager.Options`).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionError } from "effect-session"
 *
 * console.log(Schema.is(SessionError.LimitName)("maxSessions")) // true
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const LimitName = Schema.Literal("maxSessions", "maxAnonymousSessions", "maxSessionsPerPrincipal")

/**
 * A session cap is reached and the policy is to refuse rather than evict (HTTP 503). Also raised
 * under the eviction policy when an anonymous session would need an authenticated one evicted.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.SessionLimitError({ limit: "maxAnonymousSessions", max: 1000 })
 * console.log(error.message) // "Session limit reached: maxAnonymousSessions = 1000"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionLimitError extends Schema.TaggedError<SessionLimitError>()(
  "SessionLimitError",
  {
    limit: LimitName,
    max: Schema.Number
  },
  HttpApiSchema.annotations({ status: 503 })
) {
  get message(): string {
    return `Session limit reached: ${this.limit} = ${this.max}`
  }
}

/**
 * A session data value failed its schema: `Decode` when reading what is stored, `Encode` when
 * writing, `NotJson` when the encoded value is not plain JSON (HTTP 500).
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.SessionDataError({ key: "cart", reason: "Decode" })
 * console.log(error.message) // "Session data \"cart\": Decode failed"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionDataError extends Schema.TaggedError<SessionDataError>()(
  "SessionDataError",
  {
    key: Schema.String,
    reason: Schema.Literal("Decode", "Encode", "NotJson"),
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 500 })
) {
  get message(): string {
    return `Session data ${JSON.stringify(this.key)}: ${this.reason} failed`
  }
}

/**
 * The authentication manager itself failed: its `authenticate` or `validateSession` died (threw),
 * did not answer within `authTimeout` (`Timeout`), or answered something that breaks the data rules
 * (`Invalid`: a principal or a replacement session holding a value that is not JSON, such as a
 * `Date` or a `BigInt`, or times that are not numbers; `cause` is the `SessionDataError` naming the
 * part) (HTTP 503). Distinct from `ExplicitLogin` and `InvalidSession`: nobody is logged out
 * because the auth backend is down or broken, a late answer after the timeout is discarded (it
 * never opens a session), and an invalid answer never reaches the store.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.AuthManagerError({ operation: "authenticate", reason: "Timeout" })
 * console.log(error.message) // "Auth manager authenticate failed: Timeout"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthManagerError extends Schema.TaggedError<AuthManagerError>()(
  "AuthManagerError",
  {
    operation: Schema.Literal("authenticate", "validateSession"),
    reason: Schema.Literal("Timeout", "Defect", "Invalid"),
    cause: Schema.optional(Schema.Defect)
  },
  HttpApiSchema.annotations({ status: 503 })
) {
  get message(): string {
    return `Auth manager ${this.operation} failed: ${this.reason}`
  }
}

/**
 * An option given to a layer is invalid: zero, negative, non-finite or unparseable durations,
 * caps that are not positive integers or contradict each other. Raised when the layer is built,
 * never later.
 *
 * @example
 * ```ts
 * import { SessionError } from "effect-session"
 *
 * const error = new SessionError.SessionConfigError({ option: "idleTimeout", reason: "must be positive" })
 * console.log(error.message) // "Invalid session option idleTimeout: must be positive"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class SessionConfigError extends Schema.TaggedError<SessionConfigError>()(
  "SessionConfigError",
  {
    option: Schema.String,
    reason: Schema.String
  }
) {
  get message(): string {
    return `Invalid session option ${this.option}: ${this.reason}`
  }
}
