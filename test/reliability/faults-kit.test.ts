/**
 * The `SessionStore/Faults` test kit itself: with no fault it is a transparent store (it passes
 * the store contract), and each fault does what its documentation says, under TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import { AuthManager, SessionError, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as Faults from "effect-session/SessionStore/Faults"
import { cutoff, record, storeContract } from "../contract/store-contract.js"
import { describeExit, request, settle } from "./support.js"

storeContract("faults kit (no fault) over memory", () => Faults.layer().pipe(Layer.provide(SessionStore.layerMemory)))

const withFaulty = <A, E>(
  body: (store: SessionStore.Service, control: Faults.Control) => Effect.Effect<A, E>,
  options: Faults.Options = {}
) =>
  Effect.gen(function*() {
    const { control, store } = yield* Faults.make(yield* SessionStore.makeMemory, options)
    return yield* body(store, control)
  })

const limits = SessionStore.unlimited

describe("SessionStore/Faults", () => {
  it.effect("failure: typed, bounded by `times`, chosen by operation or predicate, counted", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(Faults.failure({ on: "get", times: 2, reason: "Timeout" }))
        expect(yield* Effect.flip(store.get("a"))).toMatchObject({ reason: "Timeout", operation: "get" })
        expect(yield* Effect.flip(store.get("a"))).toMatchObject({ reason: "Timeout" })
        expect(Option.isSome(yield* store.get("a"))).toBe(true)
        yield* control.inject(Faults.failure({ on: (call) => call.operation === "insert" && call.key === "b" }))
        expect(describeExit(yield* Effect.exit(store.insert(record("b"), limits)))).toBe(
          "SessionStoreError:Unavailable"
        )
        expect(Option.isNone(yield* store.get("b"))).toBe(true)
        expect(yield* control.failuresRaised).toBe(3)
        expect((yield* control.counts).get).toBe(4)
      })
    ))

  it.effect("failure after the call: the write lands, the caller hears an error", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(Faults.failure({ on: "remove", phase: "after", times: 1 }))
        expect(describeExit(yield* Effect.exit(store.remove("a")))).toBe("SessionStoreError:Unavailable")
        expect(Option.isNone(yield* store.get("a"))).toBe(true)
      })
    ))

  it.effect("latency: before or after the inner store, measured by the Clock", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(Faults.latency("1 second", { on: "touch", times: 1 }))
        const touching = yield* Effect.fork(store.touch("a", cutoff(5)))
        yield* TestClock.adjust("999 millis")
        expect(Option.isNone(yield* Fiber.poll(touching))).toBe(true)
        expect(Option.getOrThrow(yield* store.get("a")).lastUsedAt).toBe(0)
        expect(yield* control.inFlight).toBe(1)
        yield* TestClock.adjust("1 millis")
        expect((yield* Fiber.join(touching))._tag).toBe("Written")
        // after: applied at once, answered late
        yield* control.inject(Faults.latency("1 second", { on: "touch", phase: "after", times: 1 }))
        const late = yield* Effect.fork(store.touch("a", cutoff(7)))
        yield* settle(Effect.map(control.inFlight, (n) => n === 1))
        expect(Option.getOrThrow(yield* store.get("a")).lastUsedAt).toBe(7)
        expect(Option.isNone(yield* Fiber.poll(late))).toBe(true)
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(late))._tag).toBe("Written")
        expect(yield* control.inFlight).toBe(0)
      })
    ))

  it.effect("landAfterRemove: the write waits for a concurrent removal, then finds nothing", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(Faults.landAfterRemove({ on: "update", times: 1 }))
        const write = yield* Effect.fork(store.update("a", { set: [["x", 1]] }, cutoff(1)))
        yield* settle(Effect.map(control.inFlight, (n) => n === 1))
        expect(Option.isNone(yield* Fiber.poll(write))).toBe(true)
        yield* store.remove("a")
        expect((yield* Fiber.join(write))._tag).toBe("Missing")
        // a session already gone: no wait
        yield* control.inject(Faults.landAfterRemove({ on: "touch", times: 1 }))
        expect((yield* store.touch("a", cutoff(2)))._tag).toBe("Missing")
      })
    ))

  it.effect("landAfterRemove: released by a sweep's claim, or by its timeout", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a", undefined, { expiresAt: 10 }), limits)
        yield* store.insert(record("b"), limits)
        yield* control.inject(Faults.landAfterRemove({ timeout: "5 seconds" }))
        const onA = yield* Effect.fork(store.touch("a", cutoff(5)))
        const onB = yield* Effect.fork(store.touch("b", cutoff(5)))
        yield* settle(Effect.map(control.inFlight, (n) => n === 2))
        expect((yield* store.claimExpired(cutoff(10), 10)).map((r) => r.key)).toEqual(["a"])
        expect((yield* Fiber.join(onA))._tag).toBe("Missing")
        expect(Option.isNone(yield* Fiber.poll(onB))).toBe(true)
        yield* TestClock.adjust("5 seconds")
        expect((yield* Fiber.join(onB))._tag).toBe("Written")
      })
    ))

  it.effect("loseWrite: acknowledged as the write would be, the store unchanged", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a", undefined, { data: { n: 1 } }), limits)
        yield* control.inject(Faults.loseWrite({ times: 4 }))
        const touched = yield* store.touch("a", cutoff(9))
        expect(touched._tag === "Written" && touched.record.lastUsedAt).toBe(9)
        const updated = yield* store.update("a", { set: [["n", 2]], expect: { name: "n", value: 1 } }, cutoff(9))
        expect(updated._tag === "Written" && updated.record.data).toEqual({ n: 2 })
        expect(yield* store.insert(record("b"), limits)).toEqual([])
        expect(Option.isSome(yield* store.remove("a"))).toBe(true)
        const stored = Option.getOrThrow(yield* store.get("a"))
        expect(stored).toMatchObject({ lastUsedAt: 0, data: { n: 1 } })
        expect(Option.isNone(yield* store.get("b"))).toBe(true)
        // a conflicting patch is answered as the store would: Conflict
        yield* control.inject(Faults.loseWrite({ times: 1 }))
        const conflict = yield* store.update("a", { set: [["n", 3]], expect: { name: "n", value: 7 } }, cutoff(9))
        expect(conflict._tag).toBe("Conflict")
      })
    ))

  it.effect("reorder: a batch applied in reverse (or a given order), each caller its own answer; timeout flushes", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(Faults.reorder(3, { on: "update" }))
        const writes = yield* Effect.forEach(
          [1, 2, 3],
          (n) => Effect.fork(store.update("a", { set: [["last", n]] }, cutoff(n))),
          { concurrency: "unbounded" }
        )
        const answers = yield* Effect.forEach(writes, Fiber.join)
        expect(answers.map((answer) => answer._tag)).toEqual(["Written", "Written", "Written"])
        // applied 3, 2, 1: the first caller's write landed last
        expect(Option.getOrThrow(yield* store.get("a")).data).toEqual({ last: 1 })
        // an incomplete batch goes through when its timeout elapses, in the given order
        yield* control.inject(
          Faults.reorder(5, { on: "update", timeout: "1 second", order: (n) => [...Array(n).keys()] })
        )
        const lone = yield* Effect.fork(store.update("a", { set: [["last", 9]] }, cutoff(9)))
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(lone))._tag).toBe("Written")
        expect(Option.getOrThrow(yield* store.get("a")).data).toEqual({ last: 9 })
      })
    ))

  it.effect("clear lets every held call through and removes every fault", () =>
    withFaulty((store, control) =>
      Effect.gen(function*() {
        yield* store.insert(record("a"), limits)
        yield* control.inject(
          Faults.landAfterRemove(),
          Faults.reorder(2, { on: "get" }),
          Faults.failure({ on: "count" })
        )
        const held = yield* Effect.fork(store.touch("a", cutoff(1)))
        const batched = yield* Effect.fork(store.get("a"))
        yield* settle(Effect.map(control.inFlight, (n) => n === 2))
        yield* control.clear
        expect((yield* Fiber.join(held))._tag).toBe("Written")
        expect(Option.isSome(yield* Fiber.join(batched))).toBe(true)
        expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 0 })
      })
    ))
})

describe("lost writes through the manager: the store's state wins, outcomes stay typed", () => {
  const setup = SessionManager.layer({ sweepInterval: "off" }).pipe(
    Layer.provide(SessionToken.layerDeterministic("faults-kit")),
    Layer.provideMerge(Faults.layer().pipe(Layer.provide(SessionStore.layerMemory))),
    Layer.provideMerge(AuthManager.layerMock())
  )
  const control = Faults.FaultControl

  it.effect("a lost touch never extends a session: it idles out by its stored last use, released once", () =>
    Effect.gen(function*() {
      const session = yield* SessionManager.openSession(request())
      yield* TestClock.adjust("1 minute")
      yield* Effect.flatMap(control, (c) => c.inject(Faults.loseWrite({ on: "touch", times: 1 })))
      // acknowledged at 1 min, lost: the store still says "last used at 0"
      expect((yield* SessionManager.getSession(request(), session.token!)).lastUsedAt).toBe(60_000)
      yield* TestClock.adjust("1 minute")
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "InvalidSession:Expired:Idle"
      )
      expect(yield* Effect.flatMap(AuthManager.MockAuthManager, (m) => m.released)).toEqual([session.key])
    }).pipe(Effect.provide(setup)))

  it.effect("a lost insert: the token is answered Unknown, nothing to release", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(control, (c) => c.inject(Faults.loseWrite({ on: "insert", times: 1 })))
      const session = yield* SessionManager.openSession(request())
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "InvalidSession:Unknown"
      )
      expect(yield* Effect.flatMap(AuthManager.MockAuthManager, (m) => m.released)).toEqual([])
    }).pipe(Effect.provide(setup)))
})

describe("the wrapped store's own rules pass through", () => {
  it.effect("validatePolicy: a manager over the faulty store is refused as over the store itself", () =>
    Effect.gen(function*() {
      const inner = yield* SessionStore.makeMemory
      const strict: SessionStore.Service = {
        ...inner,
        validatePolicy: () =>
          Effect.fail(new SessionError.SessionConfigError({ option: "maxIdleTtl", reason: "too short" }))
      }
      const { store } = yield* Faults.make(strict)
      const exit = yield* Effect.exit(
        Layer.build(
          SessionManager.layer({ sweepInterval: "off" }).pipe(
            Layer.provide(Layer.succeed(SessionStore.SessionStore, store)),
            Layer.provide(AuthManager.layerMock())
          )
        ).pipe(Effect.scoped)
      )
      expect(exit._tag).toBe("Failure")
      expect(String(exit)).toContain("maxIdleTtl")
    }))

  it.effect("sameBucket: the partitioning is the inner store's", () =>
    Effect.gen(function*() {
      const inner = yield* SessionStore.makeMemory
      const sameBucket = (a: string, b: string) => a[0] === b[0]
      const { store } = yield* Faults.make({ ...inner, sameBucket })
      expect(store.sameBucket).toBe(sameBucket)
      expect((yield* Faults.make(inner)).store.sameBucket).toBeUndefined()
    }))
})
