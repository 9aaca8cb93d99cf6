/**
 * The session store contract, and the in-memory store that is the default.
 *
 * A store holds session records by key (the SHA-256 of the token, never the token). Every
 * operation is one atomic step: the manager builds its guarantees (release exactly once, no
 * logout undone, no lost update) on that atomicity alone. In particular:
 *
 * - `remove` and `claimExpired` hand each record to exactly one caller: whoever receives it runs
 *   its release.
 * - `touch`, `update` and `rekey` never bring back a removed record and never extend an expired
 *   one: they answer `Missing` or `Expired` instead.
 * - `insert` enforces the caps atomically, so concurrent openings never overshoot them.
 *
 * Every store passes the same contract suite (`test/contract/store-contract.ts`, run over each store by `test/contract/*.test.ts`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as internal from "./internal/memoryStore.js"
import type * as Session from "./Session.js"
import type { SessionLimitError, SessionStoreError } from "./SessionError.js"

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
 * Session caps (`Infinity` for none) and what to do when one is reached.
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
 * @since 0.1.0
 * @category models
 */
export interface Rekey {
  readonly key: string
  readonly principal?: Session.Principal
  readonly createdAt?: number
  readonly expiresAt?: number | null
  readonly data?: Session.Data
}

/**
 * The outcome of `touch` and `update`.
 *
 * @since 0.1.0
 * @category models
 */
export type WriteResult =
  | { readonly _tag: "Written"; readonly record: Session.Record }
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Expired"; readonly record: Session.Record }
  | { readonly _tag: "Conflict"; readonly record: Session.Record }

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

/**
 * The store contract.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Whether records outlive the process (the manager releases non-persistent ones at shutdown). */
  readonly persistent: boolean
  /** Inserts if absent (`Conflict` on a taken key), enforcing `limits`; returns the evicted records. */
  readonly insert: (
    record: Session.Record,
    limits: Limits
  ) => Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError | SessionLimitError>
  /** Reads a record as stored, expired or not. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Session.Record>, SessionStoreError>
  /** Sets `lastUsedAt` to `cutoff.now` unless the record is missing or expired. */
  readonly touch: (key: string, cutoff: Cutoff) => Effect.Effect<WriteResult, SessionStoreError>
  /** Applies a data patch and touches, unless missing, expired or `expect` does not match. */
  readonly update: (key: string, patch: DataPatch, cutoff: Cutoff) => Effect.Effect<WriteResult, SessionStoreError>
  /** Moves a live record to a new key (and principal), removing the old key in the same step. */
  readonly rekey: (
    key: string,
    next: Rekey,
    limits: Limits,
    cutoff: Cutoff
  ) => Effect.Effect<RekeyResult, SessionStoreError | SessionLimitError>
  /** Removes and returns a record: the caller that gets it owns its release. */
  readonly remove: (key: string) => Effect.Effect<Option.Option<Session.Record>, SessionStoreError>
  /** Every record, expired or not. */
  readonly list: Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError>
  /** The records of one authenticated principal, from an index (never a scan). */
  readonly listByPrincipal: (principalId: string) => Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError>
  /** Removes and returns up to `max` expired records, in time proportional to what it returns. */
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
export const isExpired: (record: Session.Record, cutoff: Cutoff) => boolean = internal.isExpired

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
