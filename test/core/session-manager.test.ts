import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Redacted,
  Ref,
  Schema,
  Stream,
  TestClock,
  Tracer
} from "effect"
import type { Session } from "effect-session"
import { AuthManager, SessionError, SessionManager, SessionStore, SessionToken } from "effect-session"
import { countingStore, eventually, managerLayer, managerWith, request, settle, StoreCalls, users } from "./support.js"

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const tokenOf = (session: Session.Session) => Redacted.value(session.token!)

describe("openSession", () => {
  it.effect("mints a 43-character base64url token whose SHA-256 is the key, with times from Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000)
      const session = yield* SessionManager.openSession(request("alice"))
      expect(tokenOf(session)).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(SessionToken.isWellFormed(tokenOf(session))).toBe(true)
      expect(session.key).toBe(SessionToken.hash(tokenOf(session)))
      expect(session.principal).toEqual({ id: "alice", anonymous: false })
      expect(session).toMatchObject({ createdAt: 1_000, lastUsedAt: 1_000, expiresAt: 1_000 + 24 * HOUR, data: {} })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("tokens are unique", () =>
    Effect.gen(function*() {
      const sessions = yield* Effect.forEach(Array.from({ length: 200 }), () => SessionManager.openSession(request()))
      expect(new Set(sessions.map(tokenOf)).size).toBe(200)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("ExplicitLogin from authenticate propagates with its tag and nothing is stored", () =>
    Effect.gen(function*() {
      const wrongPassword = request(undefined, { authorization: `Basic ${btoa("carol:nope")}` })
      const error = yield* Effect.flip(SessionManager.openSession(wrongPassword))
      expect(error._tag).toBe("ExplicitLogin")
      const anonymous = yield* Effect.flip(SessionManager.openSession(request()))
      expect(anonymous._tag).toBe("ExplicitLogin")
      expect(yield* SessionManager.currentSessions).toEqual([])
      const ok = yield* SessionManager.openSession(
        request(undefined, { authorization: `Basic ${btoa("carol:secret")}` })
      )
      expect(ok.principal.id).toBe("carol")
    }).pipe(Effect.provide(managerLayer({}, { allowAnonymous: false }))))

  it.effect("a token collision (possible with a test generator) is retried with a new token, then reported", () => {
    const repeating = (tokens: Array<string>) =>
      Layer.succeed(SessionToken.TokenGenerator, {
        generate: Effect.sync(() => Redacted.make(tokens.length > 1 ? tokens.shift()! : tokens[0]))
      })
    const a = "A".repeat(43)
    const b = "B".repeat(42) + "A"
    return Effect.gen(function*() {
      const first = yield* SessionManager.openSession(request())
      const second = yield* SessionManager.openSession(request())
      expect(tokenOf(first)).toBe(a)
      expect(tokenOf(second)).toBe(b)
      const error = yield* Effect.flip(SessionManager.openSession(request()))
      expect(error._tag === "SessionStoreError" && error.reason).toBe("Conflict")
    }).pipe(Effect.provide(managerLayer().pipe(Layer.provide(repeating([a, a, b])))))
  })

  it.effect("a client-chosen id is never adopted: an unknown token does not create a session", () =>
    Effect.gen(function*() {
      const chosen = "C".repeat(42) + "A"
      const error = yield* Effect.flip(SessionManager.getSession(request(), chosen))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
      const opened = yield* SessionManager.openSession(request())
      expect(tokenOf(opened)).not.toBe(chosen)
      expect(yield* SessionManager.currentSessions).toHaveLength(1)
    }).pipe(Effect.provide(managerLayer())))
})

describe("getSession", () => {
  it.effect("malformed tokens fail Malformed without touching the store", () =>
    Effect.gen(function*() {
      const bad = [
        "",
        "short",
        "A".repeat(42),
        "A".repeat(44),
        "A".repeat(42) + "B", // non-canonical: the last character carries stray bits
        "A".repeat(42) + "=",
        "+".repeat(43),
        "A".repeat(41) + "\u0000A",
        "A".repeat(41) + "éA",
        " " + "A".repeat(42)
      ]
      for (const token of bad) {
        const error = yield* Effect.flip(SessionManager.getSession(request(), token))
        expect(error).toBeInstanceOf(SessionError.InvalidSession)
        expect(error._tag === "InvalidSession" && error.reason).toBe("Malformed")
        expect(error.message).not.toContain(token.length > 0 ? token : "\u0001")
      }
      expect(yield* StoreCalls).toBeDefined()
      const calls = yield* Ref.get(yield* StoreCalls)
      expect(calls.touch ?? 0).toBe(0)
      expect(calls.get ?? 0).toBe(0)
    }).pipe(Effect.provide(
      SessionManager.layer({ sweepInterval: "off" }).pipe(
        Layer.provideMerge(countingStore),
        Layer.provideMerge(AuthManager.layerMock())
      )
    )))

  it.effect("unknown tokens fail Unknown; presenting the store key as a cookie is refused", () =>
    Effect.gen(function*() {
      const session = yield* SessionManager.openSession(request("alice"))
      const unknown = yield* Effect.flip(SessionManager.getSession(request(), "Q".repeat(42) + "A"))
      expect(unknown._tag === "InvalidSession" && unknown.reason).toBe("Unknown")
      const byKey = yield* Effect.flip(SessionManager.getSession(request(), session.key))
      expect(byKey._tag).toBe("InvalidSession")
      expect(byKey._tag === "InvalidSession" && ["Malformed", "Unknown"].includes(byKey.reason)).toBe(true)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("accepts the token as a string or Redacted, validates, and touches (sliding idle expiry)", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(29 * MINUTE)
      const got = yield* SessionManager.getSession(request(), opened.token!)
      expect(got.lastUsedAt).toBe(29 * MINUTE)
      expect(got.key).toBe(opened.key)
      yield* TestClock.adjust(29 * MINUTE)
      const again = yield* SessionManager.getSession(request(), tokenOf(opened))
      expect(again.lastUsedAt).toBe(58 * MINUTE)
      const mock = yield* AuthManager.MockAuthManager
      const validations = (yield* mock.calls).filter((call) => call._tag === "validateSession")
      expect(validations).toHaveLength(2)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("idle timeout: expired at exactly idleTimeout, closed and released before the error is returned", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(30 * MINUTE - 1)
      yield* SessionManager.getSession(request(), opened.token!)
      yield* TestClock.adjust(30 * MINUTE)
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Expired", limit: "Idle" })
      expect(yield* mock.released).toEqual([opened.key])
      // later lookups keep answering Expired (not Unknown), and nothing is released twice
      const after = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(after).toMatchObject({ reason: "Expired", limit: "Idle" })
      expect(yield* mock.released).toEqual([opened.key])
    }).pipe(Effect.provide(managerLayer())))

  it.effect("the release has finished when getSession fails with Expired", () => {
    let finished = false
    const auth = AuthManager.layer({
      authenticate: () => Effect.succeed({ id: "u", anonymous: false }),
      release: () =>
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
          finished = true
        })
    })
    return Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(31 * MINUTE)
      yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(finished).toBe(true)
    }).pipe(Effect.provide(
      managerWith(auth)
    ))
  })

  it.effect("absolute lifetime ends even an active session", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      for (let i = 0; i < 71; i++) {
        yield* TestClock.adjust(20 * MINUTE)
        yield* SessionManager.getSession(request(), opened.token!)
      }
      yield* TestClock.adjust(20 * MINUTE) // 24 h
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Expired", limit: "Absolute" })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("anonymous sessions idle out after the anonymous cleanup time (2 minutes by default)", () =>
    Effect.gen(function*() {
      const anonymous = yield* SessionManager.openSession(request())
      const alice = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(2 * MINUTE)
      const error = yield* Effect.flip(SessionManager.getSession(request(), anonymous.token!))
      expect(error).toMatchObject({ reason: "Expired", limit: "Idle" })
      yield* SessionManager.getSession(request(), alice.token!)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("with idleTimeout off, the cleanup time is the idle limit; with absoluteLifetime off there is no end", () =>
    Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      expect(Option.isNone(manager.settings.idleTimeout)).toBe(true)
      const opened = yield* SessionManager.openSession(request("alice"))
      expect(opened.expiresAt).toBeNull()
      yield* TestClock.adjust(12 * HOUR - 1)
      yield* SessionManager.getSession(request(), opened.token!)
      yield* TestClock.adjust(12 * HOUR)
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error).toMatchObject({ reason: "Expired", limit: "Idle" })
    }).pipe(Effect.provide(managerLayer({ idleTimeout: "off", absoluteLifetime: "off" }))))

  it.effect("a rejection by validateSession closes the session and fails Rejected", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* mock.setRejectSession((session) => session.key === opened.key)
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Rejected" })
      expect(yield* mock.released).toEqual([opened.key])
      yield* mock.setRejectSession(() => false)
      const after = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(after._tag === "InvalidSession" && after.reason).toBe("Unknown")
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a release failure on the way to Rejected travels in closeError, not lost", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error._tag).toBe("InvalidSession")
      expect(error._tag === "InvalidSession" && error.closeError?._tag).toBe("SessionCloseError")
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(managerLayer({}, { rejectSession: () => true, failRelease: () => true }))))

  it.effect("a replacement from validateSession is stored under a new token, atomically dropping the old key", () => {
    const auth = AuthManager.layer({
      authenticate: () => Effect.succeed({ id: "alice", anonymous: false }),
      validateSession: (_request, session) =>
        session.principal.id === "alice"
          ? Effect.succeed({ ...session, principal: { id: "alice-admin", anonymous: false }, data: { upgraded: true } })
          : Effect.succeed(session),
      release: (session) => Effect.die(`release must not run for ${session.key}`)
    })
    return Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request())
      const replaced = yield* SessionManager.getSession(request(), opened.token!)
      expect(replaced.key).not.toBe(opened.key)
      expect(tokenOf(replaced)).not.toBe(tokenOf(opened))
      expect(replaced.principal.id).toBe("alice-admin")
      expect(replaced.data).toEqual({ upgraded: true })
      const old = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(old._tag === "InvalidSession" && old.reason).toBe("Unknown")
      const same = yield* SessionManager.getSession(request(), replaced.token!)
      expect(same.key).toBe(replaced.key)
      expect(yield* SessionManager.currentSessions).toHaveLength(1)
    }).pipe(Effect.provide(
      managerWith(auth)
    ))
  })
})

describe("closeSession", () => {
  it.effect("is idempotent, releases exactly once, and accepts a listed session (no token)", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      const [listed] = yield* SessionManager.currentSessions
      expect(listed.token).toBeUndefined()
      yield* SessionManager.closeSession(listed)
      yield* SessionManager.closeSession(opened)
      expect(yield* mock.released).toEqual([opened.key])
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a failing release fails with SessionCloseError (tag intact), yet the session is gone", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const error = yield* Effect.flip(SessionManager.closeSession(opened))
      expect(error._tag).toBe("SessionCloseError")
      expect(error._tag === "SessionCloseError" && error.reason).toBe("Failed")
      expect(yield* SessionManager.currentSessions).toEqual([])
      yield* SessionManager.closeSession(opened)
    }).pipe(Effect.provide(managerLayer({}, { failRelease: () => true }))))

  it.effect("a hanging release is cut by releaseTimeout; a dying one becomes a typed Defect", () => {
    const auth = AuthManager.layer({
      authenticate: (req) => Effect.succeed({ id: req.headers["x-user"] ?? "anonymous", anonymous: false }),
      release: (session) => session.principal.id === "hang" ? Effect.never : Effect.die("boom")
    })
    return Effect.gen(function*() {
      const hang = yield* SessionManager.openSession(request("hang"))
      const fiber = yield* Effect.fork(Effect.flip(SessionManager.closeSession(hang)))
      yield* settle // let the release start its timeout before the clock moves
      yield* TestClock.adjust("5 seconds")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("5 seconds")
      const timeout = yield* Fiber.join(fiber)
      expect(timeout).toMatchObject({ _tag: "SessionCloseError", reason: "Timeout" })
      const dies = yield* SessionManager.openSession(request("dies"))
      const defect = yield* Effect.flip(SessionManager.closeSession(dies))
      expect(defect).toMatchObject({ _tag: "SessionCloseError", reason: "Defect" })
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(
      managerWith(auth)
    ))
  })

  it.effect("racing closers (logout, expiry, revocation, sweep) release once; every closer waits for it", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const sessions = yield* Effect.forEach(
        Array.from({ length: 20 }),
        () => SessionManager.openSession(request("alice"))
      )
      yield* TestClock.adjust(31 * MINUTE)
      yield* Effect.all(
        sessions.flatMap((session) => [
          SessionManager.closeSession(session),
          Effect.exit(SessionManager.getSession(request(), session.token!)),
          SessionManager.closeAllOf("alice"),
          SessionManager.cleanSessions,
          SessionManager.closeSession(session)
        ]),
        { concurrency: "unbounded", discard: true }
      )
      const released = yield* mock.released
      expect(released).toHaveLength(20)
      expect(new Set(released).size).toBe(20)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("an interrupted closer cannot cut the release short", () => {
    let released = 0
    const auth = AuthManager.layer({
      authenticate: () => Effect.succeed({ id: "u", anonymous: false }),
      release: () => Effect.sleep("1 second").pipe(Effect.zipRight(Effect.sync(() => released++)))
    })
    return Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request())
      const fiber = yield* Effect.fork(SessionManager.closeSession(opened))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow()
      expect(released).toBe(1)
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(
      managerWith(auth)
    ))
  })
})

describe("rotateSession", () => {
  it.effect("gives a new token, kills the old one at once, keeps data and age, and does not release", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      const Cart = { name: "cart", schema: Schema.Array(Schema.String) }
      yield* SessionManager.setData(opened, Cart, ["book"])
      yield* TestClock.adjust(MINUTE)
      const rotated = yield* SessionManager.rotateSession(opened)
      expect(tokenOf(rotated)).not.toBe(tokenOf(opened))
      expect(rotated.data).toEqual({ cart: ["book"] })
      expect(rotated.createdAt).toBe(opened.createdAt)
      expect(rotated.lastUsedAt).toBe(MINUTE)
      const old = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(old._tag === "InvalidSession" && old.reason).toBe("Unknown")
      yield* SessionManager.getSession(request(), rotated.token!)
      expect(yield* mock.released).toEqual([])
    }).pipe(Effect.provide(managerLayer())))

  it.effect("rotating to another principal is a login: new principal, lifetime restarted, indexes follow", () =>
    Effect.gen(function*() {
      const anonymous = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(MINUTE)
      const loggedIn = yield* SessionManager.rotateSession(anonymous, { principal: { id: "bob", anonymous: false } })
      expect(loggedIn.principal.id).toBe("bob")
      expect(loggedIn.createdAt).toBe(MINUTE)
      expect(loggedIn.expiresAt).toBe(MINUTE + 24 * HOUR)
      expect((yield* SessionManager.sessionsOf("bob")).map((s) => s.key)).toEqual([loggedIn.key])
      // an anonymous session would have idled out after 2 minutes; bob's has 30
      yield* TestClock.adjust(10 * MINUTE)
      yield* SessionManager.getSession(request(), loggedIn.token!)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("rotating a closed session fails Unknown and creates nothing", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.closeSession(opened)
      const error = yield* Effect.flip(SessionManager.rotateSession(opened))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(managerLayer())))

  it.effect("two concurrent rotations of one session: one wins, the other fails Unknown", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const results = yield* Effect.all([
        Effect.exit(SessionManager.rotateSession(opened, { principal: { id: "alice", anonymous: false } })),
        Effect.exit(SessionManager.rotateSession(opened, { principal: { id: "bob", anonymous: false } }))
      ], { concurrency: "unbounded" })
      expect(results.filter(Exit.isSuccess)).toHaveLength(1)
      expect(yield* SessionManager.currentSessions).toHaveLength(1)
    }).pipe(Effect.provide(managerLayer())))
})

describe("listing and revocation", () => {
  it.effect("currentSessions and sessionsOf list live sessions only, without tokens", () =>
    Effect.gen(function*() {
      yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.openSession(request("bob"))
      yield* SessionManager.openSession(request())
      expect(yield* SessionManager.currentSessions).toHaveLength(4)
      const alices = yield* SessionManager.sessionsOf("alice")
      expect(alices).toHaveLength(2)
      expect(alices.every((s) => s.token === undefined && s.principal.id === "alice")).toBe(true)
      yield* TestClock.adjust(3 * MINUTE) // the anonymous one is expired, not yet swept
      expect(yield* SessionManager.currentSessions).toHaveLength(3)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("closeAllOf closes every session of a principal, or all but one", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const [a1, a2, a3] = yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request("alice")))
      const b = yield* SessionManager.openSession(request("bob"))
      const others = yield* SessionManager.closeAllOf("alice", { except: a2 })
      expect(others).toEqual({ closed: 2, failures: [] })
      expect((yield* SessionManager.sessionsOf("alice")).map((s) => s.key)).toEqual([a2.key])
      expect([...(yield* mock.released)].sort()).toEqual([a1.key, a3.key].sort())
      expect(yield* SessionManager.closeAllOf("alice")).toEqual({ closed: 1, failures: [] })
      yield* SessionManager.getSession(request(), b.token!)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("hasExpired judges a session value against the clock", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      expect(yield* SessionManager.hasExpired(opened)).toBe(false)
      yield* TestClock.adjust(30 * MINUTE)
      expect(yield* SessionManager.hasExpired(opened)).toBe(true)
    }).pipe(Effect.provide(managerLayer())))
})

describe("sweeping", () => {
  it.effect("cleanSessions closes anonymous sessions after 2 minutes and others after their idle limit", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const anonymous = yield* SessionManager.openSession(request())
      const alice = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(2 * MINUTE)
      expect(yield* SessionManager.cleanSessions).toEqual({ closed: 1, remaining: 1, failures: [] })
      expect(yield* mock.released).toEqual([anonymous.key])
      yield* TestClock.adjust(28 * MINUTE)
      expect(yield* SessionManager.cleanSessions).toEqual({ closed: 1, remaining: 0, failures: [] })
      expect(yield* mock.released).toEqual([anonymous.key, alice.key])
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a sweep starts with a small batch (its first slice is short however large the store), then adapts", () => {
    const asked: Array<number> = []
    const recording = Layer.effect(
      SessionStore.SessionStore,
      Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => ({
        ...inner,
        claimExpired: (cutoff, max) => Effect.suspend(() => (asked.push(max), inner.claimExpired(cutoff, max)))
      }))
    )
    const layer = SessionManager.layer({ sweepInterval: "off", sweepBatchSize: 1000 }).pipe(
      Layer.provide(recording),
      Layer.provideMerge(AuthManager.layerMock({ users }))
    )
    return Effect.gen(function*() {
      yield* Effect.all(Array.from({ length: 300 }, () => SessionManager.openSession(request())))
      yield* TestClock.adjust(2 * MINUTE)
      const report = yield* SessionManager.cleanSessions
      expect(report).toEqual({ closed: 300, remaining: 0, failures: [] })
      expect(asked[0]).toBe(64)
      expect(asked.every((max) => max >= 16 && max <= 1000)).toBe(true)
      expect((yield* AuthManager.MockAuthManager.pipe(Effect.flatMap((mock) => mock.released))).length).toBe(300)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a swept token answers Expired for a day, then Unknown", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(2 * MINUTE)
      expect((yield* SessionManager.cleanSessions).closed).toBe(1)
      const soon = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(soon).toMatchObject({ reason: "Expired", limit: "Idle" })
      yield* TestClock.adjust(24 * HOUR)
      const later = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(later).toMatchObject({ reason: "Unknown" })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("an expired session evicted at a cap answers Expired, like a swept one; a live evicted one Unknown", () =>
    Effect.gen(function*() {
      const expired = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(2 * MINUTE)
      const live = yield* SessionManager.openSession(request()) // evicts the expired one
      yield* SessionManager.openSession(request()) // evicts the live one
      expect(yield* Effect.flip(SessionManager.getSession(request(), expired.token!))).toMatchObject({
        reason: "Expired",
        limit: "Idle"
      })
      expect(yield* Effect.flip(SessionManager.getSession(request(), live.token!))).toMatchObject({ reason: "Unknown" })
    }).pipe(Effect.provide(managerLayer({ maxAnonymousSessions: 1 }))))

  it.effect("cleanSessions reports failed releases as values and still removes those sessions", () =>
    Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request()))
      yield* TestClock.adjust(3 * MINUTE)
      const report = yield* SessionManager.cleanSessions
      expect(report.closed).toBe(3)
      expect(report.remaining).toBe(0)
      expect(report.failures.map((f) => f._tag)).toEqual([
        "SessionCloseError",
        "SessionCloseError",
        "SessionCloseError"
      ])
    }).pipe(Effect.provide(managerLayer({}, { failRelease: () => true }))))

  it.effect("the background sweep runs every sweepInterval (default: half the shortest cleanup time)", () =>
    Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      expect(manager.settings.sweepInterval).toEqual(Option.some(expect.anything()))
      const mock = yield* AuthManager.MockAuthManager
      const anonymous = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(2 * MINUTE) // expired, but no sweep has seen it yet at 1 min
      yield* TestClock.adjust(MINUTE) // the sweep at 3 min closes it
      expect(yield* mock.released).toEqual([anonymous.key])
      expect(yield* SessionManager.currentSessions).toEqual([])
      // swept, yet its token still answers why it stopped working
      const error = yield* Effect.flip(SessionManager.getSession(request(), anonymous.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Expired", limit: "Idle" })
    }).pipe(Effect.provide(
      SessionManager.layer().pipe(
        Layer.provideMerge(SessionStore.layerMemory),
        Layer.provideMerge(AuthManager.layerMock({ users }))
      )
    )))

  it.effect("the sweep survives failing releases and sweeps again", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      yield* mock.setFailRelease(() => true)
      yield* SessionManager.openSession(request())
      yield* TestClock.adjust(3 * MINUTE)
      yield* mock.setFailRelease(() => false)
      const second = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(3 * MINUTE)
      expect(yield* mock.released).toContain(second.key)
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(
      SessionManager.layer().pipe(
        Layer.provideMerge(SessionStore.layerMemory),
        Layer.provideMerge(AuthManager.layerMock({ users }))
      )
    )))

  it.effect("closing the layer stops the sweep and releases the memory store's sessions", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* Effect.scoped(
        Effect.gen(function*() {
          const ctx = yield* Layer.build(SessionManager.layer().pipe(Layer.provide(SessionStore.layerMemory)))
          return yield* Effect.forEach([1, 2], () => SessionManager.openSession(request("alice"))).pipe(
            Effect.provide(ctx)
          )
        })
      )
      expect([...(yield* mock.released)].sort()).toEqual(opened.map((s) => s.key).sort())
    }).pipe(Effect.provide(AuthManager.layerMock({ users }))))
})

describe("caps", () => {
  it.effect("maxAnonymousSessions evicts the least recently used anonymous session, which is released", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const first = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(1)
      const second = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(1)
      yield* SessionManager.getSession(request(), first.token!)
      yield* SessionManager.openSession(request())
      // evicted sessions are released in the background: openSession does not wait for them
      yield* eventually(Effect.map(mock.released, (keys) => keys.length > 0))
      expect(yield* mock.released).toEqual([second.key])
      const error = yield* Effect.flip(SessionManager.getSession(request(), second.token!))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
    }).pipe(Effect.provide(managerLayer({ maxAnonymousSessions: 2, touchInterval: "always" }))))

  it.effect("an anonymous flood never evicts authenticated sessions", () =>
    Effect.gen(function*() {
      const alice = yield* SessionManager.openSession(request("alice"))
      const bob = yield* SessionManager.openSession(request("bob"))
      const exits = yield* Effect.forEach(Array.from({ length: 500 }), () =>
        Effect.exit(SessionManager.openSession(request())))
      expect(exits.filter(Exit.isSuccess).length).toBe(500)
      const sessions = yield* SessionManager.currentSessions
      expect(sessions.length).toBeLessThanOrEqual(10)
      expect((yield* SessionManager.getSession(request(), alice.token!)).principal.id).toBe("alice")
      expect((yield* SessionManager.getSession(request(), bob.token!)).principal.id).toBe("bob")
    }).pipe(Effect.provide(managerLayer({ maxSessions: 10, maxAnonymousSessions: 5 }))))

  it.effect("onLimit refuse fails with SessionLimitError", () =>
    Effect.gen(function*() {
      yield* SessionManager.openSession(request("alice"))
      const error = yield* Effect.flip(SessionManager.openSession(request("alice")))
      expect(error).toMatchObject({ _tag: "SessionLimitError", limit: "maxSessionsPerPrincipal", max: 1 })
      yield* SessionManager.openSession(request("bob"))
    }).pipe(Effect.provide(managerLayer({ maxSessionsPerPrincipal: 1, onLimit: "refuse" }))))
})

describe("session data", () => {
  const Counter = { name: "counter", schema: Schema.Number }
  const Profile = { name: "profile", schema: Schema.Struct({ name: Schema.String, tags: Schema.Array(Schema.String) }) }
  const When = { name: "when", schema: Schema.Date }

  it.effect("setData/getData encode and decode through the schema", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      expect(yield* SessionManager.getData(opened, Counter)).toEqual(Option.none())
      const updated = yield* SessionManager.setData(opened, When, new Date(86_400_000))
      expect(updated.token).toBe(opened.token)
      expect(updated.data).toEqual({ when: "1970-01-02T00:00:00.000Z" })
      const when = yield* SessionManager.getData(opened, When)
      expect(Option.getOrThrow(when).getTime()).toBe(86_400_000)
      const removed = yield* SessionManager.removeData(opened, "when")
      expect(removed.data).toEqual({})
    }).pipe(Effect.provide(managerLayer())))

  it.effect("values that fail to decode or are not JSON are SessionDataError", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.setData(opened, { name: "counter", schema: Schema.String }, "not a number")
      const decode = yield* Effect.flip(SessionManager.getData(opened, Counter))
      expect(decode).toMatchObject({ _tag: "SessionDataError", key: "counter", reason: "Decode" })
      const notJson = yield* Effect.flip(SessionManager.setData(opened, { name: "n", schema: Schema.Any }, NaN))
      expect(notJson).toMatchObject({ _tag: "SessionDataError", reason: "NotJson" })
      const date = yield* Effect.flip(SessionManager.setData(opened, { name: "d", schema: Schema.Any }, new Date()))
      expect(date).toMatchObject({ _tag: "SessionDataError", reason: "NotJson" })
      const encode = yield* Effect.flip(SessionManager.setData(opened, Counter, "x" as unknown as number))
      expect(encode).toMatchObject({ _tag: "SessionDataError", reason: "Encode" })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("stored data is a copy: mutating the caller's object later changes nothing", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const profile = { name: "Alice", tags: ["a"] }
      yield* SessionManager.setData(opened, Profile, profile)
      profile.tags.push("mutated")
      expect(Option.getOrThrow(yield* SessionManager.getData(opened, Profile)).tags).toEqual(["a"])
    }).pipe(Effect.provide(managerLayer())))

  it.effect("concurrent requests writing different keys all persist; concurrent increments are not lost", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i),
        (i) =>
          Effect.zip(
            SessionManager.setData(opened, { name: `k${i}`, schema: Schema.Number }, i),
            SessionManager.updateData(opened, Counter, (n) => Option.getOrElse(n, () => 0) + 1)
          ),
        { concurrency: "unbounded" }
      )
      const got = yield* SessionManager.getSession(request(), opened.token!)
      expect(Object.keys(got.data)).toHaveLength(101)
      expect(got.data.counter).toBe(100)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("updateData gives up with a Conflict after its retry budget, changing nothing", () => {
    const alwaysConflicting = Layer.effect(
      SessionStore.SessionStore,
      Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => ({
        ...inner,
        update: (key, change, cutoff) =>
          change.expect === undefined
            ? inner.update(key, change, cutoff)
            : Effect.flatMap(inner.get(key), (record) =>
              Effect.succeed({ _tag: "Conflict", record: Option.getOrThrow(record) } as const))
      }))
    )
    return Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const error = yield* Effect.flip(SessionManager.updateData(opened, Counter, () => 1))
      expect(error).toMatchObject({ _tag: "SessionStoreError", reason: "Conflict", operation: "updateData" })
      expect(yield* SessionManager.getData(opened, Counter)).toEqual(Option.none())
    }).pipe(Effect.provide(
      SessionManager.layer({ sweepInterval: "off" }).pipe(
        Layer.provide(alwaysConflicting),
        Layer.provide(AuthManager.layerMock({ users }))
      )
    ))
  })

  it.effect("a write to a closed or expired session fails and never revives it", () =>
    Effect.gen(function*() {
      const loaded = yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.closeSession(loaded)
      const error = yield* Effect.flip(SessionManager.setData(loaded, Counter, 1))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Unknown")
      const update = yield* Effect.flip(SessionManager.updateData(loaded, Counter, () => 1))
      expect(update._tag === "InvalidSession" && update.reason).toBe("Unknown")
      expect(yield* SessionManager.currentSessions).toEqual([])
      const idle = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(30 * MINUTE)
      const expired = yield* Effect.flip(SessionManager.setData(idle, Counter, 1))
      expect(expired).toMatchObject({ _tag: "InvalidSession", reason: "Expired", limit: "Idle" })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a request in flight across a logout cannot bring the session back", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const inFlight = yield* SessionManager.getSession(request(), opened.token!)
      yield* SessionManager.closeSession(opened) // logout answers
      const late = yield* Effect.flip(SessionManager.setData(inFlight, Counter, 1))
      expect(late._tag).toBe("InvalidSession")
      const rotate = yield* Effect.flip(SessionManager.rotateSession(inFlight))
      expect(rotate._tag).toBe("InvalidSession")
      const replay = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(replay._tag === "InvalidSession" && replay.reason).toBe("Unknown")
    }).pipe(Effect.provide(managerLayer())))
})

describe("observability", () => {
  it.effect("lifecycle events are published as a stream", () =>
    Effect.gen(function*() {
      const collected = yield* SessionManager.events.pipe(Stream.take(4), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow()
      const opened = yield* SessionManager.openSession(request("alice"))
      const rotated = yield* SessionManager.rotateSession(opened)
      yield* SessionManager.closeSession(rotated)
      yield* SessionManager.openSession(request())
      const events = Chunk.toReadonlyArray(yield* Fiber.join(collected))
      expect(events.map((e) => e._tag)).toEqual(["Opened", "Rotated", "Closed", "Opened"])
      expect(events[2]).toMatchObject({ reason: "Logout", principalId: "alice" })
      expect(JSON.stringify(events)).not.toContain(tokenOf(opened))
    }).pipe(Effect.provide(managerLayer())))

  it.effect("spans are recorded, with the short session id, when a tracer is installed", () => {
    const spans: Array<Tracer.Span> = []
    const builtIn = Effect.runSync(Effect.tracer)
    const recording = Tracer.make({
      span: (...args) => {
        const span = builtIn.span(...args)
        spans.push(span)
        return span
      },
      context: (f) => f()
    })
    return Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.getSession(request(), opened.token!)
      yield* SessionManager.closeSession(opened)
      expect(spans.map((span) => span.name)).toEqual([
        "SessionManager.openSession",
        "SessionManager.getSession",
        "SessionManager.closeSession"
      ])
      expect(spans[1].attributes.get("session.id")).toBe(opened.key.slice(0, 12))
      expect(JSON.stringify([...spans[1].attributes])).not.toContain(tokenOf(opened))
    }).pipe(Effect.provide(managerLayer()), Effect.withTracer(recording))
  })

  it.effect("metrics count openings, closes by reason and expiries by limit", () =>
    Effect.gen(function*() {
      const expiredIdle = SessionManager.metrics.expired.pipe(Metric.tagged("limit", "Idle"))
      const openedAnonymous = SessionManager.metrics.opened.pipe(Metric.tagged("kind", "anonymous"))
      const before = {
        expired: (yield* Metric.value(expiredIdle)).count,
        opened: (yield* Metric.value(openedAnonymous)).count
      }
      const opened = yield* SessionManager.openSession(request())
      yield* TestClock.adjust(2 * MINUTE)
      yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect((yield* Metric.value(expiredIdle)).count - before.expired).toBe(1)
      expect((yield* Metric.value(openedAnonymous)).count - before.opened).toBe(1)
    }).pipe(Effect.provide(managerLayer())))
})

describe("the race", () => {
  it.effect(
    "thousands of fibers open, get, rotate and close while the sweeper runs: each session released once",
    () =>
      Effect.gen(function*() {
        const mock = yield* AuthManager.MockAuthManager
        const opened = yield* Ref.make<ReadonlyArray<string>>([])
        const rotatedAway = yield* Ref.make<ReadonlyArray<string>>([])
        const worker = (i: number) =>
          Effect.gen(function*() {
            const session = yield* SessionManager.openSession(request(i % 3 === 0 ? undefined : `user${i % 7}`))
            yield* Ref.update(opened, (keys) => [...keys, session.key])
            const got = yield* Effect.either(SessionManager.getSession(request(), session.token!))
            if (i % 4 === 0 && got._tag === "Right") {
              const rotated = yield* Effect.either(SessionManager.rotateSession(got.right))
              if (rotated._tag === "Right") {
                yield* Ref.update(opened, (keys) => [...keys, rotated.right.key])
                yield* Ref.update(rotatedAway, (keys) => [...keys, got.right.key])
              }
            }
            if (i % 5 === 0) yield* Effect.ignore(SessionManager.closeSession(session))
            if (i % 11 === 0) yield* Effect.ignore(SessionManager.closeAllOf(`user${i % 7}`))
          })
        const ticker = Effect.forEach(
          Array.from({ length: 30 }),
          () => Effect.zipRight(TestClock.adjust(10_000), Effect.yieldNow()),
          {
            discard: true
          }
        )
        yield* Effect.all([
          Effect.forEach(Array.from({ length: 3000 }, (_, i) => i), worker, { concurrency: 64, discard: true }),
          ticker
        ], {
          concurrency: "unbounded"
        })
        // Let every remaining session expire, then sweep.
        yield* TestClock.adjust(31 * MINUTE) // past every idle limit (each sweeper tick costs a real timer)
        yield* SessionManager.cleanSessions
        expect(yield* SessionManager.currentSessions).toEqual([])
        const released = yield* mock.released
        expect(new Set(released).size).toBe(released.length)
        // Every key ever handed out was released exactly once, except keys rotated away (the session
        // lives on under its new key, which is released instead).
        const away = new Set(yield* Ref.get(rotatedAway))
        expect(away.size).toBeGreaterThan(0)
        const expected = (yield* Ref.get(opened)).filter((key) => !away.has(key))
        expect([...released].sort()).toEqual([...expected].sort())
        const count = yield* Effect.flatMap(SessionStore.SessionStore, (store) => store.count)
        expect(count).toEqual({ anonymous: 0, authenticated: 0 })
      }).pipe(Effect.provide(
        // TestClock keeps the sleep of every timeout ever started (even once interrupted) and wakes
        // each one with a real timer as time passes: push auth and release timeouts out of reach.
        SessionManager.layer({ sweepInterval: "30 seconds", authTimeout: "1000 days", releaseTimeout: "1000 days" })
          .pipe(
            Layer.provideMerge(SessionStore.layerMemory),
            Layer.provideMerge(
              AuthManager.layerMock({ users: (c) => Option.some({ id: c.username, anonymous: false }) })
            )
          )
      )),
    { timeout: 60_000 }
  )
})
