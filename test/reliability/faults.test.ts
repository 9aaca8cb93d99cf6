/**
 * Faults injected into the store (`SessionStore/Faults`) against the manager's invariants:
 * I1 (a logout is never undone, even by a request in flight that loaded the session before it),
 * I3 (a store error is never reported as "not logged in"), I5 (every session is released exactly
 * once, and a failing release is reported while the session is still removed).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Schema, Scope, TestClock } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as SessionModule, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as Faults from "effect-session/SessionStore/Faults"
import { describeExit, mockUsers, request, settle } from "./support.js"

const Note = SessionModule.dataKey("note", Schema.String)
const Counter = SessionModule.dataKey("counter", Schema.Number)

const setup = (options: SessionManager.Options = {}, mock: AuthManager.MockOptions = {}) =>
  SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
    Layer.provide(SessionToken.layerDeterministic("faults")),
    Layer.provideMerge(Faults.layer().pipe(Layer.provide(SessionStore.layerMemory))),
    Layer.provideMerge(AuthManager.layerMock({ users: mockUsers, ...mock }))
  )

const control = Faults.FaultControl
const released = Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released)

/** What the store really holds (faults cleared first). */
const storedKeys = Effect.gen(function*() {
  yield* Effect.flatMap(control, (c) => c.clear)
  const store = yield* SessionStore.SessionStore
  return (yield* store.list).map((record) => record.key).sort()
})

/** Waits until `n` store calls are held by faults (bounded). */
const inFlight = (n: number) => settle(Effect.flatMap(control, (c) => Effect.map(c.inFlight, (count) => count >= n)))

const open = (user?: string) => SessionManager.openSession(request(user))

describe("I1: a logout is never undone", () => {
  it.effect("a data write in flight that loaded the session before the logout lands after it: Unknown, nothing revived", () =>
    Effect.gen(function*() {
      const session = yield* open()
      const loaded = yield* SessionManager.getSession(request(), session.token!)
      yield* Effect.flatMap(
        control,
        (c) =>
          c.inject(Faults.landAfterRemove({ on: (call) => call.operation === "update" && call.key === session.key }))
      )
      const write = yield* Effect.fork(Effect.exit(SessionManager.setData(loaded, Note, "written late")))
      yield* inFlight(1)
      yield* SessionManager.closeSession(session)
      expect(describeExit(yield* Fiber.join(write))).toBe("InvalidSession:Unknown")
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "InvalidSession:Unknown"
      )
      expect(yield* storedKeys).toEqual([])
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("a read-modify-write (updateData) in flight across a logout fails Unknown and writes nothing", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* SessionManager.setData(session, Counter, 1)
      yield* Effect.flatMap(
        control,
        (c) =>
          c.inject(Faults.landAfterRemove({ on: (call) => call.operation === "update" && call.key === session.key }))
      )
      const update = yield* Effect.fork(
        Effect.exit(SessionManager.updateData(session, Counter, (n) => Option.getOrElse(n, () => 0) + 1))
      )
      yield* inFlight(1)
      yield* SessionManager.closeSession(session)
      expect(describeExit(yield* Fiber.join(update))).toBe("InvalidSession:Unknown")
      expect(yield* storedKeys).toEqual([])
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("a request whose touch lands after the logout is refused: Unknown", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* Effect.flatMap(control, (c) => c.inject(Faults.landAfterRemove({ on: "touch", times: 1 })))
      const get = yield* Effect.fork(Effect.exit(SessionManager.getSession(request(), session.token!)))
      yield* inFlight(1)
      yield* SessionManager.closeSession(session)
      expect(describeExit(yield* Fiber.join(get))).toBe("InvalidSession:Unknown")
      expect(yield* storedKeys).toEqual([])
    }).pipe(Effect.provide(setup())))

  it.effect("a login (rotation) in flight across a logout creates nothing", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* Effect.flatMap(control, (c) => c.inject(Faults.landAfterRemove({ on: "rekey", times: 1 })))
      const login = yield* Effect.fork(
        Effect.exit(SessionManager.rotateSession(session, { principal: { id: "alice", anonymous: false } }))
      )
      yield* inFlight(1)
      yield* SessionManager.closeSession(session)
      expect(describeExit(yield* Fiber.join(login))).toBe("InvalidSession:Unknown")
      expect(yield* storedKeys).toEqual([])
      expect(yield* SessionManager.sessionsOf("alice")).toEqual([])
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("a write and the logout's delete applied in the reverse order: the write finds nothing", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* Effect.flatMap(
        control,
        (c) => c.inject(Faults.reorder(2, { on: (call) => call.key === session.key && call.operation !== "get" }))
      )
      const [write, logout] = yield* Effect.all([
        Effect.exit(SessionManager.setData(session, Note, "x")),
        Effect.exit(SessionManager.closeSession(session))
      ], { concurrency: "unbounded" })
      expect(describeExit(write)).toBe("InvalidSession:Unknown")
      expect(Exit.isSuccess(logout)).toBe(true)
      expect(yield* storedKeys).toEqual([])
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("under random store latency, no request that starts after the logout answered is served", () =>
    Effect.gen(function*() {
      const sessions = yield* Effect.all([open(), open("alice")], { concurrency: "unbounded" })
      const faults = yield* control
      // latencies of 1 to 7 ms, by call number
      yield* faults.inject(
        ...[1, 2, 3, 4, 5, 6, 7].map((ms, i) => Faults.latency(`${ms} millis`, { on: (call) => call.n % 7 === i }))
      )
      const target = sessions[1]
      const request$ = (i: number): Effect.Effect<unknown, unknown, SessionManager.SessionManager> => {
        switch (i % 4) {
          case 0:
            return SessionManager.getSession(request(), target.token!)
          case 1:
            return SessionManager.setData(target, Note, `n${i}`)
          case 2:
            return SessionManager.updateData(target, Counter, (n) => Option.getOrElse(n, () => 0) + 1)
          default:
            return SessionManager.getData(target, Counter)
        }
      }
      // 40 requests in flight, the logout among them, the clock moving 1 ms at a time
      const before = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => Effect.fork(Effect.exit(request$(i)))
      )
      const logout = yield* Effect.fork(SessionManager.closeSession(target))
      for (let t = 0; t < 100 && Option.isNone(yield* Fiber.poll(logout)); t++) yield* TestClock.adjust("1 millis")
      yield* Fiber.join(logout)
      // every request that starts now fails, whatever the store's timing
      const after = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => Effect.fork(Effect.exit(request$(i)))
      )
      // move the clock until every request has answered (bounded)
      const all = [...before, ...after]
      for (let t = 0; t < 200; t++) {
        const polled = yield* Effect.forEach(all, Fiber.poll)
        if (polled.every(Option.isSome)) break
        yield* TestClock.adjust("2 millis")
      }
      for (const fiber of after) expect(describeExit(yield* Fiber.join(fiber))).toBe("InvalidSession:Unknown")
      // those in flight succeeded before the logout, failed with Unknown, or (updateData under heavy
      // contention) ran out of compare-and-set attempts: nothing else
      for (const fiber of before) {
        expect(describeExit(yield* Fiber.join(fiber))).toMatch(
          /^(ok|InvalidSession:Unknown|SessionStoreError:Conflict)$/
        )
      }
      expect(yield* storedKeys).toEqual([sessions[0].key])
      expect(yield* released).toEqual([target.key])
    }).pipe(Effect.provide(setup())))
})

describe("I3: a store error is never reported as \"not logged in\"", () => {
  type Case = readonly [
    string,
    (session: Session.Session) => Effect.Effect<unknown, unknown, SessionManager.SessionManager>
  ]
  const cases: ReadonlyArray<Case> = [
    ["getSession", (s) => SessionManager.getSession(request(), s.token!)],
    ["getData", (s) => SessionManager.getData(s, Note)],
    ["setData", (s) => SessionManager.setData(s, Note, "x")],
    ["updateData", (s) => SessionManager.updateData(s, Counter, (n) => Option.getOrElse(n, () => 0) + 1)],
    ["removeData", (s) => SessionManager.removeData(s, "note")],
    ["rotateSession", (s) => SessionManager.rotateSession(s)],
    ["rotateSession (login)", (s) => SessionManager.rotateSession(s, { principal: { id: "bob", anonymous: false } })],
    ["closeSession", (s) => SessionManager.closeSession(s)],
    ["closeAllOf", () => SessionManager.closeAllOf("alice")],
    ["openSession", () => SessionManager.openSession(request("alice"))],
    ["cleanSessions", () => SessionManager.cleanSessions],
    ["currentSessions", () => SessionManager.currentSessions],
    ["sessionsOf", () => SessionManager.sessionsOf("alice")]
  ]
  for (const reason of ["Unavailable", "Timeout"] as const) {
    for (const [name, operation] of cases) {
      it.effect(`${name}: a store ${reason} is a SessionStoreError, and the session survives it`, () =>
        Effect.gen(function*() {
          const session = yield* open("alice")
          yield* SessionManager.setData(session, Note, "kept")
          const faults = yield* control
          yield* faults.inject(Faults.failure({ reason }))
          const error = yield* Effect.flip(operation(session))
          expect(error).toMatchObject({ _tag: "SessionStoreError", reason })
          yield* faults.clear
          // not logged out: the same token works, with its data
          const again = yield* SessionManager.getSession(request(), session.token!)
          expect(again.principal.id).toBe("alice")
          expect(yield* SessionManager.getData(again, Note)).toEqual(Option.some("kept"))
          expect(yield* released).toEqual([])
        }).pipe(Effect.provide(setup())))
    }
  }

  it.effect("a touch that landed but whose answer was lost is a SessionStoreError; the session lives on", () =>
    Effect.gen(function*() {
      const session = yield* open("alice")
      yield* Effect.flatMap(control, (c) => c.inject(Faults.failure({ on: "touch", phase: "after", times: 1 })))
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "SessionStoreError:Unavailable"
      )
      expect((yield* SessionManager.getSession(request(), session.token!)).key).toBe(session.key)
    }).pipe(Effect.provide(setup())))

  it.effect("an expired session whose removal fails is a SessionStoreError, not Expired; it expires once the store is back", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* TestClock.adjust("3 minutes")
      yield* Effect.flatMap(control, (c) => c.inject(Faults.failure({ on: "remove" })))
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "SessionStoreError:Unavailable"
      )
      expect(yield* released).toEqual([])
      yield* Effect.flatMap(control, (c) => c.clear)
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "InvalidSession:Expired:Idle"
      )
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("a slow store is bounded by nobody but the store: answers arrive after the latency, typed", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* Effect.flatMap(control, (c) => c.inject(Faults.latency("2 seconds", { on: "touch" })))
      const get = yield* Effect.fork(SessionManager.getSession(request(), session.token!))
      yield* TestClock.adjust("1999 millis")
      expect(Option.isNone(yield* Fiber.poll(get))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect((yield* Fiber.join(get)).key).toBe(session.key)
    }).pipe(Effect.provide(setup())))
})

describe("I5: every session is released exactly once", () => {
  it.effect("a failing release is reported as SessionCloseError and the session is removed all the same", () =>
    Effect.gen(function*() {
      const session = yield* open()
      yield* Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.setFailRelease(() => true))
      expect(describeExit(yield* Effect.exit(SessionManager.closeSession(session)))).toBe("SessionCloseError:Failed")
      expect(yield* storedKeys).toEqual([])
      // closing again is a no-op: no second release
      yield* SessionManager.closeSession(session)
      expect(describeExit(yield* Effect.exit(SessionManager.getSession(request(), session.token!)))).toBe(
        "InvalidSession:Unknown"
      )
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("a failing release on expiry travels in InvalidSession.closeError, and in the sweep report", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([open(), open()])
      yield* Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.setFailRelease(() => true))
      yield* TestClock.adjust("3 minutes")
      const error = yield* Effect.flip(SessionManager.getSession(request(), a.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Expired", closeError: { reason: "Failed" } })
      const report = yield* SessionManager.cleanSessions
      expect(report.closed).toBe(1)
      expect(report.failures.map((failure) => failure.reason)).toEqual(["Failed"])
      expect(yield* storedKeys).toEqual([])
      expect([...(yield* released)].sort()).toEqual([a.key, b.key].sort())
    }).pipe(Effect.provide(setup())))

  it.effect("logout, expiry, sweep and revocation racing on slow store calls: one release", () =>
    Effect.gen(function*() {
      const session = yield* open("alice")
      yield* TestClock.adjust("31 minutes")
      yield* Effect.flatMap(control, (c) =>
        c.inject(
          Faults.latency("5 millis", { on: ["remove", "claimExpired"] }),
          Faults.latency("3 millis", { on: ["touch", "listByPrincipal"] })
        ))
      const racing: ReadonlyArray<Effect.Effect<unknown, unknown, SessionManager.SessionManager>> = [
        SessionManager.closeSession(session),
        SessionManager.getSession(request(), session.token!),
        SessionManager.cleanSessions,
        SessionManager.closeAllOf("alice"),
        SessionManager.closeSession(session)
      ]
      const racers = yield* Effect.forEach(racing, (racer) => Effect.fork(Effect.exit(racer)))
      for (let t = 0; t < 20; t++) yield* TestClock.adjust("1 millis")
      const answers = yield* Effect.forEach(
        racers,
        (fiber) => Effect.map(Fiber.join(fiber), (exit) => describeExit(exit))
      )
      for (const answer of answers) expect(answer).toMatch(/^(ok|InvalidSession:(Unknown|Expired:Idle))$/)
      expect(yield* storedKeys).toEqual([])
      expect(yield* released).toEqual([session.key])
    }).pipe(Effect.provide(setup())))

  it.effect("an opening interrupted after its insert evicted a session still releases the evicted one", () =>
    Effect.gen(function*() {
      const first = yield* open()
      // the insert lands (evicting `first`), its answer is late, and the caller gives up meanwhile
      yield* Effect.flatMap(
        control,
        (c) => c.inject(Faults.latency("1 second", { on: "insert", phase: "after", times: 1 }))
      )
      const opening = yield* Effect.fork(open())
      yield* inFlight(1)
      yield* Fiber.interruptFork(opening)
      yield* TestClock.adjust("1 second")
      yield* Fiber.await(opening)
      yield* settle(Effect.map(released, (keys) => keys.length >= 1))
      expect(yield* released).toEqual([first.key])
    }).pipe(Effect.provide(setup({ maxAnonymousSessions: 1 }))))

  it.effect("a login interrupted after its rekey evicted a session still releases the evicted one", () =>
    Effect.gen(function*() {
      const older = yield* open("alice")
      const anonymous = yield* open()
      yield* Effect.flatMap(
        control,
        (c) => c.inject(Faults.latency("1 second", { on: "rekey", phase: "after", times: 1 }))
      )
      const login = yield* Effect.fork(
        SessionManager.rotateSession(anonymous, { principal: { id: "alice", anonymous: false } })
      )
      yield* inFlight(1)
      yield* Fiber.interruptFork(login)
      yield* TestClock.adjust("1 second")
      yield* Fiber.await(login)
      yield* settle(Effect.map(released, (keys) => keys.length >= 1))
      expect(yield* released).toEqual([older.key])
    }).pipe(Effect.provide(setup({ maxSessionsPerPrincipal: 1 }))))

  it.effect("a sweep interrupted after claiming expired sessions still releases them", () =>
    Effect.gen(function*() {
      const sessions = yield* Effect.all([open(), open(), open()])
      yield* TestClock.adjust("3 minutes")
      yield* Effect.flatMap(
        control,
        (c) => c.inject(Faults.latency("1 second", { on: "claimExpired", phase: "after", times: 1 }))
      )
      const sweep = yield* Effect.fork(SessionManager.cleanSessions)
      yield* inFlight(1)
      yield* Fiber.interruptFork(sweep)
      yield* TestClock.adjust("1 second")
      yield* Fiber.await(sweep)
      yield* settle(Effect.map(released, (keys) => keys.length >= 3))
      expect([...(yield* released)].sort()).toEqual(sessions.map((s) => s.key).sort())
      expect(yield* storedKeys).toEqual([])
    }).pipe(Effect.provide(setup())))

  it.effect("closeAllOf failing: a refused revocation changes nothing; once the store is back, each closes once", () =>
    Effect.gen(function*() {
      const sessions = yield* Effect.all(Array.from({ length: 6 }, () => open("alice")))
      yield* Effect.flatMap(control, (c) => c.inject(Faults.failure({ on: "revoke", times: 1 })))
      expect(describeExit(yield* Effect.exit(SessionManager.closeAllOf("alice")))).toBe("SessionStoreError:Unavailable")
      yield* settle(Effect.succeed(false), 200)
      expect(yield* released).toEqual([])
      expect([...(yield* storedKeys)].sort()).toEqual(sessions.map((s) => s.key).sort())
      const report = yield* SessionManager.closeAllOf("alice")
      expect(report.closed).toBe(6)
      expect(yield* storedKeys).toEqual([])
      const gone = yield* released
      expect(new Set(gone).size).toBe(gone.length)
      expect([...gone].sort()).toEqual(sessions.map((s) => s.key).sort())
    }).pipe(Effect.provide(setup())))

  for (
    const [name, release] of [
      ["dies", () => Effect.die(new Error("release bug"))],
      ["throws", () => {
        throw new Error("thrown synchronously")
      }],
      ["hangs, ignoring interruption", () => Effect.uninterruptible(Effect.never)]
    ] as const
  ) {
    it.effect(`a release that ${name} is a typed SessionCloseError, the session is gone, shutdown completes`, () =>
      Effect.gen(function*() {
        let calls = 0
        const auth = AuthManager.layer({
          authenticate: () => Effect.succeed(AuthManager.anonymous),
          release: () => {
            calls++
            return release()
          }
        })
        const layer = SessionManager.layer({ sweepInterval: "off", releaseTimeout: "5 seconds" }).pipe(
          Layer.provideMerge(SessionStore.layerMemory),
          Layer.provide(auth)
        )
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(layer, scope)
        yield* Effect.gen(function*() {
          const [session, other] = yield* Effect.all([open(), open()])
          const closing = yield* Effect.fork(Effect.exit(SessionManager.closeSession(session)))
          yield* TestClock.adjust("5 seconds")
          const exit = yield* Fiber.join(closing)
          expect(describeExit(exit)).toBe(`SessionCloseError:${name.startsWith("hangs") ? "Timeout" : "Defect"}`)
          const store = yield* SessionStore.SessionStore
          expect((yield* store.list).map((record) => record.key)).toEqual([other.key])
          expect(calls).toBe(1)
        }).pipe(Effect.provide(context))
        // shutdown releases the other session, bounded by releaseTimeout even if it hangs
        const shutdown = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(shutdown)
        expect(calls).toBe(2)
      }))
  }
})
