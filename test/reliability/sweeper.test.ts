/**
 * The background sweeper under failure (I5, I7): releases that fail, die, throw, hang or ignore
 * interruption for some sessions; a store whose `claimExpired` fails or dies for a while. The sweep
 * goes on, the other sessions are closed, every failure is logged, and the loop never stops.
 * Driven by TestClock: sweep every minute, anonymous sessions idle out after 2 minutes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { AuthManager, SessionError, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as Faults from "effect-session/SessionStore/Faults"
import { captureLogs, request, settle } from "./support.js"

type ReleaseBehaviour = "ok" | "fail" | "die" | "throw" | "hang" | "hangUninterruptibly"

/** An auth manager whose `release` behaves per session as told (default: ok), recording every call. */
const releasing = () => {
  const behaviour = new Map<string, ReleaseBehaviour>()
  const calls: Array<string> = []
  const layer = AuthManager.layer({
    authenticate: () => Effect.succeed(AuthManager.anonymous),
    release: (session) => {
      calls.push(session.key)
      switch (behaviour.get(session.key) ?? "ok") {
        case "ok":
          return Effect.void
        case "fail":
          return Effect.fail(
            new SessionError.SessionCloseError({ sessionId: session.key.slice(0, 12), reason: "Failed" })
          )
        case "die":
          return Effect.die(new Error("release bug"))
        case "throw":
          throw new Error("thrown synchronously")
        case "hang":
          return Effect.never
        case "hangUninterruptibly":
          return Effect.uninterruptible(Effect.never)
      }
    }
  })
  return { behaviour, calls, layer }
}

const options: SessionManager.Options = {
  sweepInterval: "1 minute",
  cleanupAnonymousSessionTime: "2 minutes",
  releaseTimeout: "10 seconds"
}

const setup = (
  auth: Layer.Layer<AuthManager.AuthManager>,
  store: Layer.Layer<SessionStore.SessionStore | Faults.FaultControl> = Faults.layer().pipe(
    Layer.provide(SessionStore.layerMemory)
  )
) => {
  const logs = captureLogs()
  const layer = SessionManager.layer(options).pipe(
    Layer.provide(SessionToken.layerDeterministic("sweeper")),
    Layer.provideMerge(store),
    Layer.provideMerge(auth),
    Layer.provide(logs.layer)
  )
  return { layer, logs: logs.lines }
}

const storedCount = Effect.flatMap(
  SessionStore.SessionStore,
  (store) => Effect.map(store.count, (count) => count.anonymous + count.authenticated)
)

const openMany = (n: number) => Effect.all(Array.from({ length: n }, () => SessionManager.openSession(request())))

describe("the sweeper under failing releases", () => {
  it.effect("releases that fail, die, throw or hang never stop the sweep: every session is closed once", () => {
    const auth = releasing()
    const { layer, logs } = setup(auth.layer)
    return Effect.gen(function*() {
      const sessions = yield* openMany(12)
      const bad: ReadonlyArray<ReleaseBehaviour> = ["fail", "die", "throw", "hang", "hangUninterruptibly"]
      bad.forEach((behaviour, i) => auth.behaviour.set(sessions[i * 2].key, behaviour))
      // idle-expired at 2 min, swept at 2 min; the hanging releases are cut at 2 min 10 s
      yield* TestClock.adjust("2 minutes")
      yield* TestClock.adjust("10 seconds")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect(yield* storedCount).toBe(0)
      expect([...auth.calls].sort()).toEqual(sessions.map((s) => s.key).sort())
      const failures = logs.filter((line) => line.message === "session release failed")
      expect(failures).toHaveLength(bad.length)
      expect(logs.filter((line) => line.message === "session sweep failed")).toEqual([])
      // the loop goes on: sessions opened now are swept in turn
      const later = yield* openMany(3)
      yield* TestClock.adjust("3 minutes")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect(yield* storedCount).toBe(0)
      expect(auth.calls.slice(12).sort()).toEqual(later.map((s) => s.key).sort())
    }).pipe(Effect.provide(layer))
  })

  it.effect("a release hanging longer than the sweep interval delays the next sweep, never stops it", () => {
    const auth = releasing()
    const { layer } = setup(auth.layer)
    return Effect.gen(function*() {
      const [stuck] = yield* openMany(1)
      auth.behaviour.set(stuck.key, "hangUninterruptibly")
      yield* TestClock.adjust("2 minutes")
      const [next] = yield* openMany(1)
      // the first sweep waits at most releaseTimeout (10 s) on the stuck release; later sweeps run
      yield* TestClock.adjust("10 seconds")
      yield* TestClock.adjust("3 minutes")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect(yield* storedCount).toBe(0)
      expect(auth.calls).toEqual([stuck.key, next.key])
    }).pipe(Effect.provide(layer))
  })
})

describe("the sweeper under a failing store", () => {
  it.effect("claimExpired failing once: the failure is logged and the next sweep closes the sessions", () => {
    const auth = releasing()
    const { layer, logs } = setup(auth.layer)
    return Effect.gen(function*() {
      const sessions = yield* openMany(4)
      yield* TestClock.adjust("1 minute")
      // the sweep at 2 minutes, the first to find the sessions expired, fails
      yield* Effect.flatMap(
        Faults.FaultControl,
        (control) => control.inject(Faults.failure({ on: "claimExpired", reason: "Timeout", times: 1 }))
      )
      yield* TestClock.adjust("1 minute")
      expect(logs.filter((line) => line.message === "session sweep failed")).toHaveLength(1)
      expect(yield* storedCount).toBe(4)
      expect(auth.calls).toEqual([])
      // the sweep at 3 minutes works
      yield* TestClock.adjust("1 minute")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect(yield* storedCount).toBe(0)
      expect([...auth.calls].sort()).toEqual(sessions.map((s) => s.key).sort())
    }).pipe(Effect.provide(layer))
  })

  it.effect("claimExpired failing for several sweeps in a row: each failure logged, then the sweep works", () => {
    const auth = releasing()
    const { layer, logs } = setup(auth.layer)
    return Effect.gen(function*() {
      const sessions = yield* openMany(3)
      yield* Effect.flatMap(
        Faults.FaultControl,
        (control) => control.inject(Faults.failure({ on: "claimExpired", times: 5 }))
      )
      for (let minute = 1; minute <= 5; minute++) yield* TestClock.adjust("1 minute")
      expect(logs.filter((line) => line.message === "session sweep failed" && line.level === "ERROR")).toHaveLength(5)
      expect(yield* storedCount).toBe(3)
      expect(auth.calls).toEqual([])
      yield* TestClock.adjust("1 minute")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect([...auth.calls].sort()).toEqual(sessions.map((s) => s.key).sort())
    }).pipe(Effect.provide(layer))
  })

  it.effect("claimExpired dying (a defect in the store) is logged and survived like a failure", () => {
    const auth = releasing()
    let deaths = 2
    // a store whose claimExpired throws twice
    const dying = Layer.effect(
      SessionStore.SessionStore,
      Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => ({
        ...inner,
        claimExpired: (cutoff, max) =>
          deaths-- > 0 ? Effect.die(new Error("store bug")) : inner.claimExpired(cutoff, max)
      }))
    )
    const { layer, logs } = setup(auth.layer, Faults.layer().pipe(Layer.provide(dying)))
    return Effect.gen(function*() {
      const sessions = yield* openMany(2)
      yield* TestClock.adjust("2 minutes")
      expect(logs.filter((line) => line.message === "session sweep failed")).toHaveLength(2)
      expect(yield* storedCount).toBe(2)
      yield* TestClock.adjust("1 minute")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect([...auth.calls].sort()).toEqual(sessions.map((s) => s.key).sort())
    }).pipe(Effect.provide(layer))
  })

  it.effect("a slow claimExpired delays sweeps without losing any session", () => {
    const auth = releasing()
    const { layer } = setup(auth.layer)
    return Effect.gen(function*() {
      const sessions = yield* openMany(5)
      yield* Effect.flatMap(
        Faults.FaultControl,
        (control) => control.inject(Faults.latency("90 seconds", { on: "claimExpired", times: 2 }))
      )
      for (let step = 0; step < 12; step++) yield* TestClock.adjust("30 seconds")
      yield* settle(Effect.map(storedCount, (n) => n === 0))
      expect(yield* storedCount).toBe(0)
      expect([...auth.calls].sort()).toEqual(sessions.map((s) => s.key).sort())
    }).pipe(Effect.provide(layer))
  })
})
