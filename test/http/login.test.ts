/**
 * Login, logout and the failures around them, through a real server on loopback: `login` runs
 * `authenticate` through the manager's guard (a throw, a defect, a hang that ignores interruption:
 * 503, never 500, cookie untouched), at most once per request, never opens a session to learn
 * that the principal is anonymous; two logins racing with one cookie both succeed; a logout
 * closes what a concurrent rotation turned its session into; a duplicate session cookie is
 * refused without guessing, and the response lets the user recover.
 */
import { HttpRouter, HttpServerResponse } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect } from "effect"
import { AuthManager, HttpSession, SessionToken } from "effect-session"
import { authentications, cookieValue, json, mint, observe, request, router, serve, StoreProbe } from "./support.js"

const sid = (token: string) => `sid=${token}`
const alice = { authorization: `Basic ${btoa("alice:alice")}` }

/** An auth manager whose `authenticate` misbehaves when the request carries `x-login`. */
const misbehaving = (misbehave: () => ReturnType<AuthManager.Service["authenticate"]>) =>
  AuthManager.layer({
    authenticate: (request) =>
      request.headers["x-login"] === undefined ? Effect.succeed(AuthManager.anonymous) : misbehave()
  })

describe("login goes through the manager's guard", () => {
  const cases: ReadonlyArray<readonly [string, Layer.Layer<AuthManager.AuthManager>]> = [
    [
      "authenticate throws while building its effect",
      AuthManager.layer({
        authenticate: (request) => {
          if (request.headers["x-login"] !== undefined) throw new Error("auth backend exploded")
          return Effect.succeed(AuthManager.anonymous)
        }
      })
    ],
    ["authenticate dies", misbehaving(() => Effect.die("auth backend exploded"))],
    [
      "authenticate hangs and ignores interruption (answered at authTimeout, its late answer discarded)",
      misbehaving(() => Effect.uninterruptible(Effect.as(Effect.sleep("1 second"), { id: "alice", anonymous: false })))
    ]
  ]
  for (const [name, auth] of cases) {
    it.live(`${name}: 503 AuthManagerError, the cookie and the session untouched`, () =>
      Effect.gen(function*() {
        const { body, token } = yield* mint
        const { reply, storeCalls } = yield* observe(
          request("POST", "/login", { cookie: sid(token), headers: { "x-login": "1" } })
        )
        expect(reply.status).toBe(503)
        expect(reply.body).toBe("Authentication unavailable, try again later")
        expect(reply.setCookies).toEqual([])
        expect(storeCalls).toEqual({})
        expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toEqual({ ...body, opened: false })
      }).pipe(Effect.provide(serve(router, { manager: { authTimeout: "100 millis" }, auth }))))
  }

  it.live("an anonymous answer is ExplicitLogin: nothing opened, nothing closed, nothing written", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const fresh = yield* observe(request("POST", "/login"))
      expect(fresh.reply.status).toBe(401)
      expect(fresh.storeCalls).toEqual({})
      expect(fresh.reply.setCookies).toEqual([])
      const { token } = yield* mint
      const withCookie = yield* observe(request("POST", "/login", { cookie: sid(token) }))
      expect(withCookie.reply.status).toBe(401)
      expect(withCookie.storeCalls).toEqual({})
      expect(withCookie.reply.setCookies).toEqual([])
      expect(authentications(withCookie.authCalls)).toHaveLength(1)
      expect(yield* mock.released).toEqual([])
    }).pipe(Effect.provide(serve())))

  it.live("with open: \"eager\", the session the middleware opened from this request's credentials is the login's", () =>
    Effect.gen(function*() {
      const { authCalls, reply, storeCalls } = yield* observe(request("POST", "/login", { headers: alice }))
      expect(json(reply)).toMatchObject({ principal: "alice", opened: true, stored: true })
      expect(authentications(authCalls)).toHaveLength(1)
      expect(storeCalls).toEqual({ insert: 1 })
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, open: "eager" } }))))
})

describe("races", () => {
  it.live("two concurrent logins from one cookie both succeed: never a 401, never a signed-out user", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 10; round++) {
        const { token } = yield* mint
        const replies = yield* Effect.all(
          [
            request("POST", "/login", { cookie: sid(token), headers: alice }),
            request("POST", "/login", { cookie: sid(token), headers: alice })
          ],
          { concurrency: 2 }
        )
        for (const reply of replies) {
          expect(reply.status).toBe(200)
          expect(json(reply)).toMatchObject({ principal: "alice", stored: true })
          const next = cookieValue(reply)!
          expect(SessionToken.isWellFormed(next)).toBe(true)
          // whichever cookie the browser keeps, it is signed in
          expect(json(yield* request("GET", "/", { cookie: sid(next) }))).toMatchObject({ principal: "alice" })
        }
        // the pre-login token is dead (no fixation)
        expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toMatchObject({ principal: "anonymous" })
      }
    }).pipe(Effect.provide(serve())))

  it.live("a logout presented with a token a concurrent request rotated away closes its successor (I8)", () =>
    Effect.gen(function*() {
      const login = yield* request("POST", "/login", { headers: alice })
      const token = cookieValue(login)!
      const rotated = yield* request("POST", "/rotate", { cookie: sid(token) })
      const successor = cookieValue(rotated)!
      expect(successor).not.toBe(token)
      const logout = yield* request("POST", "/logout", { cookie: sid(token) })
      expect(logout.status).toBe(200)
      expect(json(yield* request("GET", "/", { cookie: sid(successor) }))).toMatchObject({
        principal: "anonymous",
        stored: false
      })
      const probe = yield* StoreProbe
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 0 })
    }).pipe(Effect.provide(serve())))
})

describe("a duplicate session cookie (cookie tossing)", () => {
  const twice = (token: string) => `${sid(token)}; sid=${"A".repeat(42)}E`

  it.live("is never guessed between: 401 and the addressable copy expired; the next request recovers", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const { authCalls, reply, storeCalls } = yield* observe(request("GET", "/", { cookie: twice(token) }))
      expect(reply.status).toBe(401)
      expect(reply.body).toContain("sent more than once")
      expect(reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
      expect(reply.headers["cache-control"]).toBe("no-store")
      expect(storeCalls).toEqual({})
      expect(authCalls).toEqual([])
      // routes that never read the session keep working
      expect((yield* request("GET", "/untouched", { cookie: twice(token) })).status).toBe(200)
      // login and logout refuse to pick one too, and expire the same way
      const login = yield* observe(request("POST", "/login", { cookie: twice(token), headers: alice }))
      expect(login.reply.status).toBe(401)
      expect(login.reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
      expect(login.storeCalls).toEqual({})
      const logout = yield* observe(request("POST", "/logout", { cookie: twice(token) }))
      expect(logout.reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
      expect(logout.storeCalls).toEqual({})
      // once the browser dropped its copy, the remaining cookie is read as usual
      expect((yield* request("GET", "/", { cookie: `sid=${"A".repeat(42)}E` })).status).toBe(200)
    }).pipe(Effect.provide(serve())))

  it.live("with a Domain and a Path configured: the host-only copies (Path=/ and the path) and the domain's", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/", { cookie: twice(SessionToken.hash("x")) })
      expect(reply.status).toBe(401)
      expect([...reply.setCookies].sort()).toEqual([
        "sid=; Max-Age=0; Domain=example.com; Path=/app; HttpOnly; SameSite=Lax",
        "sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "sid=; Max-Age=0; Path=/app; HttpOnly; SameSite=Lax"
      ])
    }).pipe(Effect.provide(serve(router, {
      http: { cookie: { secure: false, domain: "example.com", path: "/app" } }
    }))))

  it.live("on a named host: also the copies a sibling subdomain could plant (the host and its parents)", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/", {
        cookie: twice(SessionToken.hash("x")),
        headers: { host: "app.shop.example.test:8080" }
      })
      expect(reply.status).toBe(401)
      expect([...reply.setCookies].sort()).toEqual([
        "sid=; Max-Age=0; Domain=app.shop.example.test; Path=/; HttpOnly; SameSite=Lax",
        "sid=; Max-Age=0; Domain=example.test; Path=/; HttpOnly; SameSite=Lax",
        "sid=; Max-Age=0; Domain=shop.example.test; Path=/; HttpOnly; SameSite=Lax",
        "sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
      ])
    }).pipe(Effect.provide(serve())))

  it.live("a __Host- cookie cannot be planted by another host: only its own copy is expired", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/", {
        cookie: `__Host-sid=${SessionToken.hash("x")}; __Host-sid=${SessionToken.hash("y")}`,
        headers: { host: "app.example.test" }
      })
      expect(reply.status).toBe(401)
      expect(reply.setCookies).toEqual(["__Host-sid=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"])
    }).pipe(Effect.provide(serve(router, { http: { cookie: { hostPrefix: true } } }))))

  it.live("a handler can explain it (the read fails InvalidSession Ambiguous) and the response still recovers", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/explain", { cookie: twice(SessionToken.hash("x")) })
      expect(reply.status).toBe(400)
      expect(reply.body).toBe("two session cookies")
      expect(reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
    }).pipe(Effect.provide(serve(
      HttpRouter.empty.pipe(
        HttpRouter.get(
          "/explain",
          HttpSession.current.pipe(
            Effect.as(HttpServerResponse.text("one session")),
            Effect.catchTag("InvalidSession", (error) =>
              Effect.succeed(
                error.reason === "Ambiguous"
                  ? HttpServerResponse.text("two session cookies", { status: 400 })
                  : HttpServerResponse.text(error.reason, { status: 401 })
              ))
          )
        ),
        HttpRouter.use(HttpSession.middleware)
      )
    ))))
})
