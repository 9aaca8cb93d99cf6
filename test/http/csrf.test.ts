/**
 * The built-in CSRF defence through a real server on loopback (headers as browsers send them):
 * Fetch Metadata, `Origin` against `Host`, `X-Forwarded-Host` only with `trustProxy`, trusted
 * origins, exempt routes matched exactly (GO-2025-3955's bypass through trailing-slash and case
 * variants), refusal before any session or authenticate work, invariant I10 (no refused or
 * cross-site response replaces the user's cookie), and the synchronizer token.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpSession, SessionToken } from "effect-session"
import {
  authentications,
  cookieValue,
  forgedToken,
  json,
  mint,
  observe,
  type Reply,
  request,
  router,
  serve,
  serverPort,
  StoreProbe
} from "./support.js"

const sid = (token: string) => `sid=${token}`
const crossSite = { "sec-fetch-site": "cross-site", origin: "https://evil.example" }
const bob = { authorization: `Basic ${btoa("bob:bob")}` }

/** The Host header the test client sends. */
const host = Effect.map(serverPort, (port) => `127.0.0.1:${port}`)

const refusedWithoutWork = <R>(send: Effect.Effect<Reply, unknown, R>) =>
  Effect.gen(function*() {
    const { authCalls, reply, storeCalls } = yield* observe(send)
    expect(reply.status).toBe(403)
    expect(reply.body).toBe("Cross-origin request refused")
    expect(reply.setCookies).toEqual([])
    expect(storeCalls).toEqual({})
    expect(authCalls).toEqual([])
  })

describe("Fetch Metadata and Origin", () => {
  it.live("GET, HEAD and OPTIONS always pass; every other method is checked", () =>
    Effect.gen(function*() {
      for (const method of ["GET", "HEAD", "OPTIONS"] as const) {
        const reply = yield* request(method, "/untouched", { headers: crossSite })
        expect(reply.status, method).not.toBe(403)
      }
      for (const method of ["POST", "PUT", "PATCH", "DELETE"] as const) {
        yield* refusedWithoutWork(request(method, "/untouched", { headers: crossSite }))
      }
    }).pipe(Effect.provide(serve())))

  it.live("Sec-Fetch-Site: same-origin and none pass; same-site and cross-site are refused", () =>
    Effect.gen(function*() {
      for (const site of ["same-origin", "none"]) {
        expect((yield* request("POST", "/untouched", { headers: { "sec-fetch-site": site } })).status, site).toBe(200)
      }
      for (const site of ["same-site", "cross-site"]) {
        yield* refusedWithoutWork(request("POST", "/untouched", { headers: { "sec-fetch-site": site } }))
      }
      // Fetch Metadata wins over a matching Origin
      const origin = `http://${yield* host}`
      yield* refusedWithoutWork(
        request("POST", "/untouched", { headers: { "sec-fetch-site": "cross-site", origin } })
      )
    }).pipe(Effect.provide(serve())))

  it.live("without Fetch Metadata: the Origin's host and port must be the Host; Origin: null is refused", () =>
    Effect.gen(function*() {
      const authority = yield* host
      const [name, port] = authority.split(":")
      expect((yield* request("POST", "/untouched", { headers: { origin: `http://${authority}` } })).status).toBe(200)
      // the scheme is not compared (Go's rule): the host and port are
      expect((yield* request("POST", "/untouched", { headers: { origin: `https://${authority}` } })).status).toBe(200)
      for (
        const origin of [
          "null",
          "https://evil.example",
          `http://${name}:${Number(port) + 1}`,
          `http://localhost:${port}`,
          `http://${authority}.evil.example`,
          `http://evil.example/${authority}`,
          `http://user@${authority}`,
          authority,
          ""
        ]
      ) {
        yield* refusedWithoutWork(request("POST", "/untouched", { headers: { origin } }))
      }
    }).pipe(Effect.provide(serve())))

  it.live("neither header (not a browser) passes, unless requireOrigin", () =>
    Effect.gen(function*() {
      expect((yield* request("POST", "/untouched")).status).toBe(200)
    }).pipe(Effect.provide(serve())))

  it.live("requireOrigin: a request with neither header is refused", () =>
    Effect.gen(function*() {
      yield* refusedWithoutWork(request("POST", "/untouched"))
      expect((yield* request("POST", "/untouched", { headers: { "sec-fetch-site": "same-origin" } })).status)
        .toBe(200)
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, csrf: { requireOrigin: true } } }))))

  it.live("X-Forwarded-Host counts only with trustProxy", () =>
    Effect.gen(function*() {
      const headers = { origin: "https://app.example.com", "x-forwarded-host": "app.example.com" }
      yield* refusedWithoutWork(request("POST", "/untouched", { headers }))
    }).pipe(Effect.provide(serve())))

  it.live("X-Forwarded-Host with trustProxy: its first value is the host", () =>
    Effect.gen(function*() {
      const forwarded = { "x-forwarded-host": "app.example.com, internal:8080" }
      expect(
        (yield* request("POST", "/untouched", { headers: { ...forwarded, origin: "https://app.example.com" } })).status
      ).toBe(200)
      yield* refusedWithoutWork(
        request("POST", "/untouched", { headers: { ...forwarded, origin: "https://internal:8080" } })
      )
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, trustProxy: true } }))))

  it.live("trustedOrigins: an exact Origin passes whatever Sec-Fetch-Site says; near misses do not", () =>
    Effect.gen(function*() {
      const trusted = { "sec-fetch-site": "cross-site", origin: "https://admin.example.com" }
      expect((yield* request("POST", "/untouched", { headers: trusted })).status).toBe(200)
      for (
        const origin of [
          "https://admin.example.com/",
          "https://ADMIN.example.com",
          "http://admin.example.com",
          "https://admin.example.com:443",
          "https://evil.admin.example.com"
        ]
      ) {
        yield* refusedWithoutWork(
          request("POST", "/untouched", { headers: { "sec-fetch-site": "cross-site", origin } })
        )
      }
    }).pipe(Effect.provide(serve(router, {
      http: { cookie: { secure: false }, csrf: { trustedOrigins: ["https://admin.example.com"] } }
    }))))

  it.live("csrf: false turns the defence off", () =>
    Effect.gen(function*() {
      expect((yield* request("POST", "/untouched", { headers: crossSite })).status).toBe(200)
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, csrf: false } }))))
})

describe("exempt routes match exactly", () => {
  it.live("the exempt path passes; its trailing-slash, case and percent-encoded variants are checked", () =>
    Effect.gen(function*() {
      const hook = yield* request("POST", "/webhook", { headers: crossSite })
      expect(hook.status).toBe(200)
      expect(hook.body).toBe("hook")
      expect((yield* request("POST", "/webhook?delivery=1", { headers: crossSite })).status).toBe(200)
      // the router serves "/webhook/" with the webhook's handler: the check still applies to it
      expect((yield* request("POST", "/webhook/", { headers: crossSite })).status).toBe(403)
      // the other variants are refused, or matched by no route at all: never the handler
      for (const path of ["/WEBHOOK", "/Webhook", "/web%68ook", "//webhook", "/webhook/.", "/webhooks"]) {
        const reply = yield* request("POST", path, { headers: crossSite })
        expect([403, 404], path).toContain(reply.status)
        expect(reply.body, path).not.toBe("hook")
      }
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, csrf: { exempt: ["/webhook"] } } }))))
})

describe("attacks: refused before any session or authenticate work (I10)", () => {
  it.live("login CSRF: a cross-site form post with the attacker's credentials logs nobody in, sets no cookie", () =>
    Effect.gen(function*() {
      const probe = yield* StoreProbe
      for (const headers of [crossSite, { origin: "https://evil.example" }, { origin: "null" }]) {
        const { authCalls, reply, storeCalls } = yield* observe(
          request("POST", "/login", { headers: { ...headers, ...bob } })
        )
        expect(reply.status).toBe(403)
        expect(reply.setCookies).toEqual([])
        expect(authCalls).toEqual([])
        expect(storeCalls).toEqual({})
      }
      expect(yield* probe.count).toEqual({ anonymous: 0, authenticated: 0 })
    }).pipe(Effect.provide(serve())))

  it.live("logout CSRF: a cross-site post with the victim's cookie closes nothing and expires nothing", () =>
    Effect.gen(function*() {
      const login = yield* request("POST", "/login", { headers: { authorization: `Basic ${btoa("alice:alice")}` } })
      const token = cookieValue(login)!
      const { reply, storeCalls } = yield* observe(
        request("POST", "/logout", { cookie: sid(token), headers: crossSite })
      )
      expect(reply.status).toBe(403)
      expect(reply.setCookies).toEqual([])
      expect(storeCalls).toEqual({})
      expect(json(yield* request("GET", "/", { cookie: sid(token) }))).toMatchObject({ principal: "alice" })
    }).pipe(Effect.provide(serve())))

  it.live("a cross-site request without a live cookie never gets one: a write is kept for the request only", () =>
    Effect.gen(function*() {
      // e.g. a SameSite=Strict cookie the browser did not send on a cross-site navigation
      const { authCalls, reply, storeCalls } = yield* observe(
        request("GET", "/count", { headers: { "sec-fetch-site": "cross-site" } })
      )
      expect(reply.status).toBe(200)
      expect(json(reply)).toMatchObject({ counter: 1 })
      expect(reply.setCookies).toEqual([])
      expect(storeCalls).toEqual({})
      expect(authentications(authCalls)).toHaveLength(1)
      // an exempt route (a webhook) that writes: same rule
      const hook = yield* observe(request("POST", "/form", { headers: crossSite }))
      expect(hook.reply.status).toBe(200)
      expect(hook.reply.setCookies).toEqual([])
      expect(hook.storeCalls).toEqual({})
      // nor is a dead cookie expired by a cross-site response
      const dead = yield* request("GET", "/", {
        cookie: sid(forgedToken()),
        headers: { "sec-fetch-site": "cross-site" }
      })
      expect(dead.setCookies).toEqual([])
    }).pipe(Effect.provide(serve(router, { http: { cookie: { secure: false }, csrf: { exempt: ["/form"] } } }))))

  it.live("a cross-site navigation that carries the user's own live cookie is served normally", () =>
    Effect.gen(function*() {
      const { token } = yield* mint
      const reply = yield* request("GET", "/count", { cookie: sid(token), headers: { "sec-fetch-site": "cross-site" } })
      expect(json(reply).counter).toBe(1)
      // its own token, re-sent as the deadline moved: not a replacement
      expect(cookieValue(reply)).toBe(token)
    }).pipe(Effect.provide(serve())))
})

describe("the synchronizer token (csrf.token)", () => {
  const options = { http: { cookie: { secure: false }, csrf: { token: true } } } as const

  it.live("checked requests must carry the session's token, in the header or the form field", () =>
    Effect.gen(function*() {
      const issued = yield* request("GET", "/csrf-token")
      const cookie = sid(cookieValue(issued)!)
      const token = issued.body
      expect(SessionToken.isWellFormed(token)).toBe(true)
      // the same token on the next page
      expect((yield* request("GET", "/csrf-token", { cookie })).body).toBe(token)
      const probe = yield* StoreProbe
      for (
        const headers of [{}, { [HttpSession.CSRF_HEADER]: forgedToken() }, { [HttpSession.CSRF_HEADER]: "short" }]
      ) {
        const before = yield* probe.count
        const refused = yield* request("POST", "/form", { cookie, headers })
        expect(refused.status).toBe(403)
        expect(refused.body).toBe("Missing or invalid CSRF token")
        expect(refused.setCookies).toEqual([])
        expect(yield* probe.count).toEqual(before)
      }
      const header = yield* request("POST", "/form", { cookie, headers: { [HttpSession.CSRF_HEADER]: token } })
      expect(header.status).toBe(200)
      const field = yield* request("POST", "/form", { cookie, form: { [HttpSession.CSRF_FIELD]: token, x: "1" } })
      expect(field.status).toBe(200)
      const wrongField = yield* request("POST", "/form", { cookie, form: { [HttpSession.CSRF_FIELD]: forgedToken() } })
      expect(wrongField.status).toBe(403)
      // no session, no token: refused
      expect((yield* request("POST", "/form", { headers: { [HttpSession.CSRF_HEADER]: token } })).status).toBe(403)
    }).pipe(Effect.provide(serve(router, options))))

  it.live("a login starts a new token (data does not cross principals)", () =>
    Effect.gen(function*() {
      const issued = yield* request("GET", "/csrf-token")
      const before = issued.body
      const login = yield* request("POST", "/login", {
        cookie: sid(cookieValue(issued)!),
        headers: { [HttpSession.CSRF_HEADER]: before, authorization: `Basic ${btoa("alice:alice")}` }
      })
      expect(login.status).toBe(200)
      const cookie = sid(cookieValue(login)!)
      const after = (yield* request("GET", "/csrf-token", { cookie })).body
      expect(after).not.toBe(before)
      expect((yield* request("POST", "/form", { cookie, headers: { [HttpSession.CSRF_HEADER]: before } })).status)
        .toBe(403)
      expect((yield* request("POST", "/form", { cookie, headers: { [HttpSession.CSRF_HEADER]: after } })).status)
        .toBe(200)
    }).pipe(Effect.provide(serve(router, options))))
})
