/**
 * The session store contract, and the in-memory store that is the default.
 *
 * A store holds session records by key (the SHA-256 of the token, never the token). Every
 * operation is one atomic step: the manager builds its guarantees (release exactly once, no
 * logout undone, no revocation dodged, no lost update) on that atomicity alone. In particular:
 *
 * - `remove`, `revoke` and `claimExpired` hand each record to exactly one caller: whoever
 *   receives it runs its release.
 * - `touch`, `update` and `rekey` never bring back a removed record and never extend an expired
 *   or revoked one: they answer `Missing`, `Expired` or `Revoked` instead.
 * - `touch` writes only when due: a lookup whose touch is not due is a pure read.
 * - `rekey` leaves a link from the old key to the new one, and `remove` with `followRotations`
 *   follows it, so a logout presented with a rotated-away token closes what it became.
 * - `revoke` is complete: once it answers, no session the principal held (nor anything it is
 *   rotated or replaced into afterwards) is served again, whatever runs concurrently.
 * - `insert` and `rekey` enforce the caps atomically, so concurrent openings never overshoot them.
 * - Records handed out are frozen: mutating one throws and never changes the store.
 *
 * Every store passes the same contract suite (`test/contract/store-contract.ts`, run over each
 * store by `test/contract/*.test.ts`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as expiry from "./internal/expiry.js"
import * as internal from "./internal/store/memory.js"
import type * as Session from "./Session.js"
import type { SessionConfigError, SessionLimitError, SessionStoreError } from "./SessionError.js"

/**
 * The instant and idle horizons against which expiry is judged: a record is expired when
 * `expiresAt <= now`, or when its `lastUsedAt` is at or before the idle horizon of its kind
 * (`-Infinity` when that kind has no idle limit).
 *
 * @since 0.1.0
 * @category models
 */
export interface Cutoff {
  readonly now: number
  readonly idleBefore: { readonly anonymous: number; readonly authenticated: number }
}

/**
 * The expiry policy a manager runs with, in milliseconds (`Infinity`: off): the idle limit of
 * each kind, the absolute lifetime, and the touch interval (a lookup writes `lastUsedAt` only
 * when it would advance by at least this much). Given to `Service.validatePolicy` when the
 * manager is built, so a store whose own safety nets (TTLs) could contradict it refuses to start.
 *
 * @since 0.2.0
 * @category models
 */
export interface Policy {
  readonly idle: { readonly anonymous: number; readonly authenticated: number }
  readonly absolute: number
  readonly touchInterval: number
}

/**
 * Session caps (`Infinity` for none) and what to do when one is reached.
 *
 * At `maxSessions`, an opening evicts an anonymous session first; an authenticated opening then
 * evicts the least recently used authenticated session, but never another principal's while the
 * opening principal holds more than its fair share (`maxSessions` divided by the number of
 * principals holding sessions, itself included): it then evicts its own least recently used one.
 * Least recently used: the oldest `lastUsedAt`, ties (same millisecond) by order of use (the
 * session written longest ago goes first).
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly maxSessions: number
  readonly maxAnonymousSessions: number
  readonly maxSessionsPerPrincipal: number
  readonly onLimit: "evictLeastRecentlyUsed" | "refuse"
}

/**
 * No caps: what a store does when given `unlimited`.
 *
 * @example
 * ```ts
 * import { SessionStore } from "effect-session"
 *
 * console.log(SessionStore.unlimited.maxSessions) // Infinity
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const unlimited: Limits = {
  maxSessions: Infinity,
  maxAnonymousSessions: Infinity,
  maxSessionsPerPrincipal: Infinity,
  onLimit: "evictLeastRecentlyUsed"
}

/**
 * A per-key change of session data. `expect`, when given, makes the change conditional on the
 * current value of one key (`undefined`: absent); a mismatch answers `Conflict`.
 *
 * @since 0.1.0
 * @category models
 */
export interface DataPatch {
  readonly set?: ReadonlyArray<readonly [string, Session.Json]>
  readonly remove?: ReadonlyArray<string>
  readonly expect?: { readonly name: string; readonly value: Session.Json | undefined }
}

/**
 * The new identity of a session being rekeyed (rotation, login, replacement). Each field left out
 * carries over from the stored record; `lastUsedAt` becomes `cutoff.now`.
 *
 * - `data` replaces the data; otherwise `keep` keeps only the named keys of the stored data
 *   (read in the same atomic step); otherwise the data carries over.
 * - `linkUntil`: the old key stays a link to the new one until this instant (epoch
 *   milliseconds), so that `remove` with `followRotations` closes what the old token became.
 *   Stores keep the link at least until then and may drop it afterwards.
 *
 * The per-principal revocation mark carries over when the principal does not change, and is the
 * new principal's current one when it does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rekey {
  readonly key: string
  readonly principal?: Session.Principal
  readonly createdAt?: number
  readonly expiresAt?: number | null
  readonly data?: Session.Data
  readonly keep?: ReadonlyArray<string>
  readonly linkUntil?: number
}

/**
 * The outcome of `update`. `Revoked`: the record was revoked (`revoke`) and is still stored; the
 * caller removes it and runs its release, as for `Expired`.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteResult =
  | { readonly _tag: "Written"; readonly record: Session.Record }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Expired"; readonly record: Session.Record }
  | { readonly _tag: "Revoked"; readonly record: Session.Record }
  | { readonly _tag: "Conflict"; readonly record: Session.Record }

/**
 * The outcome of `touch`: `Written` when the touch was due and `lastUsedAt` is now `cutoff.now`,
 * `Read` when it was not (nothing was written), or why there is no live record.
 *
 * @since 0.2.0
 * @category models
 */
export type TouchResult =
  | { readonly _tag: "Written"; readonly record: Session.Record }
  | { readonly _tag: "Read"; readonly record: Session.Record }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Expired"; readonly record: Session.Record }
  | { readonly _tag: "Revoked"; readonly record: Session.Record }

/**
 * The outcome of `rekey`: the record now stored, the one it replaced, and the sessions evicted to
 * respect the caps (already removed: the caller releases them).
 *
 * @since 0.1.0
 * @category models
 */
export type RekeyResult =
  | {
    readonly _tag: "Rekeyed"
    readonly previous: Session.Record
    readonly record: Session.Record
    readonly evicted: ReadonlyArray<Session.Record>
  }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Expired"; readonly record: Session.Record }
  | { readonly _tag: "Revoked"; readonly record: Session.Record }

/**
 * The outcome of `revoke`: the records it removed (the caller releases them), and how many it
 * could only mark as revoked (a store that cannot remove them all in one step, such as a sharded
 * one). Marked records are never served again; `claimExpired` hands them out for release, and
 * `touch`, `update` and `rekey` answer `Revoked` for them until then.
 *
 * @since 0.2.0
 * @category models
 */
export interface RevokeResult {
  readonly removed: ReadonlyArray<Session.Record>
  readonly marked: number
}

/**
 * A store's `touch`: looks a live record up and touches it if due, setting `lastUsedAt` to
 * `cutoff.now` only when the stored `lastUsedAt` is at or before `touchBefore` (always when left
 * out). A touch that is not due writes nothing (`Read`).
 *
 * A store that answers without I/O (the memory store) may attach the same operation as a plain
 * function, `sync`: the manager's lookup then calls it directly, without building an effect. It
 * lives on the function itself, so a wrapper that replaces `touch` (fault injection, counting)
 * drops it and is never bypassed.
 *
 * @since 0.2.0
 * @category models
 */
export interface Touch {
  (key: string, cutoff: Cutoff, touchBefore?: number): Effect.Effect<TouchResult, SessionStoreError>
  readonly sync?: (key: string, cutoff: Cutoff, touchBefore?: number) => TouchResult
}

/**
 * A store's `update`: applies a data patch and touches, unless the record is missing, expired,
 * revoked, or its value under `patch.expect` is not the expected one (`Conflict`).
 *
 * As with `Touch`, a store that answers without I/O (the memory store) may attach the same
 * operation as a plain function, `sync`, that answers the result or the failure: the manager's
 * data operations then run in one step. A wrapper that replaces `update` drops it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Update {
  (key: string, patch: DataPatch, cutoff: Cutoff): Effect.Effect<WriteResult, SessionStoreError>
  readonly sync?: (key: string, patch: DataPatch, cutoff: Cutoff) => WriteResult | SessionStoreError
}

/**
 * The store contract.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Whether records outlive the process (the manager releases non-persistent ones at shutdown). */
  readonly persistent: boolean
  /** Refuses a manager policy this store cannot honour (e.g. a TTL shorter than an idle limit). */
  readonly validatePolicy?: (policy: Policy) => Effect.Effect<void, SessionConfigError>
  /**
   * Whether two keys live in the same partition of the store (a Redis Cluster slot bucket). A
   * store that partitions its records sets it and refuses, as `Conflict`, a `rekey` whose new key
   * is in another partition than the old one, so that a rotation stays one atomic step; the
   * manager then mints new keys until one is in the old key's partition. Left out: one partition.
   *
   * @since 0.2.0
   */
  readonly sameBucket?: (a: string, b: string) => boolean
  /** Inserts if absent (`Conflict` on a taken key), enforcing `limits`; returns the evicted records. */
  readonly insert: (
    record: Session.Record,
    limits: Limits
  ) => Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError | SessionLimitError>
  /** Reads a record as stored, whatever its state (expired, revoked): for inspection, not for serving. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Session.Record>, SessionStoreError>
  /** Looks a live record up and touches it if due (see `Touch`). */
  readonly touch: Touch
  /** Applies a data patch and touches, unless missing, expired, revoked or `expect` does not match (see `Update`). */
  readonly update: Update
  /** Moves a live record to a new key (and principal), removing the old key in the same step. */
  readonly rekey: (
    key: string,
    next: Rekey,
    limits: Limits,
    cutoff: Cutoff
  ) => Effect.Effect<RekeyResult, SessionStoreError | SessionLimitError>
  /**
   * Removes and returns a record: the caller that gets it owns its release. With
   * `followRotations`, a key that was rotated away (and whose link has not lapsed) removes the
   * record its rotations lead to instead.
   */
  readonly remove: (
    key: string,
    options?: { readonly followRotations?: boolean }
  ) => Effect.Effect<Option.Option<Session.Record>, SessionStoreError>
  /**
   * Revokes every session a principal holds, except the one under `except` (which stays valid,
   * with its future rotations). Complete: see `RevokeResult`.
   */
  readonly revoke: (
    principalId: string,
    options?: { readonly except?: string }
  ) => Effect.Effect<RevokeResult, SessionStoreError>
  /** Every record not revoked, expired or not. */
  readonly list: Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError>
  /** The records of one authenticated principal, not revoked, from an index (never a scan). */
  readonly listByPrincipal: (principalId: string) => Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError>
  /**
   * Removes and returns up to `max` expired or revoked records, in time proportional to what it
   * returns (the manager closes those the cutoff does not expire as `Revoked`).
   */
  readonly claimExpired: (
    cutoff: Cutoff,
    max: number
  ) => Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError>
  /** How many records are held, by kind. */
  readonly count: Effect.Effect<{ readonly anonymous: number; readonly authenticated: number }, SessionStoreError>
}

/**
 * The store the `SessionManager` uses.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "effect-session"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* SessionStore.SessionStore
 *   return yield* store.count
 * })
 * console.log(Effect.runSync(Effect.provide(program, SessionStore.layerMemory))) // { anonymous: 0, authenticated: 0 }
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class SessionStore extends Context.Tag("effect-session/SessionStore")<SessionStore, Service>() {}

/**
 * Whether a record is expired at `cutoff`.
 *
 * @example
 * ```ts
 * import { SessionStore } from "effect-session"
 *
 * const record = {
 *   key: "k", principal: { id: "a", anonymous: true }, createdAt: 0, lastUsedAt: 0, expiresAt: 100, data: {}
 * }
 * console.log(SessionStore.isExpired(record, { now: 100, idleBefore: { anonymous: -1, authenticated: -1 } })) // true
 * ```
 *
 * @since 0.1.0
 * @category predicates
 */
export const isExpired: (record: Session.Record, cutoff: Cutoff) => boolean = expiry.isExpired

/**
 * Builds an in-memory store. Each operation is a single synchronous step, hence atomic with
 * respect to every other fiber. Sessions are indexed for the sweep (per-kind least-recently-used
 * order, absolute-expiry queue), so claiming expired sessions costs what it claims, not what is
 * held.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "effect-session"
 *
 * const store = Effect.runSync(SessionStore.makeMemory)
 * console.log(store.persistent) // false
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = internal.make

/**
 * The in-memory store: the default, for a single process. Each build of the layer holds its own
 * sessions.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { AuthManager, SessionManager, SessionStore } from "effect-session"
 *
 * const SessionsLive = SessionManager.layer({ idleTimeout: "15 minutes" }).pipe(
 *   Layer.provide(SessionStore.layerMemory),
 *   Layer.provide(AuthManager.layerMock({ users: { alice: { password: "secret" } } }))
 * )
 * const program = Effect.gen(function*() {
 *   return (yield* SessionManager.currentSessions).length
 * })
 * Effect.runPromise(Effect.provide(program, SessionsLive)).then(console.log) // 0
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<SessionStore> = Layer.effect(SessionStore, makeMemory)
