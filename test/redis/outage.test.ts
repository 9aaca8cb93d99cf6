/**
 * Redis away, slow or refusing: typed `SessionStoreError` within bounded time (never
 * `InvalidSession`, never a defect or a crash), and service again once Redis is back, without
 * rebuilding the layer. Needs a `redis-server` this process owns (skipped with `REDIS_URL`).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as S, SessionManager, SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { Redis } from "ioredis"
import { record } from "../contract/store-contract.js"
import { retrying } from "../support/retry.js"
import { freePort, freshPrefix, redisServerAvailable, spawnRedis, startRedis } from "./server.js"
import { captureLogs, rawClient, request } from "./support.js"

const server = await startRedis()
afterAll(() => server?.stop())

const Counter = S.dataKey("counter", Schema.Number)
const COMMAND_TIMEOUT = 300
/** The bound on any failing call: the command timeout plus the guard and some scheduling slack. */
const BOUND = COMMAND_TIMEOUT + 500 + 700

const managerOn = (url: string, options: SessionManager.Options = {}) =>
  SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
    Layer.provideMerge(
      RedisStore.layer({ url, prefix: freshPrefix("outage"), commandTimeout: COMMAND_TIMEOUT, connectTimeout: 300 })
    ),
    Layer.provideMerge(AuthManager.layerMock({ users: { alice: {} } }))
  )

const tokenOf = (session: Session.Session) => Redacted.value(session.token!)

/** Runs `op` and checks it fails with a SessionStoreError (Unavailable or Timeout) in bounded time. */
const expectStoreError = <A, E, R>(name: string, op: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = Date.now()
    const exit = yield* Effect.exit(op)
    const elapsed = Date.now() - start
    expect(Exit.isFailure(exit), name).toBe(true)
    if (Exit.isFailure(exit)) {
      expect(Cause.isDie(exit.cause), `${name}: ${Cause.pretty(exit.cause)}`).toBe(false)
      const error = Cause.failureOption(exit.cause)
      expect(error._tag === "Some" && (error.value as { _tag: string })._tag, name).toBe("SessionStoreError")
      const reason = error._tag === "Some" ? (error.value as { reason?: string }).reason : undefined
      expect(["Unavailable", "Timeout"], name).toContain(reason)
    }
    expect(elapsed, name).toBeLessThan(BOUND)
  })

/** Retries `op` every 100 ms until it succeeds, at most `attempts` times. */
describe.skipIf(server === undefined || !server.owned)("Redis outages", () => {
  const redis = server!

  it.live("killed mid-traffic, then restarted on the same port: typed errors, no crash, service resumes", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const session = yield* SessionManager.openSession(request("alice"))
      // traffic on a live session until told to stop (bounded: 2000 requests)
      let stop = false
      const exits: Array<Exit.Exit<unknown, unknown>> = []
      const traffic = yield* Effect.fork(
        Effect.gen(function*() {
          for (let i = 0; i < 2000 && !stop; i++) {
            exits.push(yield* Effect.exit(SessionManager.getSession(request(), tokenOf(session))))
            yield* Effect.sleep("5 millis")
          }
        })
      )
      yield* Effect.sleep("150 millis")
      yield* Effect.promise(() => redis.kill())
      yield* Effect.sleep("500 millis")

      // while Redis is down, every operation fails with SessionStoreError, quickly
      yield* expectStoreError("openSession", SessionManager.openSession(request("alice")))
      yield* expectStoreError("getSession", SessionManager.getSession(request(), tokenOf(session)))
      yield* expectStoreError("setData", SessionManager.setData(session, Counter, 1))
      yield* expectStoreError("getData", SessionManager.getData(session, Counter))
      yield* expectStoreError("rotateSession", SessionManager.rotateSession(session))
      yield* expectStoreError("closeSession", SessionManager.closeSession(session))
      yield* expectStoreError("currentSessions", SessionManager.currentSessions)
      yield* expectStoreError("sessionsOf", SessionManager.sessionsOf("alice"))
      yield* expectStoreError("cleanSessions", SessionManager.cleanSessions)

      stop = true
      yield* traffic.await
      const successes = exits.filter(Exit.isSuccess).length
      const failures = exits.filter(Exit.isFailure)
      expect(successes).toBeGreaterThan(0)
      expect(failures.length).toBeGreaterThan(0)
      for (const exit of failures) {
        expect(Cause.isDie(exit.cause)).toBe(false)
        const error = Cause.failureOption(exit.cause)
        expect(error._tag === "Some" && (error.value as { _tag: string })._tag).toBe("SessionStoreError")
      }

      // back on the same port (empty: this test server keeps no data): the same layer serves again
      yield* Effect.promise(() => redis.restart())
      const fresh = yield* retrying(SessionManager.openSession(request("alice")))
      const again = yield* SessionManager.getSession(request(), tokenOf(fresh))
      expect(again.key).toBe(fresh.key)
      yield* SessionManager.setData(fresh, Counter, 7)
      // the old session died with the server's memory: now (and only now) it is unknown
      const gone = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(session)))
      expect(gone._tag === "InvalidSession" && gone.reason).toBe("Unknown")
      // the outage was logged once, and the recovery
      expect(logs.lines.filter((l) => /connection lost/.test(l.message)).length).toBeGreaterThanOrEqual(1)
      expect(logs.lines.some((l) => /connection restored/.test(l.message))).toBe(true)
    }).pipe(Effect.provide(managerOn(redis.url)), Effect.provide(logs.layer), Effect.scoped)
  }, 30_000)

  it.live("the background sweep survives an outage and works again after it", () =>
    Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request()))
      yield* Effect.promise(() => redis.kill())
      yield* Effect.sleep("400 millis") // several sweeps fail meanwhile
      yield* Effect.promise(() => redis.restart())
      const session = yield* retrying(SessionManager.openSession(request()))
      // the sweeper, still running, claims (and releases) the new anonymous session once it is idle
      const released = yield* retrying(
        Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released).pipe(
          Effect.filterOrFail((keys) => keys.includes(session.key), () => "not yet")
        )
      )
      expect(released.filter((key) => key === session.key)).toHaveLength(1)
      expect(yield* SessionManager.cleanSessions).toMatchObject({ remaining: 0 })
    }).pipe(
      Effect.provide(managerOn(redis.url, { cleanupAnonymousSessionTime: "300 millis", sweepInterval: "100 millis" })),
      Effect.scoped
    ), 30_000)

  it.live(
    "slow Redis (CLIENT PAUSE): Timeout within the command timeout, then service again",
    () =>
      Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        const admin = rawClient(redis.url)
        yield* Effect.addFinalizer(() => Effect.sync(() => admin.disconnect()))
        yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", "1500", "ALL"))
        const start = Date.now()
        const error = yield* Effect.flip(SessionManager.getSession(request(), tokenOf(session)))
        expect(Date.now() - start).toBeLessThan(BOUND)
        expect(error._tag === "SessionStoreError" && error.reason).toBe("Timeout")
        const ok = yield* retrying(SessionManager.getSession(request(), tokenOf(session)), 50)
        expect(ok.key).toBe(session.key)
      }).pipe(Effect.provide(managerOn(redis.url)), Effect.scoped),
    30_000
  )

  it.live(
    "make on a client without commandTimeout: the store's own deadline gives Timeout",
    () =>
      Effect.gen(function*() {
        const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
        client.on("error", () => {})
        yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
        // the client is still connecting: make waits for it
        const store = yield* RedisStore.make(client, { prefix: freshPrefix("deadline"), commandTimeout: 200 })
        yield* store.insert(record("k"), SessionStore.unlimited)
        const admin = rawClient(redis.url)
        yield* Effect.addFinalizer(() => Effect.sync(() => admin.disconnect()))
        yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", "1500", "ALL"))
        const start = Date.now()
        const error = yield* Effect.flip(store.get("k"))
        expect(Date.now() - start).toBeLessThan(200 + 500 + 700)
        expect(error.reason).toBe("Timeout")
        const ok = yield* retrying(store.get("k"), 50)
        expect(Option.isSome(ok)).toBe(true)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "refusing Redis (out of memory): writes fail with SessionStoreError, lookups still serve; fine again after",
    () =>
      Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        const others = yield* Effect.all([
          SessionManager.openSession(request("alice")),
          SessionManager.openSession(request())
        ])
        const admin = rawClient(redis.url)
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => admin.config("SET", "maxmemory", "0")).pipe(
            Effect.ensuring(Effect.sync(() => admin.disconnect()))
          )
        )
        yield* Effect.promise(() => admin.config("SET", "maxmemory", "1"))
        yield* expectStoreError("openSession", SessionManager.openSession(request("alice")))
        yield* expectStoreError("setData", SessionManager.setData(session, Counter, 1))
        yield* expectStoreError("rotateSession", SessionManager.rotateSession(session))
        // a lookup is a read-only command, lookups together one read-only script: Redis runs both
        // out of memory (their touch is not due)
        expect((yield* SessionManager.getSession(request(), tokenOf(session))).key).toBe(session.key)
        const together = yield* Effect.all(
          [session, ...others].map((s) => SessionManager.getSession(request(), tokenOf(s))),
          { concurrency: "unbounded" }
        )
        expect(together.map((s) => s.key)).toEqual([session, ...others].map((s) => s.key))
        // a due touch that Redis refuses serves the session untouched
        const store = yield* SessionStore.SessionStore
        const now = Date.now()
        const due = yield* store.touch(session.key, { now, idleBefore: { anonymous: 0, authenticated: 0 } }, now)
        expect(due._tag).toBe("Read")
        expect(due._tag === "Read" && due.record.lastUsedAt).toBe(session.lastUsedAt)
        // logging out frees memory: it works out of memory
        yield* SessionManager.closeSession(session)
        yield* Effect.promise(() => admin.config("SET", "maxmemory", "0"))
        const fresh = yield* SessionManager.openSession(request("alice"))
        expect((yield* SessionManager.getSession(request(), tokenOf(fresh))).key).toBe(fresh.key)
      }).pipe(Effect.provide(managerOn(redis.url)), Effect.scoped),
    30_000
  )

  it.live(
    "down at start: the layer builds, operations fail typed, and it serves once Redis is up",
    () =>
      Effect.gen(function*() {
        const port = yield* Effect.promise(() => freePort())
        const url = `redis://127.0.0.1:${port}`
        const logs = captureLogs()
        yield* Effect.gen(function*() {
          yield* expectStoreError("openSession", SessionManager.openSession(request("alice")))
          // lookups issued together (one script call for all): each fails typed
          const tokens = [1, 2, 3].map((n) => Buffer.alloc(32, n).toString("base64url"))
          const lookups = yield* Effect.all(
            tokens.map((token) => Effect.flip(SessionManager.getSession(request(), token))),
            { concurrency: "unbounded" }
          )
          for (const error of lookups) expect(error).toMatchObject({ _tag: "SessionStoreError", reason: "Unavailable" })
          const late = yield* Effect.acquireRelease(
            Effect.promise(() => spawnRedis(port)),
            (s) => Effect.promise(() => s.stop())
          )
          expect(late.port).toBe(port)
          const session = yield* retrying(SessionManager.openSession(request("alice")))
          expect((yield* SessionManager.getSession(request(), tokenOf(session))).key).toBe(session.key)
        }).pipe(Effect.provide(managerOn(url)), Effect.provide(logs.layer), Effect.scoped)
        expect(logs.lines.some((l) => /not reachable yet/.test(l.message))).toBe(true)
      }),
    30_000
  )
})

describe("redis-server availability", () => {
  it("is never skipped in CI", () => {
    if (process.env.CI) expect(redisServerAvailable() || Boolean(process.env.REDIS_URL)).toBe(true)
  })
})
