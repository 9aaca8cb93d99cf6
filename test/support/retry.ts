/**
 * Retrying an operation while a server comes back (outage tests): every 100 ms, at most `times`
 * more attempts, then its last failure.
 */
import { Effect, Schedule } from "effect"

export const retrying = <A, E, R>(op: Effect.Effect<A, E, R>, times = 200): Effect.Effect<A, E, R> =>
  Effect.retry(op, { schedule: Schedule.spaced("100 millis"), times })
