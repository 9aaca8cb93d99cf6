/**
 * The sweep: claims expired (and revoked-but-marked) sessions from the store batch by batch, each
 * batch costing what it claims thanks to the store's indexes, and yields to the event loop once
 * about 5 ms of work has run, so that a sweep of a million sessions never holds the process. The
 * per-session accounting (metrics, events, logs) is done once per batch.
 *
 * The background sweeper is a scoped loop (as `@effect/cluster`'s entity reaper): sleep, sweep,
 * log; one bad sweep (store error, defect) is logged and the loop goes on.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { SessionCloseError, SessionStoreError } from "../../SessionError.js"
import type { CleanReport, CloseReason, CloseReport } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as expiry from "../expiry.js"
import { type Context, logDebug } from "./context.js"
import * as metrics from "./metrics.js"
import { failuresOf } from "./release.js"

/** Work between two yields to the event loop, in milliseconds. */
const SLICE_MS = 5

/**
 * Sessions claimed by a sweep's first batch (at most `sweepBatchSize`): small, so that the first
 * slice stays short before the sweep has measured what a session costs (at 40 µs a session, cold
 * or under load, a first batch of 1000 held the event loop for 40 ms).
 */
const FIRST_BATCH = 64

/** The smallest batch, whatever a session costs. */
const MIN_BATCH = 16

// Yields to the event loop (a macrotask), so that long work never holds it; unlike a sleep, it
// does not depend on the Clock, so it also proceeds under TestClock.
const yieldToEventLoop: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Closes every session expired at `cutoff` (`Expired`) and every one a revocation marked
 * (`Revoked`), or, at shutdown, every session (`Shutdown`, nothing counted as expired). Elapsed time is read from `performance.now()`: it is about the event
 * loop, not about expiry, so it must advance under `TestClock` too.
 *
 * @internal
 */
export const sweep = (
  context: Context,
  cutoff: SessionStore.Cutoff,
  reason: "Expired" | "Shutdown"
): Effect.Effect<CloseReport, SessionStoreError> =>
  Effect.gen(function*() {
    const { policy, releases, settings, store } = context
    const failures: Array<SessionCloseError> = []
    let closed = 0
    // Batches adapt to the work they take: they start small, shrink in proportion when one ran past
    // a slice (to what fits in half of one), and double (up to sweepBatchSize) when one ran well
    // under, so a slice stays near SLICE_MS whatever a session costs.
    let size = Math.min(FIRST_BATCH, settings.sweepBatchSize)
    let sliceStart = performance.now()
    while (true) {
      const batchStart = performance.now()
      // uninterruptible from the claim to the start of the releases: an interrupted sweep (at
      // shutdown) must not lose the sessions it has just removed from the store
      const [claimed, started] = yield* Effect.uninterruptible(
        Effect.flatMap(store.claimExpired(cutoff, size), (batch) => {
          const expired = { Idle: 0, Absolute: 0 }
          const reasons: Array<CloseReason> = []
          for (const record of batch) {
            if (reason === "Shutdown") {
              reasons.push(reason)
              continue
            }
            const limit = expiry.limitOf(record, policy, cutoff.now)
            if (limit === undefined) {
              // a claimed record the cutoff does not expire was revoked (SessionStore.claimExpired)
              reasons.push("Revoked")
            } else {
              releases.bury(record.key, limit, record.lastUsedAt)
              expired[limit]++
              reasons.push(reason)
            }
          }
          return Effect.all([
            Effect.succeed(batch.length),
            releases.startAll(batch, (_, i) => reasons[i]),
            metrics.countExpired("Idle", expired.Idle),
            metrics.countExpired("Absolute", expired.Absolute)
          ])
        })
      )
      closed += claimed
      failures.push(...(yield* failuresOf(started)))
      if (claimed < size) break
      const now = performance.now()
      const took = now - batchStart
      if (took > SLICE_MS) size = Math.max(MIN_BATCH, Math.floor((size * SLICE_MS) / (2 * took)))
      else if (took < SLICE_MS / 4) size = Math.min(settings.sweepBatchSize, size * 2)
      if (now - sliceStart >= SLICE_MS) {
        yield* yieldToEventLoop
        sliceStart = performance.now()
      }
    }
    return { closed, failures }
  })

/** Closes every expired session now and reports what it did (`cleanSessions`). @internal */
export const clean = (context: Context): Effect.Effect<CleanReport, SessionStoreError> =>
  Effect.suspend(() =>
    Effect.flatMap(
      sweep(context, expiry.cutoffAt(context.policy, context.clock.unsafeCurrentTimeMillis()), "Expired"),
      (report) =>
        Effect.map(context.store.count, (count) => ({ ...report, remaining: count.anonymous + count.authenticated }))
    )
  )

/** Runs `clean` every `interval` in the background of the scope; failures are logged, never fatal. @internal */
export const start = (context: Context, interval: Duration.Duration): Effect.Effect<void, never, Scope.Scope> =>
  Effect.sleep(interval).pipe(
    Effect.zipRight(clean(context)),
    Effect.tap((done) =>
      done.closed === 0
        ? Effect.void
        : logDebug("session sweep", { closed: done.closed, remaining: done.remaining, failures: done.failures.length })
    ),
    // One bad sweep (store error, defect) is logged; the loop goes on.
    Effect.catchAllCause((cause) => Effect.logError("session sweep failed", cause)),
    Effect.forever,
    Effect.forkScoped,
    Effect.asVoid
  )
