/**
 * The HttpApi middleware (cookie transport; bearer in `bearer.test.ts`): cookie security in the
 * OpenAPI description, `CurrentSession` for handlers, sessions opened on demand, the strict reader
 * used instead of the value HttpApiSecurity decodes, typed failures with their statuses (without
 * causes), the CSRF check, and the cookie written on the responses that need it.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { HttpSession, SessionError, SessionToken } from "effect-session"
import {
  cookieAttributes,
  cookieValue,
  Counter,
  type EnvOptions,
  forgedToken,
  json,
  LoopbackServer,
  request,
  sessionLayer,
  StoreProbe
} from "./support.js"

class Authentication extends HttpSession.ApiMiddleware<Authentication>()("test/Authentication") {}

const Who = Schema.Struct({ principal: Schema.String, opened: Schema.Boolean, id: Schema.String })

const Api = HttpApi.make("sessions-api").add(
  HttpApiGroup.make("session")
    .add(HttpApiEndpoint.get("whoami", "/me").addSuccess(Who))
    .add(HttpApiEndpoint.get("count", "/count").addSuccess(Schema.Number))
    .add(HttpApiEndpoint.post("login", "/login").addSuccess(Who))
    .add(HttpApiEndpoint.post("logout", "/logout"))
    .middleware(Authentication)
).add(
  HttpApiGroup.make("public").add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.String))
)

const who = Effect.gen(function*() {
  const current = yield* HttpSession.CurrentSession
  const session = yield* current.get
  return { principal: session.principal.id, opened: current.opened, id: SessionToken.shortId(session.key) }
})

const SessionHandlers = HttpApiBuilder.group(Api, "session", (handlers) =>
  handlers
    .handle("whoami", () => who)
    .handle("count", () =>
      HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1).pipe(
        Effect.map((session) => session.data["counter"] as number),
        Effect.orDie
      ))
    .handle("login", () => Effect.zipRight(HttpSession.login, who))
    .handle("logout", () => HttpSession.logout))

const PublicHandlers = HttpApiBuilder.group(
  Api,
  "public",
  (handlers) => handlers.handle("health", () => Effect.succeed("ok"))
)

const serveApi = (options: EnvOptions = {}) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(Api)),
    Layer.provide(SessionHandlers),
    Layer.provide(PublicHandlers),
    Layer.provide(HttpSession.layerApiMiddleware(Authentication)),
    Layer.provideMerge(LoopbackServer),
    Layer.provideMerge(sessionLayer(options))
  )

const alice = { authorization: `Basic ${btoa("alice:alice")}` }

describe("HttpApi: OpenAPI", () => {
  it("the spec declares the cookie security scheme and the session failures", () => {
    const spec = OpenApi.fromApi(Api)
    expect(spec.components.securitySchemes).toEqual({
      sessionCookie: {
        type: "apiKey",
        name: "sid",
        in: "cookie",
        description: "Session cookie (HttpOnly), set by the server when a session is stored or logged in"
      }
    })
    const me = spec.paths["/me"]!.get!
    expect(me.security).toEqual([{ sessionCookie: [] }])
    expect(Object.keys(me.responses).sort()).toEqual(["200", "400", "401", "403", "503"])
    expect(JSON.stringify(me.responses["403"])).toContain("#/components/schemas/CsrfError")
    expect(JSON.stringify(me.responses["401"])).toContain("#/components/schemas/InvalidSession")
    expect(JSON.stringify(me.responses["401"])).toContain("#/components/schemas/ExplicitLogin")
    expect(JSON.stringify(me.responses["503"])).toContain("#/components/schemas/SessionStoreError")
    // a group without the middleware has no security requirement
    expect(spec.paths["/health"]!.get!.security).toEqual([])
  })

  it("a __Host- cookie name shows in the scheme", () => {
    class HostAuthentication extends HttpSession.ApiMiddleware<HostAuthentication>()("test/HostAuthentication", {
      hostPrefix: true,
      description: "the session"
    }) {}
    const spec = OpenApi.fromApi(
      HttpApi.make("x").add(
        HttpApiGroup.make("g").add(HttpApiEndpoint.get("a", "/a")).middleware(HostAuthentication)
      )
    )
    expect(spec.components.securitySchemes["sessionCookie"]).toEqual({
      type: "apiKey",
      name: "__Host-sid",
      in: "cookie",
      description: "the session"
    })
  })

  it.effect("a middleware whose cookie name differs from the layer's fails when built", () =>
    Effect.gen(function*() {
      class Other extends HttpSession.ApiMiddleware<Other>()("test/Other", { name: "session" }) {}
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(HttpSession.layerApiMiddleware(Other).pipe(Layer.provide(sessionLayer()))))
      )
      expect(error).toBeInstanceOf(SessionError.SessionConfigError)
      expect((error as SessionError.SessionConfigError).option).toBe("cookie.name")
    }))
})

describe("HttpApi: requests", () => {
  it.live("no cookie: a session not stored yet, no cookie; the first write stores it and sets the cookie", () =>
    Effect.gen(function*() {
      const probe = yield* StoreProbe
      const reply = yield* request("GET", "/me")
      expect(reply.status).toBe(200)
      expect(json(reply)).toMatchObject({ principal: "anonymous", opened: true })
      expect(reply.setCookies).toEqual([])
      expect(yield* probe.calls).toEqual({})
      const count = yield* request("GET", "/count")
      expect(json(count)).toBe(1)
      expect(cookieAttributes(count)).toEqual(["Max-Age=120", "Path=/", "HttpOnly", "SameSite=Lax"])
      expect(count.headers["cache-control"]).toBe("no-store")
      expect(count.headers["vary"]).toBe("Cookie")
      expect(yield* probe.calls).toEqual({ insert: 1 })
      // the public group gets no session
      const health = yield* request("GET", "/health")
      expect(health.setCookies).toEqual([])
    }).pipe(Effect.provide(serveApi())))

  it.live("an empty cookie value (decoded as Redacted(\"\")) is no session", () =>
    Effect.gen(function*() {
      const probe = yield* StoreProbe
      const reply = yield* request("GET", "/me", { cookie: "sid=" })
      expect(json(reply).opened).toBe(true)
      expect(reply.setCookies).toEqual([])
      expect(yield* probe.calls).toEqual({})
    }).pipe(Effect.provide(serveApi())))

  it.live("a valid cookie: the same session, one store lookup; data through the helpers", () =>
    Effect.gen(function*() {
      const token = cookieValue(yield* request("GET", "/count"))!
      const probe = yield* StoreProbe
      yield* probe.reset
      const again = yield* request("GET", "/me", { cookie: `sid=${token}` })
      expect(json(again)).toMatchObject({ principal: "anonymous", opened: false })
      expect(yield* probe.calls).toEqual({ touch: 1 })
      expect(json(yield* request("GET", "/count", { cookie: `sid=${token}` }))).toBe(2)
      expect(json(yield* request("GET", "/count", { cookie: `sid=${token}` }))).toBe(3)
    }).pipe(Effect.provide(serveApi())))

  it.live("the lenient decoded value is ignored: quoted, percent-encoded, padded or duplicated cookies are not served", () =>
    Effect.gen(function*() {
      const token = cookieValue(yield* request("GET", "/count"))!
      const probe = yield* StoreProbe
      for (
        const cookie of [
          `sid="${token}"`,
          `sid=%${token.charCodeAt(0).toString(16)}${token.slice(1)}`,
          ` \u00a0sid=${token}`
        ]
      ) {
        yield* probe.reset
        const reply = yield* request("GET", "/me", { cookie })
        expect(json(reply).opened, cookie).toBe(true)
        expect(yield* probe.calls).toEqual({})
      }
      yield* probe.reset
      const duplicate = yield* request("GET", "/me", { cookie: `sid=${token}; sid=${forgedToken()}` })
      expect(duplicate.status).toBe(401)
      expect(json(duplicate)).toEqual({ _tag: "InvalidSession", reason: "Ambiguous" })
      // the copy the server can address is expired: the client recovers on its next request
      expect(duplicate.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
      expect(yield* probe.calls).toEqual({})
    }).pipe(Effect.provide(serveApi())))

  it.live("store down: a typed 503 without cause, the cookie left alone", () =>
    Effect.gen(function*() {
      const token = cookieValue(yield* request("GET", "/count"))!
      const probe = yield* StoreProbe
      yield* probe.setDown(true)
      const reply = yield* request("GET", "/me", { cookie: `sid=${token}` })
      expect(reply.status).toBe(503)
      expect(json(reply)).toEqual({ _tag: "SessionStoreError", reason: "Unavailable", operation: "touch" })
      expect(reply.setCookies).toEqual([])
      yield* probe.setDown(false)
      expect(json(yield* request("GET", "/me", { cookie: `sid=${token}` })).opened).toBe(false)
    }).pipe(Effect.provide(serveApi())))

  it.live("onInvalid: unauthorized — a typed 401 and the dead cookie expired", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/me", { cookie: `sid=${forgedToken()}` })
      expect(reply.status).toBe(401)
      expect(json(reply)).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
      expect(cookieValue(reply)).toBe("")
      expect(cookieAttributes(reply)).toContain("Max-Age=0")
    }).pipe(Effect.provide(serveApi({ http: { cookie: { secure: false }, onInvalid: "unauthorized" } }))))

  it.live("an auth manager that refuses anonymous requests: a typed 401 ExplicitLogin", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/me")
      expect(reply.status).toBe(401)
      expect(json(reply)).toEqual({ _tag: "ExplicitLogin", message: "credentials required" })
      const login = yield* request("POST", "/login", { headers: alice })
      expect(json(login)).toMatchObject({ principal: "alice", opened: true })
    }).pipe(Effect.provide(serveApi({ mock: { allowAnonymous: false } }))))

  it.live("login rotates, logout expires; the old cookies are refused afterwards", () =>
    Effect.gen(function*() {
      const anonymous = cookieValue(yield* request("GET", "/count"))!
      const login = yield* request("POST", "/login", { cookie: `sid=${anonymous}`, headers: alice })
      expect(json(login)).toMatchObject({ principal: "alice", opened: false })
      const token = cookieValue(login)!
      expect(token).not.toBe(anonymous)
      expect(cookieAttributes(login)).toContain("Max-Age=1800")
      expect(json(yield* request("GET", "/me", { cookie: `sid=${anonymous}` })).opened).toBe(true)
      const logout = yield* request("POST", "/logout", { cookie: `sid=${token}` })
      expect(logout.status).toBe(204)
      expect(cookieValue(logout)).toBe("")
      expect(cookieAttributes(logout)).toEqual(["Max-Age=0", "Path=/", "HttpOnly", "SameSite=Lax"])
      const replay = yield* request("GET", "/me", { cookie: `sid=${token}` })
      expect(json(replay)).toMatchObject({ principal: "anonymous", opened: true })
    }).pipe(Effect.provide(serveApi())))

  it.live("a failed login is a typed 401 and keeps the session", () =>
    Effect.gen(function*() {
      const token = cookieValue(yield* request("GET", "/count"))!
      const reply = yield* request("POST", "/login", {
        cookie: `sid=${token}`,
        headers: { authorization: `Basic ${btoa("alice:wrong")}` }
      })
      expect(reply.status).toBe(401)
      expect(json(reply)).toEqual({ _tag: "ExplicitLogin", message: "invalid credentials" })
      expect(json(yield* request("GET", "/me", { cookie: `sid=${token}` })).opened).toBe(false)
    }).pipe(Effect.provide(serveApi())))
})
