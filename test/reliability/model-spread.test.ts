/**
 * The model's rule for a sweep racing a revocation that takes two steps (marks, then removal: the
 * Redis store's spread layout), checked deterministically: a store over the memory store whose
 * `revoke` holds what it "marked" until the concurrent sweep has run, and whose sweep claims
 * (hands out) what the revocation marked, as `claimExpired` does. The model accepts the counts such
 * a race gives, each session released once, and rejects a sweep or a revocation that counts what
 * it could not have, and a session released twice.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, Ref, TestContext } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"
import { uncapped } from "./model-cases.js"
import type { Op } from "./model.js"
import { runScenario } from "./model.js"

interface Race {
  /** Sessions the sweep claims before the revocation marks (at most this many expired ones). */
  readonly before?: number
  /** What `revoke` answers, from what it marked. */
  readonly answer?: (marked: ReadonlyArray<Session.Record>) => SessionStore.RevokeResult
  /** Whether the sweep also claims a session nobody revoked and that has not expired (a wrong store). */
  readonly claimsLive?: boolean
}

/**
 * The memory store, except that `revoke` and the first `claimExpired` meet: the sweep claims
 * `before` expired sessions, then the revocation marks (removes and holds) the principal's others,
 * then the sweep claims what it held, then the revocation answers (by default: nothing removed,
 * all counted as marked).
 */
const racingStore = (race: Race) =>
  Layer.effect(
    SessionStore.SessionStore,
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory
      const sweptFirst = yield* Deferred.make<void>()
      const marked = yield* Deferred.make<ReadonlyArray<Session.Record>>()
      const claimed = yield* Deferred.make<void>()
      const first = yield* Ref.make(true)
      return {
        ...store,
        revoke: (principalId, options) =>
          Effect.gen(function*() {
            yield* Deferred.await(sweptFirst)
            const { removed } = yield* store.revoke(principalId, options)
            yield* Deferred.succeed(marked, removed)
            yield* Deferred.await(claimed)
            return race.answer?.(removed) ?? { removed: [], marked: removed.length }
          }),
        claimExpired: (cutoff, max) =>
          Effect.gen(function*() {
            if (!(yield* Ref.getAndSet(first, false))) return yield* store.claimExpired(cutoff, max)
            const early = race.before === undefined ? [] : yield* store.claimExpired(cutoff, race.before)
            yield* Deferred.succeed(sweptFirst, undefined)
            const held = yield* Deferred.await(marked)
            const live = race.claimsLive ? (yield* store.list).slice(0, 1) : []
            for (const record of live) yield* store.remove(record.key)
            yield* Deferred.succeed(claimed, undefined)
            return [...early, ...held, ...live]
          })
      } satisfies SessionStore.Service
    })
  )

/** Runs a scenario over `uncapped` (its own TestClock, at 0): how many states were possible after each step, or why it failed. */
const run = (ops: ReadonlyArray<Op>, race: Race) =>
  runScenario(uncapped, ops, () => racingStore(race)).pipe(
    Effect.provide(TestContext.TestContext),
    Effect.provide(Logger.remove(Logger.defaultLogger))
  )

// alice's session, revoked while the sweep runs
const oneSession: ReadonlyArray<Op> = [
  { _tag: "Open", who: "alice" },
  { _tag: "Open", who: "bob" },
  { _tag: "Concurrent", ops: [{ _tag: "Clean" }, { _tag: "CloseAllOf", who: "alice", except: null }] },
  { _tag: "Get", h: 0 },
  { _tag: "Get", h: 1 }
]

// two sessions of alice past the idle limit, revoked while the sweep runs, then presented
const twoExpired: ReadonlyArray<Op> = [
  { _tag: "Open", who: "alice" },
  { _tag: "Open", who: "alice" },
  { _tag: "Advance", ms: 10_000 },
  { _tag: "Concurrent", ops: [{ _tag: "Clean" }, { _tag: "CloseAllOf", who: "alice", except: null }] },
  { _tag: "Get", h: 0 },
  { _tag: "Get", h: 1 }
]

describe("the model's two-step revocation racing a sweep", () => {
  it.effect("a session marked by closeAllOf and claimed by the sweep is counted by both, released once", () =>
    Effect.gen(function*() {
      expect((yield* run(oneSession, {})).length).toBe(5)
    }))

  it.effect("expired sessions: one claimed before the marks (the sweep's alone), one between (both count it)", () =>
    Effect.gen(function*() {
      expect((yield* run(twoExpired, { before: 1 })).length).toBe(6)
      expect((yield* run(twoExpired, {})).length).toBe(6)
    }))

  it.effect("a revocation counting fewer than it revoked, for a session that had not expired, is rejected", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(oneSession, { answer: () => ({ removed: [], marked: 0 }) }))
      expect(error).toContain("no order of step #2 agrees with the model")
    }))

  it.effect("a sweep counting a session nobody revoked and that had not expired is rejected", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(oneSession, { claimsLive: true }))
      expect(error).toContain("no order of step #2 agrees with the model")
    }))

  it.effect("a session handed to both the revocation and the sweep is rejected: released twice", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(oneSession, { answer: (marked) => ({ removed: marked, marked: 0 }) }))
      expect(error).toContain("no order of step #2 agrees with the model")
      expect(error).toMatch(/"realReleased": \[\s*"(\w+)",\s*"\1"\s*\]/)
    }))
})
