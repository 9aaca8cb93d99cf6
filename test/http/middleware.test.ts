/**
 * The HTTP session middleware through a real server on loopback: cookie attributes and when the
 * cookie is written, the session lifecycle (store, reuse, expiry, login with rotation, logout,
 * replacement, revocation), failures mapped to HTTP, configuration checked at layer build, and
 * the helpers used outside the middleware. Lazy opening, CSRF, login races and bearer tokens have
 * their own files.
 */
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, LogLevel, Option, TestClock } from "effect"
import { AuthManager, HttpSession, SessionError, SessionToken } from "effect-session"
import {
  cookieAttributes,
  cookieValue,
  Counter,
  json,
  mint,
  type Reply,
  request,
  router,
  serve,
  sessionLayer,
  StoreProbe
} from "./support.js"

const basic = (user: string, password: string) => ({ authorization: `Basic ${btoa(`${user}:${password}`)}` })
const alice = basic("alice", "alice")
const sid = (token: string) => `sid=${token}`

/** Opens a session and logs it in as alice. */
const loggedIn = Effect.gen(function*() {
  const { token } = yield* mint
  const reply = yield* request("POST", "/login", { cookie: sid(token), headers: alice })
  expect(reply.status).toBe(200)
  return { anonymousToken: token, token: cookieValue(reply)!, body: json(reply), reply }
})

const attributesWithoutLifetime = (reply: Reply) =>
  cookieAttributes(reply).filter((attribute) => !/^(Max-Age|Expires)=/.test(attribute))

describe("cookie attributes", () => {
  it.live("safe defaults: HttpOnly, Secure, SameSite=Lax explicit, Path=/, no Domain, Max-Age", () =>
    Effect.gen(function*() {
      const { reply } = yield* mint
      expect(cookieAttributes(reply)).toEqual(["Max-Age=120", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"])
      expect(reply.headers["cache-control"]).toBe("no-store")
      expect(reply.headers["vary"]).toBe("Cookie")
    }).pipe(Effect.provide(serve(router, { http: {} }))))

  it.live("Max-Age follows the idle limit of the session's kind (anonymous 2 min, authenticated 30 min)", () =>
    Effect.gen(function*() {
      const { reply, token } = yield* mint
      expect(cookieAttributes(reply)).toContain("Max-Age=120")
      const login = yield* request("POST", "/login", { cookie: sid(token), headers: alice })
      expect(cookieAttributes(login)).toContain("Max-Age=1800")
    }).pipe(Effect.provide(serve())))

  it.live("Max-Age follows the manager's options", () =>
    Effect.gen(function*() {
      const { reply } = yield* mint
      expect(cookieAttributes(reply)).toContain("Max-Age=300")
    }).pipe(
      Effect.provide(serve(router, { manager: { idleTimeout: "5 minutes", cleanupAnonymousSessionTime: "off" } }))
    ))

  it.scoped("Max-Age is capped by the time left before the absolute expiry (TestClock)", () =>
    Effect.gen(function*() {
      const { token } = yield* loggedIn
      yield* TestClock.adjust("20 minutes")
      const at20 = yield* request("GET", "/", { cookie: sid(token) })
      expect(cookieAttributes(at20)).toContain("Max-Age=1800")
      yield* TestClock.adjust("20 minutes")
      const at40 = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(at40).principal).toBe("alice")
      expect(cookieAttributes(at40)).toContain("Max-Age=1200")
      yield* TestClock.adjust("20 minutes")
      const at60 = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(at60)).toMatchObject({ principal: "anonymous", opened: true })
    }).pipe(Effect.provide(serve(router, { manager: { absoluteLifetime: "1 hour" } }))))

  it.live("maxAge: browser writes no Max-Age", () =>
    Effect.gen(function*() {
      const { reply } = yield* mint
      expect(cookieAttributes(reply)).toEqual(["Path=/", "HttpOnly", "SameSite=Lax"])
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false, maxAge: "browser" } } }))))

  it.live("__Host- prefix: Secure, Path=/, no Domain; only the prefixed name is read", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/save")
      const token = cookieValue(reply, "__Host-sid")!
      expect(SessionToken.isWellFormed(token)).toBe(true)
      expect(cookieAttributes(reply, "__Host-sid")).toEqual([
        "Max-Age=120",
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Lax"
      ])
      const again = yield* request("GET", "/", { cookie: `__Host-sid=${token}` })
      expect(json(again).opened).toBe(false)
      const unprefixed = yield* request("GET", "/", { cookie: `sid=${token}` })
      expect(json(unprefixed).opened).toBe(true)
    }).pipe(Effect.provide(serve(router, { http: { cookie: { hostPrefix: true } } }))))

  it.live("domain, path and sameSite as configured", () =>
    Effect.gen(function*() {
      const { reply } = yield* mint
      expect(cookieAttributes(reply)).toEqual([
        "Max-Age=120",
        "Domain=example.com",
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Strict"
      ])
    }).pipe(Effect.provide(serve(router, { http: { cookie: { domain: "example.com", sameSite: "strict" } } }))))

  it.live("secure: auto — plain http gets no Secure; X-Forwarded-Proto counts only with trustProxy", () =>
    Effect.gen(function*() {
      const plain = yield* request("GET", "/save")
      expect(cookieAttributes(plain)).not.toContain("Secure")
      const forwarded = yield* request("GET", "/save", { headers: { "x-forwarded-proto": "https" } })
      expect(cookieAttributes(forwarded)).not.toContain("Secure")
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: "auto" } } }))))

  it.live("secure: auto with trustProxy follows X-Forwarded-Proto (first value)", () =>
    Effect.gen(function*() {
      const https = yield* request("GET", "/save", { headers: { "x-forwarded-proto": "https, http" } })
      expect(cookieAttributes(https)).toContain("Secure")
      const http = yield* request("GET", "/save", { headers: { "x-forwarded-proto": "http" } })
      expect(cookieAttributes(http)).not.toContain("Secure")
      const none = yield* request("GET", "/save")
      expect(cookieAttributes(none)).not.toContain("Secure")
      // logout expires with the same decision
      const token = cookieValue(https)!
      const logout = yield* request("POST", "/logout", {
        cookie: sid(token),
        headers: { "x-forwarded-proto": "https" }
      })
      expect(cookieAttributes(logout)).toContain("Secure")
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: "auto" }, trustProxy: true } }))))

  it.scoped("rolling (default): re-set with a fresh Max-Age when a lookup moved the idle deadline, only then", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      // the anonymous idle limit is 2 minutes: lookups touch (and move the deadline) every 12 s
      yield* TestClock.adjust("5 seconds")
      const early = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(early).opened).toBe(false)
      expect(early.setCookies).toEqual([])
      expect(early.headers["cache-control"]).toBeUndefined()
      yield* TestClock.adjust("10 seconds")
      const due = yield* request("GET", "/", { cookie: sid(token) })
      expect(cookieValue(due)).toBe(token)
      expect(cookieAttributes(due)).toContain("Max-Age=120")
      expect(due.headers["cache-control"]).toBe("no-store")
      const right = yield* request("GET", "/", { cookie: sid(token) })
      expect(right.setCookies).toEqual([])
      // a data write moves the deadline too: the cookie follows it
      yield* TestClock.adjust("1 second")
      const write = yield* request("GET", "/count", { cookie: sid(token) })
      expect(cookieValue(write)).toBe(token)
      expect(cookieAttributes(write)).toContain("Max-Age=120")
    }).pipe(Effect.provide(serve())))

  it.scoped("rolling: false — the cookie is written only when the token changes", () =>
    Effect.gen(function*() {
      const { reply, token } = yield* mint
      // Max-Age: the time left before the absolute expiry (24 hours by default)
      expect(cookieAttributes(reply)).toContain("Max-Age=86400")
      yield* TestClock.adjust("30 seconds")
      const again = yield* request("GET", "/count", { cookie: sid(token) })
      expect(json(again).counter).toBe(1)
      expect(again.setCookies).toEqual([])
      expect(again.headers["cache-control"]).toBeUndefined()
      const login = yield* request("POST", "/login", { cookie: sid(token), headers: alice })
      expect(cookieValue(login)).not.toBe(token)
      expect(login.headers["cache-control"]).toBe("no-store")
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, rolling: false } }))))

  it.live("Cache-Control: no-store and Vary: Cookie override and extend the handler's headers", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/cacheable")
      expect(reply.headers["cache-control"]).toBe("no-store")
      expect(reply.headers["vary"]).toBe("Accept-Encoding, Cookie")
    }).pipe(Effect.provide(serve())))
})

describe("session lifecycle over HTTP", () => {
  it.live("the same cookie is the same session; data written through the helpers is live", () =>
    Effect.gen(function*() {
      const { body, token } = yield* mint
      expect(body).toMatchObject({ opened: true, stored: true })
      const one = yield* request("GET", "/count", { cookie: sid(token) })
      const two = yield* request("GET", "/count", { cookie: sid(token) })
      expect(json(one)).toEqual({ counter: 1, sameAsLive: true, read: 1 })
      expect(json(two)).toEqual({ counter: 2, sameAsLive: true, read: 2 })
      const who = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(who)).toEqual({ ...body, opened: false })
    }).pipe(Effect.provide(serve())))

  it.scoped("an idle anonymous session expires: the next request gets a new one, the dead cookie expired", () =>
    Effect.gen(function*() {
      const { body, token } = yield* mint
      yield* TestClock.adjust("119 seconds")
      const kept = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(kept).id).toBe(body.id)
      yield* TestClock.adjust("2 minutes")
      const expired = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(expired)).toMatchObject({ opened: true, stored: false })
      expect(cookieValue(expired)).toBe("")
      expect(cookieAttributes(expired)).toContain("Max-Age=0")
      const mock = yield* AuthManager.MockAuthManager
      expect(yield* mock.released).toEqual([SessionToken.hash(token)])
    }).pipe(Effect.provide(serve())))

  it.live("login rotates the session to the principal: new token, old one dead, data starts clean", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      yield* request("GET", "/count", { cookie: sid(token) })
      const mock = yield* AuthManager.MockAuthManager
      const before = (yield* mock.calls).length
      const login = yield* request("POST", "/login", { cookie: sid(token), headers: alice })
      const calls = (yield* mock.calls).slice(before)
      expect(calls.filter((call) => call._tag === "authenticate")).toEqual([
        { _tag: "authenticate", result: "ok", principalId: "alice" }
      ])
      expect(json(login)).toMatchObject({ principal: "alice", anonymous: false, opened: false })
      const next = cookieValue(login)!
      expect(next).not.toBe(token)
      expect(SessionToken.isWellFormed(next)).toBe(true)
      // the anonymous session's data does not cross to alice (SessionManager.RotateOptions)
      const count = yield* request("GET", "/count", { cookie: sid(next) })
      expect(json(count).counter).toBe(1)
      // the pre-login token is refused (fixation defeated): not alice, a new anonymous session
      const replay = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(replay)).toMatchObject({ principal: "anonymous", opened: true, stored: false })
    }).pipe(Effect.provide(serve())))

  it.live("login from a request without a cookie: one authentication, one session", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const login = yield* request("POST", "/login", { headers: alice })
      expect(json(login)).toMatchObject({ principal: "alice", opened: true })
      expect((yield* mock.calls).filter((call) => call._tag === "authenticate")).toHaveLength(1)
      const probe = yield* StoreProbe
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 1 })
    }).pipe(Effect.provide(serve())))

  it.live("a failed login answers 401 and leaves the session as it was", () =>
    Effect.gen(function*() {
      const { body, token } = yield* mint
      const wrong = yield* request("POST", "/login", { cookie: sid(token), headers: basic("alice", "bob") })
      expect(wrong.status).toBe(401)
      expect(wrong.body).toBe("Login required")
      // the cookie is left alone
      expect(wrong.setCookies).toEqual([])
      const none = yield* request("POST", "/login", { cookie: sid(token) })
      expect(none.status).toBe(401)
      const who = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(who)).toEqual({ ...body, opened: false })
    }).pipe(Effect.provide(serve())))

  it.live("a failed login redirects to loginUrl when one is set", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const wrong = yield* request("POST", "/login", { cookie: sid(token), headers: basic("alice", "bob") })
      expect(wrong.status).toBe(303)
      expect(wrong.headers["location"]).toBe("/login?failed=1")
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, loginUrl: "/login?failed=1" } }))))

  it.live("logout closes the session and expires the cookie with identical attributes", () =>
    Effect.gen(function*() {
      const { body, reply: set, token } = yield* loggedIn
      const logout = yield* request("POST", "/logout", { cookie: sid(token) })
      expect(logout.status).toBe(200)
      expect(cookieValue(logout)).toBe("")
      expect(cookieAttributes(logout)).toContain("Max-Age=0")
      expect(attributesWithoutLifetime(logout)).toEqual(attributesWithoutLifetime(set))
      expect(logout.headers["cache-control"]).toBe("no-store")
      expect(logout.headers["clear-site-data"]).toBeUndefined()
      const mock = yield* AuthManager.MockAuthManager
      expect(yield* mock.released).toContain(SessionToken.hash(token))
      // I1: the old cookie replayed is never served as that session
      const replay = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(replay)).toMatchObject({ principal: "anonymous", opened: true, stored: false })
      expect(json(replay).id).not.toBe(body.id)
    }).pipe(Effect.provide(serve())))

  it.live("logout expires with identical attributes under custom cookie options, with Clear-Site-Data", () =>
    Effect.gen(function*() {
      const { token } = yield* loggedIn
      const set = yield* request("GET", "/count", { cookie: sid(token) })
      const logout = yield* request("POST", "/logout", { cookie: sid(token) })
      expect(attributesWithoutLifetime(set)).toEqual([
        "Domain=example.com",
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Strict"
      ])
      expect(attributesWithoutLifetime(logout)).toEqual(attributesWithoutLifetime(set))
      expect(logout.headers["clear-site-data"]).toBe(`"cache", "cookies", "storage"`)
    }).pipe(Effect.provide(
      serve(router, { http: { cookie: { domain: "example.com", sameSite: "strict" }, clearSiteData: true } })
    )))

  it.live("rotate: a new token, the old one dead", () =>
    Effect.gen(function*() {
      const { body, token } = yield* mint
      const rotated = yield* request("POST", "/rotate", { cookie: sid(token) })
      const next = cookieValue(rotated)!
      expect(next).not.toBe(token)
      expect(json(rotated).principal).toBe(body.principal)
      expect(json(yield* request("GET", "/", { cookie: sid(next) })).opened).toBe(false)
      expect(json(yield* request("GET", "/", { cookie: sid(token) })).opened).toBe(true)
    }).pipe(Effect.provide(serve())))

  it.live("a token change is sent even when the handler then fails (500)", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const failed = yield* request("POST", "/rotate-then-fail", { cookie: sid(token) })
      expect(failed.status).toBe(500)
      const next = cookieValue(failed)!
      expect(SessionToken.isWellFormed(next)).toBe(true)
      expect(next).not.toBe(token)
      expect(failed.headers["cache-control"]).toBe("no-store")
      expect(json(yield* request("GET", "/", { cookie: sid(next) })).opened).toBe(false)
    }).pipe(Effect.provide(serve())))

  it.live("a login is sent even when the handler then dies (500)", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const died = yield* request("POST", "/login-then-die", { cookie: sid(token), headers: alice })
      expect(died.status).toBe(500)
      const next = cookieValue(died)!
      expect(json(yield* request("GET", "/", { cookie: sid(next) }))).toMatchObject({
        principal: "alice",
        opened: false
      })
    }).pipe(Effect.provide(serve())))

  it.live("a session closed under the handler: 401 and the dead cookie expired", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const reply = yield* request("POST", "/revoked-then-write", { cookie: sid(token) })
      expect(reply.status).toBe(401)
      expect(cookieValue(reply)).toBe("")
      expect(cookieAttributes(reply)).toContain("Max-Age=0")
    }).pipe(Effect.provide(serve())))

  it.live("a replacement from validateSession is stored under a new token and the cookie re-set", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const replaced = yield* request("GET", "/count", { cookie: sid(token), headers: { "x-replace": "1" } })
      const next = cookieValue(replaced)!
      expect(next).not.toBe(token)
      expect(json(replaced).counter).toBe(100)
      expect(json(yield* request("GET", "/", { cookie: sid(next) })).opened).toBe(false)
      expect(json(yield* request("GET", "/", { cookie: sid(token) })).opened).toBe(true)
    }).pipe(Effect.provide(serve(router, {
      auth: AuthManager.layer({
        authenticate: () => Effect.succeed(AuthManager.anonymous),
        validateSession: (request, session) =>
          request.headers["x-replace"] === undefined
            ? Effect.succeed(session)
            : Effect.succeed({ ...session, data: { ...session.data, counter: 99 } })
      })
    }))))

  it.live("a session rejected by validateSession is closed and replaced by a fresh one", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const mock = yield* AuthManager.MockAuthManager
      yield* mock.setRejectSession(() => true)
      const reply = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(reply)).toMatchObject({ opened: true, stored: false })
      expect(cookieAttributes(reply)).toContain("Max-Age=0")
      expect(yield* mock.released).toEqual([SessionToken.hash(token)])
    }).pipe(Effect.provide(serve())))

  it.live("log out everywhere else: the other sessions of the principal are closed", () =>
    Effect.gen(function*() {
      const a = yield* loggedIn
      const b = yield* loggedIn
      const reply = yield* request("GET", "/logout-everywhere-else", { cookie: sid(a.token) })
      expect(json(reply)).toEqual({ closed: 1 })
      expect(json(yield* request("GET", "/", { cookie: sid(b.token) }))).toMatchObject({ principal: "anonymous" })
      expect(json(yield* request("GET", "/", { cookie: sid(a.token) }))).toMatchObject({ principal: "alice" })
    }).pipe(Effect.provide(serve())))

  it.live("parallel first requests each get their own session", () =>
    Effect.gen(function*() {
      const replies = yield* Effect.all(Array.from({ length: 20 }, () => request("GET", "/save")), { concurrency: 20 })
      expect(new Set(replies.map((reply) => cookieValue(reply))).size).toBe(20)
      const probe = yield* StoreProbe
      expect(yield* probe.count).toEqual({ anonymous: 20, authenticated: 0 })
    }).pipe(Effect.provide(serve())))

  it.live("logs never hold a raw token, at any level, whatever the cookie", () => {
    const lines: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
      })
    )
    return Effect.gen(function*() {
      const { token } = yield* mint
      const tokens = [token]
      yield* request("GET", "/", { cookie: `sid=${token}; sid=${token}` })
      yield* request("GET", "/", { cookie: `sid="${token}"` })
      const forged = "A".repeat(42) + "E"
      yield* request("GET", "/", { cookie: sid(forged) })
      const login = yield* request("POST", "/login", { cookie: sid(token), headers: alice })
      tokens.push(cookieValue(login)!)
      yield* request("POST", "/logout", { cookie: sid(tokens[1]) })
      yield* request("GET", "/", { cookie: sid(tokens[1]) })
      const probe = yield* StoreProbe
      yield* probe.setDown(true)
      yield* request("GET", "/", { cookie: sid(token) })
      yield* probe.setDown(false)
      expect(lines.length).toBeGreaterThan(5)
      for (const value of [...tokens, forged]) {
        expect(lines.filter((line) => line.includes(value))).toEqual([])
      }
    }).pipe(
      Effect.provide(serve()),
      Effect.provide(Layer.merge(capture, Logger.minimumLogLevel(LogLevel.All)))
    )
  })

  it.live("middleware applied to a plain HttpApp", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/anything")
      expect(reply.body).toBe("anonymous")
      expect(SessionToken.isWellFormed(cookieValue(reply)!)).toBe(true)
    }).pipe(Effect.provide(serve(
      HttpSession.middleware(
        Effect.map(HttpSession.save, (session) => HttpServerResponse.text(session.principal.id))
      )
    ))))
})

// Routes that switch the store down mid-request
const downRouter = HttpRouter.empty.pipe(
  HttpRouter.get("/save", Effect.as(HttpSession.save, HttpServerResponse.unsafeJson({ saved: true }))),
  HttpRouter.get(
    "/",
    Effect.flatMap(
      HttpSession.CurrentSession,
      (current) => Effect.as(current.get, HttpServerResponse.unsafeJson({ opened: current.opened }))
    )
  ),
  HttpRouter.post(
    "/down-then-logout",
    Effect.gen(function*() {
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(true))
      yield* HttpSession.logout
      return HttpServerResponse.text("unreachable")
    })
  ),
  HttpRouter.post(
    "/down-then-write",
    Effect.gen(function*() {
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(true))
      yield* HttpSession.setData(Counter, 1)
      return HttpServerResponse.text("unreachable")
    })
  ),
  HttpRouter.post(
    "/rotate-then-down",
    Effect.gen(function*() {
      yield* HttpSession.rotate
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(true))
      yield* HttpSession.setData(Counter, 1)
      return HttpServerResponse.text("unreachable")
    })
  ),
  HttpRouter.use(HttpSession.middleware)
)

describe("failures mapped to HTTP", () => {
  it.live("store down with a valid cookie: 503, the cookie neither refreshed nor cleared (I3)", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const probe = yield* StoreProbe
      yield* probe.setDown(true)
      const down = yield* request("GET", "/", { cookie: sid(token) })
      expect(down.status).toBe(503)
      expect(down.setCookies).toEqual([])
      yield* probe.setDown(false)
      const back = yield* request("GET", "/", { cookie: sid(token) })
      expect(json(back).opened).toBe(false)
    }).pipe(Effect.provide(serve())))

  it.live("store down on a first request: served while nothing is stored; 503 without a cookie on a write", () =>
    Effect.gen(function*() {
      const probe = yield* StoreProbe
      yield* probe.setDown(true)
      const read = yield* request("GET", "/")
      expect(read.status).toBe(200)
      expect(json(read)).toMatchObject({ principal: "anonymous", stored: false })
      const down = yield* request("GET", "/save")
      expect(down.status).toBe(503)
      expect(down.body).toBe("Session store unavailable, try again later")
      expect(down.setCookies).toEqual([])
      yield* probe.setDown(false)
    }).pipe(Effect.provide(serve())))

  it.live("store down during logout: 503, the cookie kept, the session still alive", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const reply = yield* request("POST", "/down-then-logout", { cookie: sid(token) })
      expect(reply.status).toBe(503)
      expect(reply.setCookies).toEqual([])
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(false))
      expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toEqual({ opened: false })
    }).pipe(Effect.provide(serve(downRouter))))

  it.live("store down during a data write: 503 without a rolling refresh", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const reply = yield* request("POST", "/down-then-write", { cookie: sid(token) })
      expect(reply.status).toBe(503)
      expect(reply.setCookies).toEqual([])
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(false))
    }).pipe(Effect.provide(serve(downRouter))))

  it.live("store down after a rotation: 503, but the new token is still sent (the old one is dead)", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const reply = yield* request("POST", "/rotate-then-down", { cookie: sid(token) })
      expect(reply.status).toBe(503)
      const next = cookieValue(reply)!
      expect(next).not.toBe(token)
      yield* Effect.flatMap(StoreProbe, (probe) => probe.setDown(false))
      expect((yield* request("GET", "/", { cookie: sid(next) })).status).toBe(200)
    }).pipe(Effect.provide(serve(downRouter))))

  it.live("session cap reached with onLimit: refuse: 503", () =>
    Effect.gen(function*() {
      yield* mint
      const refused = yield* request("GET", "/save")
      expect(refused.status).toBe(503)
      expect(refused.body).toBe("Too many sessions, try again later")
      expect(refused.setCookies).toEqual([])
    }).pipe(Effect.provide(serve(router, { manager: { maxSessions: 1, onLimit: "refuse" } }))))

  it.live("auth manager defect: 503", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/")
      expect(reply.status).toBe(503)
      expect(reply.setCookies).toEqual([])
    }).pipe(Effect.provide(serve(router, { mock: { credentials: () => Effect.die("auth backend exploded") } }))))

  it.live("auth manager hang: 503 after authTimeout, also for login", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/")
      expect(reply.status).toBe(503)
      expect(reply.body).toBe("Authentication unavailable, try again later")
    }).pipe(Effect.provide(serve(router, {
      manager: { authTimeout: "50 millis" },
      mock: { credentials: () => Effect.never }
    }))))

  it.live("ExplicitLogin without loginUrl: 401 where the session is read, nothing where it is not", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/")
      expect(reply.status).toBe(401)
      expect(reply.setCookies).toEqual([])
      expect((yield* request("GET", "/untouched")).status).toBe(200)
    }).pipe(Effect.provide(serve(router, { mock: { allowAnonymous: false } }))))

  it.live("ExplicitLogin with loginUrl: 303 to it, except a GET of the login page itself (no loop)", () =>
    Effect.gen(function*() {
      const home = yield* request("GET", "/")
      expect(home.status).toBe(303)
      expect(home.headers["location"]).toBe("/login")
      expect((yield* request("GET", "/login")).status).toBe(401)
      expect((yield* request("GET", "/login?next=%2F")).status).toBe(401)
      expect((yield* request("POST", "/rotate")).status).toBe(303)
    }).pipe(
      Effect.provide(
        serve(router, { http: { cookie: { secure: false }, loginUrl: "/login" }, mock: { allowAnonymous: false } })
      )
    ))
})

describe("configuration is checked when the layer is built", () => {
  const bad: ReadonlyArray<readonly [string, HttpSession.Options]> = [
    ["cookie.name", { cookie: { name: "" } }],
    ["cookie.name", { cookie: { name: "my sid" } }],
    ["cookie.name", { cookie: { name: "sid;" } }],
    ["cookie.name", { cookie: { name: "s\u00e9ssion" } }],
    ["cookie.name", { cookie: { name: "x".repeat(300) } }],
    ["cookie.name", { cookie: { name: "__host-sid" } }],
    ["cookie.secure", { cookie: { hostPrefix: true, secure: false } }],
    ["cookie.secure", { cookie: { hostPrefix: true, secure: "auto" } }],
    ["cookie.secure", { cookie: { name: "__Host-sid", secure: false } }],
    ["cookie.secure", { cookie: { name: "__Secure-sid", secure: false } }],
    ["cookie.path", { cookie: { hostPrefix: true, path: "/app" } }],
    ["cookie.domain", { cookie: { hostPrefix: true, domain: "example.com" } }],
    ["cookie.sameSite", { cookie: { sameSite: "none", secure: false } }],
    ["cookie.sameSite", { cookie: { sameSite: "none", secure: "auto" } }],
    ["cookie.sameSite", { cookie: { sameSite: "LAX" as any } }],
    ["cookie.secure", { cookie: { secure: "yes" as any } }],
    ["cookie.path", { cookie: { path: "app" } }],
    ["cookie.path", { cookie: { path: "/a;b" } }],
    ["cookie.path", { cookie: { path: "/a b" } }],
    ["cookie.domain", { cookie: { domain: "exa mple.com" } }],
    ["cookie.domain", { cookie: { domain: "example.com;" } }],
    ["cookie.domain", { cookie: { domain: "" } }],
    ["cookie.maxAge", { cookie: { maxAge: "forever" as any } }],
    ["onInvalid", { onInvalid: "ignore" as any }],
    ["loginUrl", { loginUrl: "//evil.example/login" }],
    ["loginUrl", { loginUrl: "javascript:alert(1)" }],
    ["loginUrl", { loginUrl: "login" }],
    ["rolling", { rolling: "yes" as any }],
    ["trustProxy", { trustProxy: 1 as any }],
    ["clearSiteData", { clearSiteData: ["everything" as any] }],
    ["clearSiteData", { clearSiteData: [] }],
    ["open", { open: "sometimes" as any }],
    ["csrf", { csrf: "yes" as any }],
    ["csrf.trustedOrigins", { csrf: { trustedOrigins: ["https://app.example.com/"] } }],
    ["csrf.trustedOrigins", { csrf: { trustedOrigins: ["null"] } }],
    ["csrf.trustedOrigins", { csrf: { trustedOrigins: ["HTTPS://APP.EXAMPLE.COM"] } }],
    ["csrf.trustedOrigins", { csrf: { trustedOrigins: ["app.example.com"] } }],
    ["csrf.trustedOrigins", { csrf: { trustedOrigins: "https://app.example.com" as any } }],
    ["csrf.exempt", { csrf: { exempt: ["webhook"] } }],
    ["csrf.exempt", { csrf: { exempt: ["/webhook?x=1"] } }],
    ["csrf.requireOrigin", { csrf: { requireOrigin: 1 as any } }],
    ["csrf.token", { csrf: { token: "yes" as any } }]
  ]
  for (const [option, options] of bad) {
    it.effect(`${option}: ${JSON.stringify(options)}`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(sessionLayer({ http: options }))))
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(Effect.scoped(Layer.build(sessionLayer({ http: options }))))
        expect(error).toBeInstanceOf(SessionError.SessionConfigError)
        expect((error as SessionError.SessionConfigError).option).toBe(option)
      }))
  }

  const good: ReadonlyArray<HttpSession.Options> = [
    {},
    { cookie: { hostPrefix: true } },
    { cookie: { name: "__Host-id", secure: true } },
    { cookie: { sameSite: "none", secure: true } },
    { cookie: { secure: "auto" }, trustProxy: true },
    { cookie: { domain: "example.com", path: "/app" } },
    { loginUrl: "https://auth.example.com/login?next=%2F", clearSiteData: ["cache"], rolling: false },
    { open: "eager", csrf: false },
    { csrf: { trustedOrigins: ["https://app.example.com", "http://localhost:8080"], exempt: ["/hooks/a"] } },
    { csrf: { requireOrigin: true, token: true } }
  ]
  for (const options of good) {
    it.effect(`accepted: ${JSON.stringify(options)}`, () =>
      Effect.gen(function*() {
        const context = yield* Effect.scoped(Layer.build(sessionLayer({ http: options })))
        expect(Option.isSome(Effect.runSync(
          Effect.serviceOption(HttpSession.HttpSession).pipe(
            Effect.provide(context)
          )
        ))).toBe(true)
      }))
  }

  it("validateOptions reports the final cookie name", () => {
    const settings = Effect.runSync(HttpSession.validateOptions({ cookie: { hostPrefix: true, name: "id" } }))
    expect(settings.cookie.name).toBe("__Host-id")
    expect(settings.cookie.secure).toBe(true)
  })
})

// Login and logout routes mounted WITHOUT the middleware (the auth manager refuses anonymous
// requests, so the middleware could never serve the login page), the rest behind it.
const splitRouter = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/",
    Effect.map(HttpSession.current, (session) => HttpServerResponse.text(session.principal.id))
  ),
  HttpRouter.get("/save", Effect.map(HttpSession.save, (session) => HttpServerResponse.text(session.principal.id))),
  HttpRouter.use(HttpSession.middleware),
  HttpRouter.concat(HttpRouter.empty.pipe(
    HttpRouter.get("/login", Effect.succeed(HttpServerResponse.text("the login form"))),
    HttpRouter.post(
      "/login",
      HttpSession.login.pipe(
        Effect.map((session) => HttpServerResponse.text(session.principal.id)),
        Effect.catchTag("ExplicitLogin", () => Effect.succeed(HttpServerResponse.text("no", { status: 401 })))
      )
    ),
    HttpRouter.post("/logout", Effect.as(HttpSession.logout, HttpServerResponse.text("bye")))
  ))
)

describe("login and logout outside the middleware", () => {
  it.live("a login page outside the middleware, the app behind it", () =>
    Effect.gen(function*() {
      const home = yield* request("GET", "/")
      expect(home.status).toBe(303)
      expect((yield* request("GET", "/login")).body).toBe("the login form")
      const wrong = yield* request("POST", "/login", { headers: basic("alice", "nope") })
      expect(wrong.status).toBe(401)
      expect(wrong.setCookies).toEqual([])
      const login = yield* request("POST", "/login", { headers: alice })
      expect(login.body).toBe("alice")
      const token = cookieValue(login)!
      expect(cookieAttributes(login)).toContain("Max-Age=1800")
      expect((yield* request("GET", "/", { cookie: sid(token) })).body).toBe("alice")
      const logout = yield* request("POST", "/logout", { cookie: sid(token) })
      expect(cookieValue(logout)).toBe("")
      expect(cookieAttributes(logout)).toContain("Max-Age=0")
      const replay = yield* request("GET", "/", { cookie: sid(token) })
      expect(replay.status).toBe(303)
    }).pipe(Effect.provide(serve(splitRouter, {
      http: { cookie: { secure: false }, loginUrl: "/login" },
      mock: { allowAnonymous: false }
    }))))

  it.live("a login outside the middleware rotates the session the cookie names", () =>
    Effect.gen(function*() {
      const home = yield* request("GET", "/save")
      const anonymous = cookieValue(home)!
      const login = yield* request("POST", "/login", { cookie: sid(anonymous), headers: alice })
      const token = cookieValue(login)!
      expect(token).not.toBe(anonymous)
      expect((yield* request("GET", "/", { cookie: sid(token) })).body).toBe("alice")
      const replay = yield* request("GET", "/", { cookie: sid(anonymous) })
      expect(replay.body).toBe("anonymous")
      // the dead cookie is expired, nothing new is stored for a read
      expect(cookieValue(replay)).toBe("")
      const probe = yield* StoreProbe
      // the anonymous session became alice's: one session in all
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 1 })
    }).pipe(Effect.provide(serve(splitRouter))))
})
