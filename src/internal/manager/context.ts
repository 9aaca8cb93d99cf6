/**
 * What the manager's operations share: the settings and services they run with, the sessions
 * they hand out, and the typed failures a store's answer turns into.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import type * as AuthManager from "../../AuthManager.js"
import type * as Session from "../../Session.js"
import { InvalidSession, SessionStoreError } from "../../SessionError.js"
import type { SessionEvent, Settings } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as SessionToken from "../../SessionToken.js"
import * as expiry from "../expiry.js"
import * as metrics from "./metrics.js"
import type { Releases } from "./release.js"

/** @internal */
export interface Context {
  readonly settings: Settings
  /**
   * The `Clock` the layer was built with, read directly (through `Effect.clockWith` a reading costs
   * as much as the rest of a lookup).
   */
  readonly clock: Clock.Clock
  readonly policy: SessionStore.Policy
  readonly store: SessionStore.Service
  readonly auth: AuthManager.Service
  readonly generator: SessionToken.TokenGenerator.Service
  readonly events: PubSub.PubSub<SessionEvent>
  readonly releases: Releases
  /**
   * Wraps an operation in a span (named by the session's short id when `key` is given), or is the
   * identity: decided once, when the layer is built.
   */
  readonly traced: (name: string, key?: string) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Whether spans are made (`annotateCurrentSpan` without a span builds and discards an exception). */
  readonly tracing: boolean
}

/**
 * A debug log line with annotations, built only when debug logs are on: `annotateLogs` costs
 * about 15 µs, more than the operation it describes, and debug is off by default.
 *
 * @internal
 */
export const logDebug = (
  message: string,
  annotations: { readonly [key: string]: unknown }
): Effect.Effect<void> =>
  Effect.flatMap(
    FiberRef.get(FiberRef.currentMinimumLogLevel),
    (minimum) =>
      LogLevel.lessThanEqual(minimum, LogLevel.Debug)
        ? Effect.annotateLogs(Effect.logDebug(message), annotations)
        : Effect.void
  )

/** @internal */
export const publish = (context: Context, event: SessionEvent): Effect.Effect<boolean> =>
  PubSub.publish(context.events, event)

/**
 * A session handed out with its token: the stored record's fields (the record is frozen, and so
 * is this view), and the token, wrapped in a `Redacted` only when read, so a lookup presented
 * with a string builds none.
 *
 * @internal
 */
export class Handed implements Session.Session {
  readonly key: string
  readonly principal: Session.Principal
  readonly createdAt: number
  readonly lastUsedAt: number
  readonly expiresAt: number | null
  readonly data: Session.Data
  #raw: string | undefined
  #token: Redacted.Redacted<string> | undefined
  constructor(record: Session.Record, token: string | Redacted.Redacted<string>) {
    this.key = record.key
    this.principal = record.principal
    this.createdAt = record.createdAt
    this.lastUsedAt = record.lastUsedAt
    this.expiresAt = record.expiresAt
    this.data = record.data
    if (typeof token === "string") this.#raw = token
    else this.#token = token
    Object.freeze(this)
  }
  get token(): Redacted.Redacted<string> {
    return this.#token ??= Redacted.make(this.#raw!)
  }
}

/** The record with its token, or the record itself when there is no token to add. @internal */
export const withToken = (
  record: Session.Record,
  token: string | Redacted.Redacted<string> | undefined
): Session.Session => token === undefined ? record : new Handed(record, token)

/** @internal */
export const unknown = (context: Context, key: string): Effect.Effect<never, InvalidSession> =>
  Effect.suspend(() => {
    const sessionId = SessionToken.shortId(key)
    const limit = context.releases.tombstone(key, context.clock.unsafeCurrentTimeMillis())
    return limit === undefined
      ? Effect.zipRight(
        metrics.countInvalid("Unknown"),
        Effect.fail(new InvalidSession({ reason: "Unknown", sessionId }, true))
      )
      : Effect.zipRight(
        metrics.countInvalid("Expired"),
        Effect.fail(new InvalidSession({ reason: "Expired", limit, sessionId }, true))
      )
  })

/** Closes a session found expired at `now` and fails with `Expired`. @internal */
export const expire = (
  context: Context,
  record: Session.Record,
  now: number
): Effect.Effect<never, InvalidSession | SessionStoreError> => {
  const limit = expiry.limitOf(record, context.policy, now) ?? "Idle"
  // Buried before the claim, not after: the claim waits for the release, and meanwhile a
  // concurrent request for the same token (which finds the session gone) must already answer
  // Expired rather than Unknown.
  context.releases.bury(record.key, limit, record.lastUsedAt)
  return Effect.flatMap(context.releases.claim(record.key, "Expired"), (outcome) =>
    Effect.zipRight(
      Effect.zipRight(metrics.countExpired(limit), metrics.countInvalid("Expired")),
      Effect.fail(
        new InvalidSession({
          reason: "Expired",
          limit,
          sessionId: SessionToken.shortId(record.key),
          ...(outcome.failure === undefined ? {} : { closeError: outcome.failure })
        }, true)
      )
    ))
}

/** Closes a session its principal's revocation marked (a store that marks) and fails with `Revoked`. @internal */
export const revoked = (
  context: Context,
  record: Session.Record
): Effect.Effect<never, InvalidSession | SessionStoreError> =>
  Effect.flatMap(context.releases.claim(record.key, "Revoked"), (outcome) =>
    Effect.zipRight(
      metrics.countInvalid("Revoked"),
      Effect.fail(
        new InvalidSession({
          reason: "Revoked",
          sessionId: SessionToken.shortId(record.key),
          ...(outcome.failure === undefined ? {} : { closeError: outcome.failure })
        }, true)
      )
    ))

/** Why a store found no live record: the typed failure for each answer that is not a record. @internal */
export const gone = (
  context: Context,
  key: string,
  now: number,
  result:
    | { readonly _tag: "Missing" }
    | { readonly _tag: "Expired"; readonly record: Session.Record }
    | { readonly _tag: "Revoked"; readonly record: Session.Record }
): Effect.Effect<never, InvalidSession | SessionStoreError> =>
  result._tag === "Missing"
    ? unknown(context, key)
    : result._tag === "Expired"
    ? expire(context, result.record, now)
    : revoked(context, result.record)

/** @internal */
export const conflict = (operation: string): SessionStoreError =>
  new SessionStoreError({ reason: "Conflict", operation }, true)

const MAX_TOKEN_ATTEMPTS = 3

/**
 * Tokens minted at most to find a key in a partition (`SessionStore.Service.sameBucket`): a store
 * of B partitions needs B tries on average; 64 times the most partitions a store has (Redis: 1024
 * buckets) all miss with a chance below e^-64.
 */
const MAX_PARTITION_TRIES = 64 * 1024

/**
 * Mints a token whose key is free: a collision is astronomically unlikely with 256-bit tokens,
 * but a deterministic test generator can produce one, and a store insert is if-absent. With
 * `near` (a rotation's old key) and a partitioned store, the key is also in `near`'s partition.
 *
 * @internal
 */
export const withFreshToken = <A, E, R>(
  context: Context,
  use: (token: Redacted.Redacted<string>, key: string) => Effect.Effect<A, E, R>,
  near?: string
): Effect.Effect<A, E | SessionStoreError, R> => {
  const sameBucket = near === undefined ? undefined : context.store.sameBucket
  const generate: Effect.Effect<readonly [Redacted.Redacted<string>, string], SessionStoreError> =
    sameBucket === undefined
      ? Effect.map(context.generator.generate, (token) => [token, SessionToken.hash(Redacted.value(token))] as const)
      : Effect.suspend(() => {
        const find = (tries: number): Effect.Effect<readonly [Redacted.Redacted<string>, string], SessionStoreError> =>
          Effect.flatMap(context.generator.generate, (token) => {
            const key = SessionToken.hash(Redacted.value(token))
            if (sameBucket(near!, key)) return Effect.succeed([token, key] as const)
            // a generator that never reaches the partition (a fixed test generator) fails typed
            return tries >= MAX_PARTITION_TRIES
              ? Effect.fail(conflict("rekey"))
              : find(tries + 1)
          })
        return find(1)
      })
  const attempt = (n: number): Effect.Effect<A, E | SessionStoreError, R> =>
    Effect.flatMap(generate, ([token, key]) =>
      use(token, key).pipe(
        Effect.catchIf(
          (error) => n < MAX_TOKEN_ATTEMPTS && error instanceof SessionStoreError && error.reason === "Conflict",
          () => attempt(n + 1)
        )
      ))
  return attempt(1)
}
