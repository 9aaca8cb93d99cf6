/**
 * The model's rule for `lastUsedAt` ties, checked against stores that pick a given victim at the
 * per-principal cap (the memory store, except for that choice): the model accepts a victim that
 * some still-possible order of use allows, then keeps only the orders that agree with it, and
 * rejects a victim that no possible order allows.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger } from "effect"
import { SessionStore } from "effect-session"
import { base } from "./model-cases.js"
import type { Op } from "./model.js"
import { runScenario } from "./model.js"

/**
 * The memory store, except that its openings at their principal's cap evict, in turn, the held
 * session at each of `picks` (the principal's sessions in the order they were opened).
 */
const choosingStore = (picks: ReadonlyArray<number>) =>
  Layer.effect(
    SessionStore.SessionStore,
    Effect.gen(function*() {
      const store = yield* SessionStore.makeMemory
      let evictions = 0
      return {
        ...store,
        insert: (record, limits) =>
          Effect.gen(function*() {
            const held = record.principal.anonymous ? [] : yield* store.listByPrincipal(record.principal.id)
            if (held.length < limits.maxSessionsPerPrincipal || limits.onLimit === "refuse") {
              return yield* store.insert(record, limits)
            }
            const victim = held[picks[evictions++]]
            if (victim === undefined) return yield* Effect.dieMessage(`no pick for eviction #${evictions}`)
            yield* store.remove(victim.key)
            return [victim, ...(yield* store.insert(record, limits))]
          })
      } satisfies SessionStore.Service
    })
  )

/** Runs a scenario over `base`: how many states were possible after each step, or why it failed. */
const run = (ops: ReadonlyArray<Op>, picks: ReadonlyArray<number>) =>
  runScenario(base, ops, () => choosingStore(picks)).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))

// alice opens A, B, C (cap 3, all at 0: tied), then writes to A and B in one concurrent group (order
// of use unknown: A then B, or B then A), then to C: C was used after both; D's opening evicts
const tiedInAGroup: ReadonlyArray<Op> = [
  { _tag: "Open", who: "alice" },
  { _tag: "Open", who: "alice" },
  { _tag: "Open", who: "alice" },
  {
    _tag: "Concurrent",
    ops: [{ _tag: "SetData", h: 2, name: "a", value: 1 }, { _tag: "SetData", h: 1, name: "a", value: 2 }]
  },
  { _tag: "SetData", h: 0, name: "b", value: 3 },
  { _tag: "Open", who: "alice" },
  // then E's opening evicts the other of A and B (held then: that one, C, D)
  { _tag: "Open", who: "alice" }
]

describe("the model's lastUsedAt ties", () => {
  it.effect("a sequential tie has one order: the session used longest ago is the only victim", () =>
    Effect.gen(function*() {
      // A, B, C opened in that order, then A written: B was used longest ago
      const ops: ReadonlyArray<Op> = [
        { _tag: "Open", who: "alice" },
        { _tag: "Open", who: "alice" },
        { _tag: "Open", who: "alice" },
        { _tag: "SetData", h: 2, name: "a", value: 1 },
        { _tag: "Open", who: "alice" }
      ]
      expect(yield* run(ops, [1])).toEqual([1, 1, 1, 1, 1])
      // A, as the memory store before 0.2.0 evicted (the one opened first)
      expect(yield* Effect.flip(run(ops, [0]))).toContain("no order of step #4 agrees with the model")
    }))

  it.effect("a concurrent group's order stays open until an eviction shows it, then narrows", () =>
    Effect.gen(function*() {
      // two orders are possible after the group (and after C's write) until D's opening shows one
      expect(yield* run(tiedInAGroup, [0, 0])).toEqual([1, 1, 1, 2, 2, 1, 1])
      expect(yield* run(tiedInAGroup, [1, 0])).toEqual([1, 1, 1, 2, 2, 1, 1])
    }))

  it.effect("a victim tied on lastUsedAt but used after another candidate in every order is rejected", () =>
    Effect.gen(function*() {
      // C, written after A and B
      expect(yield* Effect.flip(run(tiedInAGroup, [2]))).toContain("no order of step #5 agrees with the model")
      // after A: C (held B, C, D) while B is still there
      expect(yield* Effect.flip(run(tiedInAGroup, [0, 1]))).toContain("no order of step #6 agrees with the model")
    }))
})
