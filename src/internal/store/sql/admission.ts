/**
 * Caps and eviction, run in the transaction that has just written a session (insert or rekey),
 * under the store's write lock: the counts it reads change only through its own evictions.
 *
 * The rules are the memory store's (`SessionStore.Limits`): every refusal is decided on the counts
 * before anything is evicted (the caller rolls back, so a refusal changes nothing); then the kind or
 * principal cap, then `maxSessions` (an anonymous session first; for an authenticated opening, the
 * principal's own least recently used session while it holds more than its fair share, otherwise
 * the least recently used authenticated one). The written row itself is never a victim.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Session from "../../../Session.js"
import { SessionLimitError, SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { decode, escapeId, type Row } from "./codec.js"
import type { Runner, Values } from "./executor.js"
import type { Queries, Query } from "./queries.js"

interface Counts {
  readonly anonymous: number
  readonly authenticated: number
  readonly principals: number
  /** Sessions of the record's principal (0 for an anonymous record). */
  readonly held: number
}

/** Attempts to evict one victim before giving up (each failed attempt lost a race with a touch). */
const ATTEMPTS = 100

/** @internal */
export const makeRoom = (
  tx: Runner,
  q: Queries,
  operation: string,
  record: Session.Record,
  id: string | number,
  limits: SessionStore.Limits
): Effect.Effect<Array<Session.Record>, SessionStoreError | SessionLimitError> => {
  const anonymous = record.principal.anonymous
  const principal = escapeId(record.principal.id)
  // the counts without the record just written
  const counts = Effect.map(
    tx.run(operation, q.counts, { principal }),
    ([row]): Counts => {
      const held = anonymous ? 0 : Number(row.held ?? 0) - 1
      return {
        anonymous: Number(row.anonymous) - (anonymous ? 1 : 0),
        authenticated: Number(row.authenticated) - (anonymous ? 0 : 1),
        principals: Number(row.principals) - (!anonymous && held === 0 ? 1 : 0),
        held
      }
    }
  )
  const victimOfKind = (kind: boolean) => ({
    query: q.leastRecentOfKind,
    values: { anonymous: kind ? 1 : 0, exclude: id }
  })
  const victimOfPrincipal = { query: q.leastRecentOfPrincipal, values: { principal, exclude: id } }

  // The next victims to try at these counts, in order; empty when there is room.
  const victims = (c: Counts, phase: 1 | 2): Array<{ readonly query: Query; readonly values: Values }> => {
    if (phase === 1) {
      if (anonymous ? c.anonymous >= limits.maxAnonymousSessions : c.held >= limits.maxSessionsPerPrincipal) {
        return [anonymous ? victimOfKind(true) : victimOfPrincipal]
      }
      return []
    }
    if (c.anonymous + c.authenticated < limits.maxSessions) return []
    if (anonymous) return [victimOfKind(true)]
    const fairShare = limits.maxSessions / (c.principals + (c.held === 0 ? 1 : 0))
    return [victimOfKind(true), c.held > fairShare ? victimOfPrincipal : victimOfKind(false)]
  }

  // Evicts the least recently used session a victim query finds, if any: `false` when none.
  const evict = (
    victim: { readonly query: Query; readonly values: Values },
    evicted: Array<Session.Record>
  ): Effect.Effect<boolean, SessionStoreError> =>
    Effect.gen(function*() {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const [candidate] = yield* tx.run(operation, victim.query, victim.values)
        if (candidate === undefined) return false
        // the candidate's version must be unchanged: a session touched meanwhile is no longer the least recent
        const [row] = yield* tx.run(operation, q.evict, { id: candidate.id, lru: candidate.lru })
        if (row !== undefined) {
          const stored = decode(row as Row)
          // an undecodable victim is gone all the same; it was not a session anyone can release
          if (typeof stored !== "string") evicted.push(stored.record)
          return true
        }
      }
      return yield* new SessionStoreError({ reason: "Conflict", operation }, true)
    })

  return Effect.gen(function*() {
    let c = yield* counts
    const refuse = limits.onLimit === "refuse"
    if (!anonymous && c.held >= limits.maxSessionsPerPrincipal && refuse) {
      return yield* new SessionLimitError({ limit: "maxSessionsPerPrincipal", max: limits.maxSessionsPerPrincipal })
    }
    if (anonymous && c.anonymous >= limits.maxAnonymousSessions && refuse) {
      return yield* new SessionLimitError({ limit: "maxAnonymousSessions", max: limits.maxAnonymousSessions })
    }
    if (c.anonymous + c.authenticated >= limits.maxSessions && (refuse || (anonymous && c.anonymous === 0))) {
      return yield* new SessionLimitError({ limit: "maxSessions", max: limits.maxSessions })
    }
    const evicted: Array<Session.Record> = []
    for (const phase of [1, 2] as const) {
      while (true) {
        let removed = false
        for (const victim of victims(c, phase)) {
          if (yield* evict(victim, evicted)) {
            removed = true
            break
          }
        }
        if (!removed) break
        c = yield* counts
      }
    }
    return evicted
  })
}
