/**
 * Closing sessions: exactly one release per removed record, whoever removed it (logout, expiry,
 * rejection, eviction, revocation, the sweep, shutdown), and the tombstones that let a token whose
 * session expired keep answering `Expired`.
 *
 * The store hands each removed record to exactly one caller (its atomic `remove`, `revoke`,
 * `rekey` and `claimExpired`); that caller starts the record's release here. A release runs in a
 * daemon fiber bounded by `releaseTimeout`, so an interrupted caller cannot cut it short and a
 * hanging one cannot hold anyone; a release that is already complete (none, or a synchronous one)
 * is settled inline, without a fiber or a timer.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as AuthManager from "../../AuthManager.js"
import type * as Session from "../../Session.js"
import { SessionCloseError, type SessionStoreError } from "../../SessionError.js"
import type { CloseReason, SessionEvent } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as SessionToken from "../../SessionToken.js"
import { build } from "../authGuard.js"
import { type Limit, limitOf } from "../expiry.js"
import { logDebug } from "./context.js"
import { countClosed, Tally } from "./metrics.js"

/** A release's outcome: `undefined` when it succeeded. @internal */
export type Outcome = SessionCloseError | undefined

/** What a close did: whether this call removed the session (and so ran its release), and how that went. @internal */
export interface Claim {
  readonly mine: boolean
  readonly failure: Outcome
}

const notMine: Claim = { mine: false, failure: undefined }

const TOMBSTONE_CAP = 10_000
const TOMBSTONE_AGE = 24 * 60 * 60 * 1000

const outcomeOf = (sessionId: string, exit: Exit.Exit<void, SessionCloseError>): Outcome => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = exit.cause._tag === "Fail" ? Option.some(exit.cause.error) : Option.none()
  return Option.getOrElse(
    failure,
    () => new SessionCloseError({ sessionId, reason: "Defect", cause: exit.cause }, true)
  )
}

/** Releases started for a batch: the outcomes of those that settled at once, and those still running. @internal */
export interface Started {
  readonly settled: ReadonlyArray<Outcome>
  readonly pending: ReadonlyArray<Deferred.Deferred<Outcome>>
}

/** The failures of a batch of releases, once every one has finished. @internal */
export const failuresOf = (started: Started): Effect.Effect<Array<SessionCloseError>> =>
  Effect.map(
    Effect.forEach(started.pending, Deferred.await),
    (outcomes) =>
      [...started.settled, ...outcomes].filter((failure): failure is SessionCloseError => failure !== undefined)
  )

/** @internal */
export interface Releases {
  /**
   * Starts the releases of a batch of removed records (a sweep), accounting for those that settle
   * at once in one go: one metric update per counter, one `publishAll`, one log line.
   */
  readonly startAll: (
    records: ReadonlyArray<Session.Record>,
    reasonOf: (record: Session.Record, index: number) => CloseReason
  ) => Effect.Effect<Started>
  /**
   * Removes a session and releases it if this call won the removal; a caller that lost waits for
   * the winner's release, so "closed" always means "released".
   */
  readonly claim: (
    key: string,
    reason: CloseReason,
    options?: { readonly followRotations?: boolean }
  ) => Effect.Effect<Claim, SessionStoreError>
  /**
   * Starts the releases of sessions a store evicted to respect a cap at `now` (in the background),
   * burying those already expired then: their tokens answer `Expired`, as if the sweep had come first.
   */
  readonly evicted: (records: ReadonlyArray<Session.Record>, now: number) => Effect.Effect<void>
  /** Releases in flight (shutdown waits for them). */
  readonly inFlight: () => ReadonlyArray<Deferred.Deferred<Outcome>>
  /** Remembers that a session expired (before its claim, so a concurrent request answers `Expired`). */
  readonly bury: (key: string, limit: Limit, at: number) => void
  /** How a session that is no longer stored expired, if it did recently. */
  readonly tombstone: (key: string, now: number) => Limit | undefined
}

/** @internal */
export const make = (options: {
  readonly auth: AuthManager.Service
  readonly store: SessionStore.Service
  readonly policy: SessionStore.Policy
  readonly releaseTimeout: Duration.Duration
  readonly events: PubSub.PubSub<SessionEvent>
}): Releases => {
  const { auth, events, policy, releaseTimeout, store } = options
  const releasing = new Map<string, Deferred.Deferred<Outcome>>()

  // Metrics, events and logs of finished releases (one, or a batch).
  const account = (
    closed: ReadonlyArray<readonly [Session.Record, CloseReason, Outcome]>
  ): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (closed.length === 1 && closed[0][2] === undefined) {
        const [record, reason] = closed[0]
        const sessionId = SessionToken.shortId(record.key)
        return Effect.all([
          countClosed(record, reason),
          PubSub.publish(events, { _tag: "Closed", sessionId, principalId: record.principal.id, reason }),
          logDebug("session closed", { session: sessionId, reason })
        ], { discard: true })
      }
      const tally = new Tally()
      const published: Array<SessionEvent> = []
      const warnings: Array<Effect.Effect<void>> = []
      for (const [record, reason, failure] of closed) {
        tally.add(record, reason, failure)
        const sessionId = SessionToken.shortId(record.key)
        published.push({ _tag: "Closed", sessionId, principalId: record.principal.id, reason })
        if (failure !== undefined) {
          published.push({ _tag: "ReleaseFailed", reason, error: failure })
          warnings.push(
            Effect.logWarning("session release failed").pipe(Effect.annotateLogs({ session: sessionId, reason }))
          )
        }
      }
      const log = closed.length === 1
        ? logDebug("session closed", { session: SessionToken.shortId(closed[0][0].key), reason: closed[0][1] })
        : logDebug("sessions closed", { count: closed.length })
      return Effect.all([tally.record, PubSub.publishAll(events, published), ...warnings, log], { discard: true })
    })

  const runRelease = (record: Session.Record, reason: CloseReason, release: Effect.Effect<void, SessionCloseError>) => {
    const sessionId = SessionToken.shortId(record.key)
    // `disconnect`: a release that ignores interruption is still cut at releaseTimeout (it goes
    // on in the background), so no closer, sweep or shutdown waits on it forever.
    return release.pipe(
      Effect.disconnect,
      Effect.timeoutFail({
        duration: releaseTimeout,
        onTimeout: () => new SessionCloseError({ sessionId, reason: "Timeout" }, true)
      }),
      Effect.exit,
      Effect.map((exit) => outcomeOf(sessionId, exit)),
      Effect.tap((failure) => account([[record, reason, failure]]))
    )
  }

  // Forks the release of a record whose release is real asynchronous work.
  const fork = (record: Session.Record, reason: CloseReason, release: Effect.Effect<void, SessionCloseError>) => {
    const done = Deferred.unsafeMake<Outcome>(FiberId.none)
    releasing.set(record.key, done)
    // Forked from the caller's uninterruptible claim: make the release interruptible again, or
    // its timeout could never cut a hanging one. Nothing else can interrupt a daemon.
    return Effect.interruptible(runRelease(record, reason, release)).pipe(
      Effect.flatMap((outcome) => Deferred.succeed(done, outcome)),
      Effect.ensuring(Effect.suspend(() => {
        if (releasing.get(record.key) === done) releasing.delete(record.key)
        // built only when the release was lost (interrupted): a Schema error costs ~50 µs
        return Effect.flatMap(Deferred.isDone(done), (isDone) =>
          isDone
            ? Effect.void
            : Deferred.succeed(
              done,
              new SessionCloseError({ sessionId: SessionToken.shortId(record.key), reason: "Defect" }, true)
            ))
      })),
      Effect.forkDaemon,
      Effect.as(done)
    )
  }

  // Starts the releases of `records`: those already complete are settled here and accounted in
  // one batch; the others run in daemon fibers.
  const startAll: Releases["startAll"] = (records, reasonOf) =>
    Effect.suspend(() => {
      const settled: Array<readonly [Session.Record, CloseReason, Outcome]> = []
      const forks: Array<Effect.Effect<Deferred.Deferred<Outcome>>> = []
      for (let i = 0; i < records.length; i++) {
        const record = records[i]
        const reason = reasonOf(record, i)
        const release = build(() => auth.release(record))
        if (Exit.isExit(release)) {
          const outcome = outcomeOf(SessionToken.shortId(record.key), release as Exit.Exit<void, SessionCloseError>)
          settled.push([record, reason, outcome])
        } else {
          forks.push(fork(record, reason, release))
        }
      }
      const outcomes = settled.map(([, , outcome]) => outcome)
      const accounted = settled.length === 0 ? Effect.void : account(settled)
      return forks.length === 0
        ? Effect.as(accounted, { settled: outcomes, pending: [] })
        : Effect.zipRight(accounted, Effect.map(Effect.all(forks), (pending) => ({ settled: outcomes, pending })))
    })

  const claim: Releases["claim"] = (key, reason, claimOptions) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(store.remove(key, claimOptions), (removed) => {
        if (Option.isSome(removed)) {
          return Effect.flatMap(startAll([removed.value], () => reason), (started) =>
            started.pending.length === 0
              ? Effect.succeed<Claim>({ mine: true, failure: started.settled[0] })
              : restore(Effect.map(Deferred.await(started.pending[0]), (failure): Claim => ({ mine: true, failure }))))
        }
        const pending = releasing.get(key)
        return pending === undefined ? Effect.succeed(notMine) : restore(Effect.as(Deferred.await(pending), notMine))
      })
    )

  // Keys of sessions that expired recently, so that a token presented after the sweep removed its
  // session still answers "Expired" (with its limit) rather than "Unknown". Bounded in count (two
  // generations of at most half the cap each: constant time per entry, where evicting the oldest
  // key of one Map would walk the holes its deletions leave) and in age; per process (with a
  // shared store, another instance may answer "Unknown").
  let tombstones = new Map<string, { readonly limit: Limit; readonly at: number }>()
  let older = new Map<string, { readonly limit: Limit; readonly at: number }>()

  const bury: Releases["bury"] = (key, limit, at) => {
    if (tombstones.size >= TOMBSTONE_CAP / 2) {
      older = tombstones
      tombstones = new Map()
    }
    tombstones.set(key, { limit, at })
  }

  return {
    startAll,
    claim,
    evicted: (records, now) =>
      Effect.suspend(() => {
        if (records.length === 0) return Effect.void
        for (const record of records) {
          const limit = limitOf(record, policy, now)
          if (limit !== undefined) bury(record.key, limit, record.lastUsedAt)
        }
        return Effect.asVoid(startAll(records, () => "Evicted"))
      }),
    inFlight: () => [...releasing.values()],
    bury,
    tombstone: (key, now) => {
      const tombstone = tombstones.get(key) ?? older.get(key)
      return tombstone !== undefined && now - tombstone.at < TOMBSTONE_AGE ? tombstone.limit : undefined
    }
  }
}
