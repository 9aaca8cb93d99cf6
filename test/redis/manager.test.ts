/**
 * The session manager over the Redis store: the whole lifecycle, with the TestClock driving time.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema, TestClock } from "effect"
import { AuthManager, Session, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { freshPrefix, startRedis } from "./server.js"
import { captureLogs, keysOf, rawClient, request } from "./support.js"

const server = await startRedis()
const raw = server === undefined ? undefined : rawClient(server.url)
afterAll(async () => {
  raw?.disconnect()
  await server?.stop()
})

const Counter = Session.dataKey("counter", Schema.Number)
const Cart = Session.dataKey("cart", Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Int })))

describe.skipIf(server === undefined)("SessionManager over Redis", () => {
  const url = server?.url ?? ""
  const redis = raw!
  const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

  const managerOn = (prefix: string, options: SessionManager.Options = {}) =>
    SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
      Layer.provideMerge(RedisStore.layer({ url, prefix })),
      Layer.provideMerge(AuthManager.layerMock({ users: { alice: {}, bob: {} } }))
    )
  const withManager = <A, E>(
    body: (prefix: string) => Effect.Effect<A, E, SessionManager.SessionManager | AuthManager.MockAuthManager>,
    options: SessionManager.Options = {}
  ) => {
    const prefix = freshPrefix("manager")
    return Effect.scoped(Effect.provide(body(prefix), managerOn(prefix, options)))
  }
  const tokenOf = (session: Session.Session) => Redacted.value(session.token!)
  const released = Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released)

  it.effect("open, get, close: a closed session is refused at once and released exactly once", () =>
    withManager(() =>
      Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        expect(session.principal.id).toBe("alice")
        const again = yield* SessionManager.getSession(request(), tokenOf(session))
        expect(again.key).toBe(session.key)
        expect((yield* SessionManager.sessionsOf("alice")).map((s) => s.key)).toEqual([session.key])
        yield* SessionManager.closeSession(session)
        yield* SessionManager.closeSession(session) // idempotent
        const error = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(session)))
        expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
        expect(yield* released).toEqual([session.key])
      })
    ))

  it.effect("rotate: the old token dies, the new one carries the data; a login keeps only what it names", () =>
    withManager(() =>
      Effect.gen(function*() {
        const anonymous = yield* SessionManager.openSession(request())
        yield* SessionManager.setData(anonymous, Cart, [{ sku: "a", qty: 2 }])
        const rotated = yield* SessionManager.rotateSession(anonymous)
        const old = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(anonymous)))
        expect(old._tag === "InvalidSession" && old.reason).toBe("Unknown")
        expect(Option.getOrThrow(yield* SessionManager.getData(rotated, Cart))).toEqual([{ sku: "a", qty: 2 }])
        yield* SessionManager.setData(rotated, Counter, 3)
        const login = yield* SessionManager.rotateSession(rotated, {
          principal: { id: "bob", anonymous: false },
          keep: ["cart"]
        })
        expect(login.principal.id).toBe("bob")
        expect((yield* SessionManager.sessionsOf("bob")).map((s) => s.key)).toEqual([login.key])
        expect(Option.getOrThrow(yield* SessionManager.getData(login, Cart))).toEqual([{ sku: "a", qty: 2 }])
        expect(yield* SessionManager.getData(login, Counter)).toEqual(Option.none())
        expect(yield* released).toEqual([])
      })
    ))

  it.effect("data: set, concurrent updates (compare-and-set on the server), remove", () =>
    withManager(() =>
      Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        // (a low concurrency: the manager retries a lost compare-and-set a bounded number of times)
        yield* Effect.forEach(
          Array.from({ length: 20 }, () => 0),
          () => SessionManager.updateData(session, Counter, (n) => Option.getOrElse(n, () => 0) + 1),
          { concurrency: 2 }
        )
        expect(yield* SessionManager.getData(session, Counter)).toEqual(Option.some(20))
        yield* SessionManager.removeData(session, "counter")
        expect(yield* SessionManager.getData(session, Counter)).toEqual(Option.none())
      })
    ))

  it.effect("expiry (TestClock): idle and absolute limits, the sweep releases each session once", () =>
    withManager(
      () =>
        Effect.gen(function*() {
          const idle = yield* SessionManager.openSession(request("alice"))
          const anonymous = yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request()))
          yield* TestClock.adjust("3 minutes")
          // anonymous sessions are past their cleanup time: the sweep claims them
          const report = yield* SessionManager.cleanSessions
          expect(report.closed).toBe(3)
          expect(report.remaining).toBe(1)
          yield* TestClock.adjust("10 minutes")
          const error = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(idle)))
          expect(error._tag === "InvalidSession" && error.reason).toBe("Expired")
          expect(error._tag === "InvalidSession" && error.limit).toBe("Idle")
          expect([...(yield* released)].sort()).toEqual([idle.key, ...anonymous.map((s) => s.key)].sort())
          expect((yield* SessionManager.cleanSessions).closed).toBe(0)
        }),
      { idleTimeout: "10 minutes", cleanupAnonymousSessionTime: "2 minutes" }
    ))

  it.effect("closeAllOf closes every session of a principal, except the one kept", () =>
    withManager(() =>
      Effect.gen(function*() {
        const sessions = yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request("alice")))
        const report = yield* SessionManager.closeAllOf("alice", { except: sessions[0] })
        expect(report.closed).toBe(2)
        expect((yield* SessionManager.sessionsOf("alice")).map((s) => s.key)).toEqual([sessions[0].key])
      })
    ))

  it.effect("a corrupt or foreign value under a session key is InvalidSession Unknown, removed and logged", () => {
    const logs = captureLogs()
    return withManager((prefix) =>
      Effect.gen(function*() {
        const keys = keysOf(prefix)
        const corrupt = yield* SessionManager.openSession(request("alice"))
        yield* promise(() => redis.set(keys.record(corrupt.key), "\u0000garbage"))
        const e1 = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(corrupt)))
        expect(e1._tag === "InvalidSession" && e1.reason).toBe("Unknown")
        expect(yield* promise(() => redis.exists(keys.record(corrupt.key)))).toBe(0)

        const foreign = yield* SessionManager.openSession(request("alice"))
        yield* promise(() => redis.hset(keys.record(foreign.key), "v", "99"))
        const e2 = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(foreign)))
        expect(e2._tag === "InvalidSession" && e2.reason).toBe("Unknown")
        const e3 = yield* Effect.flip(SessionManager.setData(foreign, Counter, 1))
        expect(e3._tag === "InvalidSession" && e3.reason).toBe("Unknown")
        expect(yield* promise(() => redis.exists(keys.record(foreign.key)))).toBe(0)

        const warnings = logs.lines.filter((l) => /foreign or corrupt/.test(l.message))
        expect(warnings.map((l) => l.annotations.session)).toEqual([
          SessionToken.shortId(corrupt.key),
          SessionToken.shortId(foreign.key)
        ])
        // never a token in the logs
        expect(JSON.stringify(logs.lines)).not.toContain(tokenOf(corrupt))
      }).pipe(Effect.provide(logs.layer))
    )
  })

  it.effect("persistent: sessions outlive the layer, and are not released at its shutdown", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("persist")
      const first = yield* Effect.scoped(
        Effect.provide(
          Effect.zip(SessionManager.openSession(request("alice")), released),
          managerOn(prefix)
        )
      )
      expect(first[1]).toEqual([])
      const again = yield* Effect.scoped(
        Effect.provide(SessionManager.getSession(request(), tokenOf(first[0])), managerOn(prefix))
      )
      expect(again.key).toBe(first[0].key)
      const store = yield* Effect.scoped(
        Effect.provide(
          Effect.flatMap(SessionStore.SessionStore, (s) => s.count),
          RedisStore.layer({ url, prefix })
        )
      )
      expect(store).toEqual({ anonymous: 0, authenticated: 1 })
    }))
})
