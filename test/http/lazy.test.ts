/**
 * Sessions on demand, through a real server on loopback: what a request costs when its handler
 * never reads the session (nothing), reads it (one lookup, or one authenticate for a visitor
 * without a cookie, nothing stored), writes it (stored then, cookie set), and when the cookie is
 * written at all (token changed, session closed, deadline moved). Also `open: "eager"`, flash
 * values, and why a cookie was refused.
 */
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream, TestClock } from "effect"
import { HttpSession, SessionManager, SessionToken } from "effect-session"
import {
  authentications,
  cookieAttributes,
  cookieValue,
  forgedToken,
  json,
  mint,
  observe,
  request,
  router,
  serve,
  StoreProbe,
  whoami
} from "./support.js"

const sid = (token: string) => `sid=${token}`
const alice = { authorization: `Basic ${btoa("alice:alice")}` }

describe("a handler that never reads the session", () => {
  it.live("costs no authenticate, no store access and no Set-Cookie, whatever the cookie", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      for (
        const cookie of [undefined, sid(token), sid(forgedToken()), "sid=%ZZ", `${sid(token)}; ${sid(token)}`]
      ) {
        const { authCalls, reply, storeCalls } = yield* observe(
          request("GET", "/untouched", cookie === undefined ? {} : { cookie })
        )
        expect(reply.status, cookie).toBe(200)
        expect(reply.setCookies, cookie).toEqual([])
        expect(reply.headers["cache-control"], cookie).toBeUndefined()
        expect(storeCalls, cookie).toEqual({})
        expect(authCalls, cookie).toEqual([])
      }
      // an unsafe method too (same-origin or non-browser: CSRF passes without any session work)
      const post = yield* observe(request("POST", "/untouched", { cookie: sid(token) }))
      expect(post.reply.status).toBe(200)
      expect(post.storeCalls).toEqual({})
      expect(post.authCalls).toEqual([])
    }).pipe(Effect.provide(serve())))

  it.live("with open: \"eager\", every visitor gets a stored session and a cookie before the handler runs", () =>
    Effect.gen(function*() {
      const { authCalls, reply, storeCalls } = yield* observe(request("GET", "/untouched"))
      expect(reply.status).toBe(200)
      const token = cookieValue(reply)!
      expect(SessionToken.isWellFormed(token)).toBe(true)
      expect(storeCalls).toEqual({ insert: 1 })
      expect(authentications(authCalls)).toHaveLength(1)
      // with its cookie, one lookup even on a route that never reads the session
      const again = yield* observe(request("GET", "/untouched", { cookie: sid(token) }))
      expect(again.storeCalls).toEqual({ touch: 1 })
      expect(again.reply.setCookies).toEqual([])
      expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toMatchObject({ opened: false, stored: true })
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, open: "eager" } }))))
})

describe("a visitor without a session", () => {
  it.live("a read authenticates once and gets a session that is not stored: no store access, no cookie", () =>
    Effect.gen(function*() {
      const { authCalls, reply, storeCalls } = yield* observe(request("GET", "/"))
      expect(json(reply)).toEqual({ principal: "anonymous", anonymous: true, opened: true, stored: false, id: "" })
      expect(authentications(authCalls)).toEqual([{ _tag: "authenticate", result: "ok", principalId: "anonymous" }])
      expect(storeCalls).toEqual({})
      expect(reply.setCookies).toEqual([])
      const probe = yield* StoreProbe
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 0 })
    }).pipe(Effect.provide(serve())))

  it.live("the first write stores it, with the data, and sets the cookie; the Opened event fires then", () =>
    Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      const events = yield* Stream.runCollect(Stream.take(manager.events, 1)).pipe(Effect.fork)
      yield* Effect.sleep("20 millis")
      const read = yield* request("GET", "/")
      expect(read.setCookies).toEqual([])
      const { authCalls, reply, storeCalls } = yield* observe(request("GET", "/count"))
      expect(json(reply)).toEqual({ counter: 1, sameAsLive: true, read: 1 })
      // one insert with the data in it, no second write
      expect(storeCalls).toEqual({ insert: 1, get: 1 })
      expect(authentications(authCalls)).toHaveLength(1)
      const token = cookieValue(reply)!
      expect(SessionToken.isWellFormed(token)).toBe(true)
      expect(cookieAttributes(reply)).toContain("Max-Age=120")
      expect(reply.headers["cache-control"]).toBe("no-store")
      expect(reply.headers["vary"]).toBe("Cookie")
      const [opened] = Chunk.toReadonlyArray(yield* Fiber.join(events))
      expect(opened).toMatchObject({ _tag: "Opened", principalId: "anonymous", anonymous: true })
      expect(json(yield* request("GET", "/count", { cookie: sid(token) })).counter).toBe(2)
    }).pipe(Effect.provide(serve())))

  it.live("a login stores the signed-in session directly: no anonymous session first", () =>
    Effect.gen(function*() {
      const { authCalls, reply, storeCalls } = yield* observe(request("POST", "/login", { headers: alice }))
      expect(json(reply)).toMatchObject({ principal: "alice", opened: true, stored: true })
      expect(storeCalls).toEqual({ insert: 1 })
      expect(authentications(authCalls)).toHaveLength(1)
      const probe = yield* StoreProbe
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 1 })
    }).pipe(Effect.provide(serve())))

  it.live("save stores it explicitly; a removal or a failed write does not", () =>
    Effect.gen(function*() {
      const saved = yield* observe(request("GET", "/save"))
      expect(saved.storeCalls).toEqual({ insert: 1 })
      expect(json(saved.reply)).toMatchObject({ opened: true, stored: true })
      expect(SessionToken.isWellFormed(cookieValue(saved.reply)!)).toBe(true)
      const removed = yield* observe(request("GET", "/remove"))
      expect(removed.storeCalls).toEqual({})
      expect(removed.reply.setCookies).toEqual([])
    }).pipe(Effect.provide(serve(
      HttpRouter.empty.pipe(
        HttpRouter.get("/save", Effect.zipRight(HttpSession.save, whoami)),
        HttpRouter.get("/remove", Effect.as(HttpSession.removeData("counter"), HttpServerResponse.text("removed"))),
        HttpRouter.use(HttpSession.middleware)
      )
    ))))

  it.live("reads running concurrently in one request authenticate once and see one session", () =>
    Effect.gen(function*() {
      const { authCalls, reply, storeCalls } = yield* observe(request("GET", "/concurrent"))
      expect(json(reply)).toEqual({ principals: ["anonymous", "anonymous", "anonymous", "anonymous"], same: true })
      expect(authentications(authCalls)).toHaveLength(1)
      expect(storeCalls).toEqual({})
    }).pipe(Effect.provide(serve(
      HttpRouter.empty.pipe(
        HttpRouter.get(
          "/concurrent",
          Effect.gen(function*() {
            const sessions = yield* Effect.all(
              [HttpSession.current, HttpSession.current, HttpSession.current, HttpSession.current],
              { concurrency: "unbounded" }
            )
            return yield* HttpServerResponse.json({
              principals: sessions.map((session) => session.principal.id),
              same: sessions.every((session) => session === sessions[0])
            })
          })
        ),
        HttpRouter.use(HttpSession.middleware)
      )
    ))))

  it.live("a read then a login in one request: authenticate runs once", () =>
    Effect.gen(function*() {
      const { authCalls, reply } = yield* observe(request("POST", "/read-then-login", { headers: alice }))
      expect(json(reply)).toEqual({ before: "alice", after: "alice", stored: true })
      expect(authentications(authCalls)).toEqual([{ _tag: "authenticate", result: "ok", principalId: "alice" }])
    }).pipe(Effect.provide(serve(
      HttpRouter.empty.pipe(
        HttpRouter.post(
          "/read-then-login",
          Effect.gen(function*() {
            const before = yield* HttpSession.current
            const after = yield* HttpSession.login
            return yield* HttpServerResponse.json({
              before: before.principal.id,
              after: after.principal.id,
              stored: after.token !== undefined
            })
          })
        ),
        HttpRouter.use(HttpSession.middleware)
      )
    ))))
})

describe("a request with a session cookie", () => {
  it.scoped("is looked up only when read, touched only when due; the cookie is re-sent only then", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const untouched = yield* observe(request("GET", "/untouched", { cookie: sid(token) }))
      expect(untouched.storeCalls).toEqual({})
      const read = yield* observe(request("GET", "/", { cookie: sid(token) }))
      expect(read.storeCalls).toEqual({ touch: 1 })
      expect(read.authCalls).toEqual([{ _tag: "validateSession", key: SessionToken.hash(token), result: "accepted" }])
      expect(read.reply.setCookies).toEqual([])
      // due (the anonymous touch interval is 12 s): the deadline moves, the cookie follows
      yield* TestClock.adjust("13 seconds")
      const due = yield* request("GET", "/", { cookie: sid(token) })
      expect(cookieValue(due)).toBe(token)
      expect(due.headers["cache-control"]).toBe("no-store")
    }).pipe(Effect.provide(serve())))

  it.live("the cookie is written when the token changes or the session closes", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const rotated = yield* request("POST", "/rotate", { cookie: sid(token) })
      const next = cookieValue(rotated)!
      expect(next).not.toBe(token)
      const logout = yield* request("POST", "/logout", { cookie: sid(next) })
      expect(logout.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
      expect(logout.headers["cache-control"]).toBe("no-store")
      expect(logout.headers["vary"]).toBe("Cookie")
    }).pipe(Effect.provide(serve())))

  it.live("rolling: false — neither a lookup nor a write re-sends it", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const write = yield* request("GET", "/count", { cookie: sid(token) })
      expect(json(write).counter).toBe(1)
      expect(write.setCookies).toEqual([])
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, rolling: false } }))))
})

describe("flash values", () => {
  it.live("read once: the next read finds nothing, and finding nothing costs no store write", () =>
    Effect.gen(function*() {
      const flashed = yield* request("POST", "/flash")
      const token = cookieValue(flashed)!
      expect(SessionToken.isWellFormed(token)).toBe(true)
      const first = yield* observe(request("GET", "/pop", { cookie: sid(token) }))
      expect(json(first.reply)).toEqual({ notice: "saved" })
      expect(first.storeCalls).toEqual({ touch: 1, update: 1 })
      const second = yield* observe(request("GET", "/pop", { cookie: sid(token) }))
      expect(json(second.reply)).toEqual({ notice: null })
      expect(second.storeCalls).toEqual({ touch: 1 })
      // a visitor without a session: nothing to pop, nothing stored
      const none = yield* observe(request("GET", "/pop"))
      expect(json(none.reply)).toEqual({ notice: null })
      expect(none.storeCalls).toEqual({})
      expect(none.reply.setCookies).toEqual([])
    }).pipe(Effect.provide(serve())))

  it.live("a flash after logout lives in a new anonymous session: the old one is closed, the new cookie set", () =>
    Effect.gen(function*() {
      const login = yield* request("POST", "/login", { headers: alice })
      const token = cookieValue(login)!
      const { authCalls, reply } = yield* observe(request("POST", "/logout-then-flash", { cookie: sid(token) }))
      // no second authentication: the new session is anonymous
      expect(authentications(authCalls)).toEqual([])
      expect(json(reply)).toMatchObject({ principal: "anonymous", stored: true })
      const next = cookieValue(reply)!
      expect(SessionToken.isWellFormed(next)).toBe(true)
      expect(next).not.toBe(token)
      expect(reply.setCookies).toHaveLength(1)
      expect(json(yield* request("GET", "/pop", { cookie: sid(next) }))).toEqual({ notice: "signed out" })
      expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toMatchObject({ principal: "anonymous" })
    }).pipe(Effect.provide(serve())))
})

describe("invalidated: why the cookie was refused", () => {
  it.scoped("Expired, Unknown, Malformed, or none", () =>
    Effect.gen(function*() {
      const reason = (cookie?: string) =>
        Effect.map(
          request("GET", "/invalidated", cookie === undefined ? {} : { cookie }),
          (reply) => json(reply).reason
        )
      expect(yield* reason()).toBeNull()
      const { token } = yield* mint
      expect(yield* reason(sid(token))).toBeNull()
      expect(yield* reason(sid(forgedToken()))).toBe("Unknown")
      expect(yield* reason("sid=%ZZ")).toBe("Malformed")
      yield* TestClock.adjust("3 minutes")
      expect(yield* reason(sid(token))).toBe("Expired")
    }).pipe(Effect.provide(serve())))

  it.live("with onInvalid: unauthorized the read fails instead (401)", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/invalidated", { cookie: sid(forgedToken()) })
      expect(reply.status).toBe(401)
      expect(Option.some(reply.body)).toEqual(Option.some("Invalid session"))
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, onInvalid: "unauthorized" } }))))
})
