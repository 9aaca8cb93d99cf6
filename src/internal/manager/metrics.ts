/**
 * The manager's metrics, and the accounting of closed sessions, one at a time or in batches (a
 * sweep of a million sessions updates each counter once per batch, not once per session).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Session from "../../Session.js"
import type { InvalidReason, SessionCloseError } from "../../SessionError.js"
import type { CloseReason } from "../../SessionManager.js"
import type { Limit } from "../expiry.js"

/** @internal */
export const opened = Metric.counter("effect_session_opened_total", {
  description: "Sessions opened",
  incremental: true
})
/** @internal */
export const closed = Metric.counter("effect_session_closed_total", {
  description: "Sessions closed, by reason",
  incremental: true
})
/** @internal */
export const expired = Metric.counter("effect_session_expired_total", {
  description: "Sessions expired, by limit",
  incremental: true
})
/** @internal */
export const invalid = Metric.counter("effect_session_invalid_total", {
  description: "Tokens refused, by reason",
  incremental: true
})
/** @internal */
export const releaseFailed = Metric.counter("effect_session_release_failed_total", {
  description: "Releases that failed or timed out",
  incremental: true
})
/** @internal */
export const active = Metric.counter("effect_session_active", {
  description: "Sessions opened minus sessions closed by this instance, by kind"
})

/** @internal */
export type Kind = "anonymous" | "authenticated"

/** @internal */
export const kindOf = (record: Session.Record): Kind => record.principal.anonymous ? "anonymous" : "authenticated"

const tagged = <K extends string>(
  metric: Metric.Metric.Counter<number>,
  tag: string,
  values: ReadonlyArray<K>
): Record<K, Metric.Metric.Counter<number>> =>
  Object.fromEntries(values.map((value) => [value, Metric.tagged(metric, tag, value)])) as Record<
    K,
    Metric.Metric.Counter<number>
  >

const kinds = ["anonymous", "authenticated"] as const
const openedBy = tagged(opened, "kind", kinds)
const activeBy = tagged(active, "kind", kinds)
const closedBy = tagged(closed, "reason", ["Logout", "Expired", "Rejected", "Evicted", "Revoked", "Shutdown"])
const expiredBy = tagged(expired, "limit", ["Idle", "Absolute"])
const invalidBy = tagged(invalid, "reason", ["Malformed", "Unknown", "Expired", "Rejected", "Revoked", "Ambiguous"])

/** A session of this kind was stored. @internal */
export const countOpened = (kind: Kind): Effect.Effect<void> =>
  Effect.zipRight(Metric.increment(openedBy[kind]), Metric.incrementBy(activeBy[kind], 1))

/** A session moved from one kind to the other (a login). @internal */
export const countMoved = (from: Kind, to: Kind): Effect.Effect<void> =>
  from === to
    ? Effect.void
    : Effect.zipRight(Metric.incrementBy(activeBy[from], -1), Metric.incrementBy(activeBy[to], 1))

/** A token was refused. @internal */
export const countInvalid = (reason: typeof InvalidReason.Type): Effect.Effect<void> =>
  Metric.increment(invalidBy[reason])

/** A session expired (counted once, by whoever closed it). @internal */
export const countExpired = (limit: Limit, n = 1): Effect.Effect<void> => Metric.incrementBy(expiredBy[limit], n)

/** One session closed (without a failed release). @internal */
export const countClosed = (record: Session.Record, reason: CloseReason): Effect.Effect<void> =>
  Effect.zipRight(Metric.increment(closedBy[reason]), Metric.incrementBy(activeBy[kindOf(record)], -1))

/**
 * Counts of closed sessions, gathered over a batch and recorded at once by `record`.
 *
 * @internal
 */
export class Tally {
  private readonly byReason = new Map<CloseReason, number>()
  private readonly byKind = { anonymous: 0, authenticated: 0 }
  private failures = 0

  add(record: Session.Record, reason: CloseReason, failure: SessionCloseError | undefined): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1)
    this.byKind[kindOf(record)]++
    if (failure !== undefined) this.failures++
  }

  get size(): number {
    return this.byKind.anonymous + this.byKind.authenticated
  }

  /** Records the counts (one metric update per counter) and empties the tally. */
  get record(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const updates: Array<Effect.Effect<void>> = []
      for (const [reason, n] of this.byReason) updates.push(Metric.incrementBy(closedBy[reason], n))
      for (const kind of kinds) {
        if (this.byKind[kind] > 0) updates.push(Metric.incrementBy(activeBy[kind], -this.byKind[kind]))
      }
      if (this.failures > 0) updates.push(Metric.incrementBy(releaseFailed, this.failures))
      this.byReason.clear()
      this.byKind.anonymous = 0
      this.byKind.authenticated = 0
      this.failures = 0
      return Effect.all(updates, { discard: true })
    })
  }
}
