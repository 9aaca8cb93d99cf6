/**
 * Fair caps: one account's login flood at `maxSessions` never logs other users out (it evicts its
 * own least recently used sessions once over its fair share), the per-principal default of 100,
 * and I4 still holding for anonymous floods. And `openSessionFor`: its `Opened` event and metric
 * fire when the session is stored, not before and not on a refusal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Metric, Stream } from "effect"
import { AuthManager, SessionManager } from "effect-session"
import { eventually, managerLayer, request, settle } from "./support.js"

describe("a login flood of one principal at maxSessions", () => {
  it.effect("1000 logins of carol leave alice's and bob's sessions alone; carol keeps her newest", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const alice = yield* SessionManager.openSession(request("alice"))
      const bob = yield* SessionManager.openSession(request("bob"))
      const carols = yield* Effect.forEach(
        Array.from({ length: 1000 }),
        () => SessionManager.openSession(request(undefined, { authorization: `Basic ${btoa("carol:secret")}` }))
      )
      yield* SessionManager.getSession(request(), alice.token!)
      yield* SessionManager.getSession(request(), bob.token!)
      const kept = (yield* SessionManager.sessionsOf("carol")).map((s) => s.key).sort()
      expect(kept).toEqual(carols.slice(-18).map((s) => s.key).sort())
      // every evicted session was released, once
      yield* eventually(Effect.map(mock.released, (released) => released.length === 1000 - 18))
      expect(new Set(yield* mock.released).size).toBe(1000 - 18)
    }).pipe(Effect.provide(managerLayer({ maxSessions: 20 }))))

  it.effect("an anonymous flood at maxSessions still never evicts authenticated sessions (I4)", () =>
    Effect.gen(function*() {
      const alice = yield* SessionManager.openSession(request("alice"))
      for (let i = 0; i < 200; i++) yield* SessionManager.openSession(request())
      yield* SessionManager.getSession(request(), alice.token!)
      expect((yield* SessionManager.currentSessions).length).toBe(10)
    }).pipe(Effect.provide(managerLayer({ maxSessions: 10 }))))

  it.effect("within its fair share a principal may still evict the least recently used of anyone", () =>
    Effect.gen(function*() {
      // three principals at maxSessions 6: fair share 2 each; dave holds 1, so he evicts the oldest
      const [a1] = yield* Effect.forEach(
        ["alice", "alice", "alice", "bob", "bob", "carol"],
        (user) =>
          SessionManager.openSession(
            user === "carol" ? request(undefined, { authorization: `Basic ${btoa("carol:secret")}` }) : request(user)
          )
      )
      yield* SessionManager.openSessionFor({ id: "dave", anonymous: false })
      const evicted = yield* Effect.flip(SessionManager.getSession(request(), a1.token!))
      expect(evicted._tag).toBe("InvalidSession")
    }).pipe(Effect.provide(managerLayer({ maxSessions: 6 }))))

  it.effect("the per-principal cap defaults to 100: the 101st session evicts the principal's oldest", () =>
    Effect.gen(function*() {
      const settings = (yield* SessionManager.SessionManager).settings
      expect(settings.limits.maxSessionsPerPrincipal).toBe(100)
      const sessions = yield* Effect.forEach(
        Array.from({ length: 101 }),
        () => SessionManager.openSession(request("alice"))
      )
      expect((yield* SessionManager.sessionsOf("alice")).length).toBe(100)
      expect((yield* Effect.flip(SessionManager.getSession(request(), sessions[0].token!)))._tag).toBe("InvalidSession")
    }).pipe(Effect.provide(managerLayer())))
})

describe("openSessionFor", () => {
  it.effect("stores a session for a known principal, without authenticating; Opened fires when it is stored", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const events = yield* Effect.fork(Stream.runCollect(Stream.take(SessionManager.events, 1)))
      yield* settle // the stream has subscribed
      const opened = Metric.value(SessionManager.metrics.opened.pipe(Metric.tagged("kind", "authenticated")))
      const before = (yield* opened).count
      const session = yield* SessionManager.openSessionFor({ id: "alice", anonymous: false }, {
        data: { theme: "dark" }
      })
      expect(session.data).toEqual({ theme: "dark" })
      expect((yield* opened).count).toBe(before + 1)
      const [event] = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(event).toMatchObject({ _tag: "Opened", principalId: "alice", anonymous: false })
      expect(yield* mock.calls).toEqual([])
      yield* SessionManager.getSession(request(), session.token!)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a refusal at a cap stores nothing and fires nothing", () =>
    Effect.gen(function*() {
      const opened = Metric.value(SessionManager.metrics.opened.pipe(Metric.tagged("kind", "authenticated")))
      yield* SessionManager.openSessionFor({ id: "alice", anonymous: false })
      const before = (yield* opened).count
      const error = yield* Effect.flip(SessionManager.openSessionFor({ id: "alice", anonymous: false }))
      expect(error).toMatchObject({ _tag: "SessionLimitError", limit: "maxSessionsPerPrincipal" })
      expect((yield* opened).count).toBe(before)
    }).pipe(Effect.provide(managerLayer({ maxSessionsPerPrincipal: 1, onLimit: "refuse" }))))
})
