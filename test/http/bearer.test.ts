/**
 * Bearer tokens: the same sessions over `Authorization: Bearer <token>`, through the router
 * middleware (`makeMiddleware({ transport: "bearer" })`) and the HttpApi middleware
 * (`ApiBearerMiddleware`, `HttpApiSecurity.bearer`), side by side with the cookie transport on one
 * server: never a Set-Cookie, the token handed over in the login response's body, no CSRF check,
 * `WWW-Authenticate: Bearer` on a 401, the OpenAPI document showing the scheme.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpRouter,
  HttpServerResponse,
  OpenApi
} from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema } from "effect"
import { HttpSession, Session, SessionToken } from "effect-session"
import {
  Counter,
  type EnvOptions,
  forgedToken,
  json,
  LoopbackServer,
  observe,
  request,
  serve,
  sessionLayer
} from "./support.js"

const alice = { authorization: `Basic ${btoa("alice:alice")}` }
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const crossSite = { "sec-fetch-site": "cross-site", origin: "https://evil.example" }

const who = Effect.gen(function*() {
  const session = yield* HttpSession.current
  return { principal: session.principal.id, stored: session.token !== undefined, id: Session.shortId(session) }
})

/**
 * Logs alice in through `/api/login` (on either transport's API): the token comes in the body,
 * never in a cookie, and then names her session.
 */
const signIn = Effect.gen(function*() {
  const login = yield* request("POST", "/api/login", { headers: alice })
  expect(login.status).toBe(200)
  expect(login.setCookies).toEqual([])
  const token = json(login).token as string
  expect(SessionToken.isWellFormed(token)).toBe(true)
  const me = yield* request("GET", "/api/me", { headers: bearer(token) })
  expect(json(me)).toMatchObject({ principal: "alice", stored: true })
  expect(me.setCookies).toEqual([])
  return token
})

/** The token of a session, for the body of a login response. */
const tokenOf = (session: Session.Session) => session.token === undefined ? null : Redacted.value(session.token)

const api = HttpRouter.empty.pipe(
  HttpRouter.get("/api/me", Effect.flatMap(who, HttpServerResponse.json)),
  HttpRouter.post(
    "/api/login",
    Effect.flatMap(HttpSession.login, (session) => HttpServerResponse.json({ token: tokenOf(session) }))
  ),
  HttpRouter.post("/api/logout", Effect.as(HttpSession.logout, HttpServerResponse.empty({ status: 204 }))),
  HttpRouter.post(
    "/api/count",
    Effect.flatMap(
      HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1),
      (session) => HttpServerResponse.json({ counter: session.data["counter"], token: tokenOf(session) })
    )
  ),
  HttpRouter.post(
    "/api/rotate",
    Effect.flatMap(HttpSession.rotate, (s) => HttpServerResponse.json({ token: tokenOf(s) }))
  ),
  HttpRouter.use(HttpSession.makeMiddleware({ transport: "bearer" }))
)

const web = HttpRouter.empty.pipe(
  HttpRouter.get("/me", Effect.flatMap(who, HttpServerResponse.json)),
  HttpRouter.post("/login", Effect.zipRight(HttpSession.login, Effect.flatMap(who, HttpServerResponse.json))),
  HttpRouter.use(HttpSession.middleware)
)

const both = HttpRouter.concat(web, api)

describe("bearer transport on the router, beside the cookie transport", () => {
  it.live("login hands the token over in the body, never in a cookie; the token then names the session", () =>
    Effect.gen(function*() {
      const token = yield* signIn
      // a write: the session's data changes, still no cookie
      const count = yield* request("POST", "/api/count", { headers: bearer(token) })
      expect(json(count)).toEqual({ counter: 1, token })
      expect(count.setCookies).toEqual([])
      // the same session through the cookie transport (one session, two ways to present it)
      expect(json(yield* request("GET", "/me", { cookie: `sid=${token}` }))).toMatchObject({ principal: "alice" })
      // logout: the token dies
      const logout = yield* request("POST", "/api/logout", { headers: bearer(token) })
      expect(logout.status).toBe(204)
      expect(logout.setCookies).toEqual([])
      expect(json(yield* request("GET", "/api/me", { headers: bearer(token) }))).toMatchObject({
        principal: "anonymous",
        stored: false
      })
    }).pipe(Effect.provide(serve(both))))

  it.live("a rotation hands the new token to the handler; the old one is dead", () =>
    Effect.gen(function*() {
      const token = json(yield* request("POST", "/api/login", { headers: alice })).token as string
      const rotated = yield* request("POST", "/api/rotate", { headers: bearer(token) })
      expect(rotated.setCookies).toEqual([])
      const next = json(rotated).token as string
      expect(next).not.toBe(token)
      expect(json(yield* request("GET", "/api/me", { headers: bearer(next) })).principal).toBe("alice")
      expect(json(yield* request("GET", "/api/me", { headers: bearer(token) })).principal).toBe("anonymous")
    }).pipe(Effect.provide(serve(both))))

  it.live("each transport reads only its own: a cookie on an API route, a bearer token on a page, are no session", () =>
    Effect.gen(function*() {
      const token = json(yield* request("POST", "/api/login", { headers: alice })).token as string
      const cookieOnApi = yield* observe(request("GET", "/api/me", { cookie: `sid=${token}` }))
      expect(json(cookieOnApi.reply)).toMatchObject({ principal: "anonymous", stored: false })
      expect(cookieOnApi.storeCalls).toEqual({})
      const bearerOnPage = yield* observe(request("GET", "/me", { headers: bearer(token) }))
      expect(json(bearerOnPage.reply)).toMatchObject({ principal: "anonymous", stored: false })
      expect(bearerOnPage.storeCalls).toEqual({})
    }).pipe(Effect.provide(serve(both))))

  it.live("no CSRF check on the bearer transport; the cookie transport is still checked", () =>
    Effect.gen(function*() {
      const token = json(yield* request("POST", "/api/login", { headers: alice })).token as string
      const api = yield* request("POST", "/api/count", { headers: { ...crossSite, ...bearer(token) } })
      expect(api.status).toBe(200)
      const page = yield* request("POST", "/login", { headers: { ...crossSite, ...alice } })
      expect(page.status).toBe(403)
    }).pipe(Effect.provide(serve(both))))

  it.live("the header is read strictly: another scheme or a malformed token is no session", () =>
    Effect.gen(function*() {
      const token = json(yield* request("POST", "/api/login", { headers: alice })).token as string
      expect(json(yield* request("GET", "/api/me", { headers: { authorization: `bearer ${token}` } })).principal)
        .toBe("alice")
      for (
        const authorization of [
          "Bearer",
          `Bearer ${token} ${token}`,
          `Bearer ${token},x`,
          `Bearer "${token}"`,
          `Token ${token}`,
          `Bearer ${token.slice(1)}`,
          `Bearer ${"A".repeat(2000)}`
        ]
      ) {
        const reply = yield* request("GET", "/api/me", { headers: { authorization } })
        expect(reply.status, authorization).toBe(200)
        expect(json(reply), authorization).toMatchObject({ principal: "anonymous", stored: false })
        expect(reply.setCookies, authorization).toEqual([])
      }
    }).pipe(Effect.provide(serve(both))))

  it.live("a refused token with onInvalid: unauthorized, and ExplicitLogin: 401 with WWW-Authenticate: Bearer", () =>
    Effect.gen(function*() {
      const forged = yield* request("GET", "/api/me", { headers: bearer(forgedToken()) })
      expect(forged.status).toBe(401)
      expect(forged.headers["www-authenticate"]).toBe(`Bearer realm="session", error="invalid_token"`)
      expect(forged.setCookies).toEqual([])
      const none = yield* request("GET", "/api/me")
      expect(none.status).toBe(401)
      expect(none.headers["www-authenticate"]).toBe(`Bearer realm="session"`)
    }).pipe(Effect.provide(serve(both, {
      // loginUrl applies to pages only: an API answers 401, never a redirect
      http: { cookie: { secure: false }, onInvalid: "unauthorized", loginUrl: "/login" },
      mock: { allowAnonymous: false }
    }))))
})

// ---------------------------------------------------------------------------------------------
// HttpApi
// ---------------------------------------------------------------------------------------------

class Bearer extends HttpSession.ApiBearerMiddleware<Bearer>()("test/Bearer") {}
class Cookie extends HttpSession.ApiMiddleware<Cookie>()("test/Cookie") {}

const Who = Schema.Struct({ principal: Schema.String, stored: Schema.Boolean, id: Schema.String })
const Issued = Schema.Struct({ token: Schema.NullOr(Schema.String) })

const Api = HttpApi.make("bearer-api")
  .add(
    HttpApiGroup.make("api")
      .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(Who))
      .add(HttpApiEndpoint.post("login", "/api/login").addSuccess(Issued))
      .add(HttpApiEndpoint.post("count", "/api/count").addSuccess(Schema.Number))
      .middleware(Bearer)
  )
  .add(
    HttpApiGroup.make("web")
      .add(HttpApiEndpoint.post("count", "/count").addSuccess(Schema.Number))
      .middleware(Cookie)
  )

const count = HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1).pipe(
  Effect.map((session) => session.data["counter"] as number),
  Effect.catchTag("SessionDataError", Effect.die)
)

const ApiHandlers = HttpApiBuilder.group(Api, "api", (handlers) =>
  handlers
    .handle("me", () => who)
    .handle("login", () => Effect.map(HttpSession.login, (session) => ({ token: tokenOf(session) })))
    .handle("count", () => count))

const WebHandlers = HttpApiBuilder.group(Api, "web", (handlers) => handlers.handle("count", () => count))

const serveApi = (options: EnvOptions = {}) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(Api)),
    Layer.provide(ApiHandlers),
    Layer.provide(WebHandlers),
    Layer.provide(HttpSession.layerApiMiddleware(Bearer)),
    Layer.provide(HttpSession.layerApiMiddleware(Cookie)),
    Layer.provideMerge(LoopbackServer),
    Layer.provideMerge(sessionLayer(options))
  )

describe("bearer transport on HttpApi", () => {
  it("the OpenAPI document shows the bearer scheme beside the cookie scheme", () => {
    const spec = OpenApi.fromApi(Api)
    expect(spec.components.securitySchemes["sessionBearer"]).toEqual({
      type: "http",
      scheme: "bearer",
      description: "Session token, handed to the client by the login response"
    })
    expect(spec.components.securitySchemes["sessionCookie"]).toMatchObject({ type: "apiKey", in: "cookie" })
    expect(spec.paths["/api/me"]!.get!.security).toEqual([{ sessionBearer: [] }])
    expect(spec.paths["/count"]!.post!.security).toEqual([{ sessionCookie: [] }])
    // no CSRF refusal on the bearer transport; the session failures are declared
    expect(Object.keys(spec.paths["/api/me"]!.get!.responses).sort()).toEqual(["200", "400", "401", "403", "503"])
  })

  it.live("login in the body, the token then names the session; no Set-Cookie, no CSRF check", () =>
    Effect.gen(function*() {
      const token = yield* signIn
      const counted = yield* request("POST", "/api/count", { headers: { ...crossSite, ...bearer(token) } })
      expect(json(counted)).toBe(1)
      expect(counted.setCookies).toEqual([])
      // the cookie group on the same API: its own transport, checked for CSRF (typed 403)
      const refused = yield* request("POST", "/count", { cookie: `sid=${token}`, headers: crossSite })
      expect(refused.status).toBe(403)
      expect(json(refused)).toEqual({ _tag: "CsrfError", reason: "CrossOrigin" })
      expect(json(yield* request("POST", "/count", { cookie: `sid=${token}` }))).toBe(2)
    }).pipe(Effect.provide(serveApi())))

  it.live("a refused token: a typed 401 without cause, never a cookie", () =>
    Effect.gen(function*() {
      const reply = yield* request("GET", "/api/me", { headers: bearer(forgedToken()) })
      expect(reply.status).toBe(401)
      expect(json(reply)).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
      expect(reply.setCookies).toEqual([])
    }).pipe(Effect.provide(serveApi({ http: { cookie: { secure: false }, onInvalid: "unauthorized" } }))))
})
