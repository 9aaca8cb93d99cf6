/**
 * Test kit for the HTTP layer: a real Node server on 127.0.0.1 (NodeHttpServer.layerTest, pinned to
 * loopback), a counting and switchable store, a router exercising every helper, and small clients
 * (the platform HttpClient, and a raw socket for bytes no client library will send).
 */
import type { HttpApp } from "@effect/platform"
import { HttpClient, HttpClientRequest, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"
import { AuthManager, HttpSession, Session, SessionError, SessionManager, SessionStore } from "effect-session"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import * as Net from "node:net"

// ---------------------------------------------------------------------------------------------
// A store that counts its calls and can be switched to failing
// ---------------------------------------------------------------------------------------------

export interface StoreProbeService {
  /** Calls per operation name since the start (or the last reset). */
  readonly calls: Effect.Effect<Readonly<Record<string, number>>>
  readonly total: Effect.Effect<number>
  readonly reset: Effect.Effect<void>
  /** From now on every operation fails with `SessionStoreError` (`Unavailable`). */
  readonly setDown: (down: boolean) => Effect.Effect<void>
  readonly count: Effect.Effect<{ readonly anonymous: number; readonly authenticated: number }>
}

export class StoreProbe extends Context.Tag("test/StoreProbe")<StoreProbe, StoreProbeService>() {}

export const probedStore: Layer.Layer<SessionStore.SessionStore | StoreProbe> = Layer.effectContext(
  Effect.gen(function*() {
    const inner = yield* SessionStore.makeMemory
    const calls = yield* Ref.make<Record<string, number>>({})
    const down = yield* Ref.make(false)
    const guard = <A, E>(
      name: string,
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, E | SessionError.SessionStoreError> =>
      Ref.update(calls, (all) => ({ ...all, [name]: (all[name] ?? 0) + 1 })).pipe(
        Effect.zipRight(Ref.get(down)),
        Effect.flatMap((isDown): Effect.Effect<A, E | SessionError.SessionStoreError> =>
          isDown
            ? Effect.fail(new SessionError.SessionStoreError({ reason: "Unavailable", operation: name }))
            : effect
        )
      )
    const store: SessionStore.Service = {
      persistent: inner.persistent,
      insert: (record, limits) => guard("insert", inner.insert(record, limits)),
      get: (key) => guard("get", inner.get(key)),
      touch: (key, cutoff, touchBefore) => guard("touch", inner.touch(key, cutoff, touchBefore)),
      update: (key, patch, cutoff) => guard("update", inner.update(key, patch, cutoff)),
      rekey: (key, next, limits, cutoff) => guard("rekey", inner.rekey(key, next, limits, cutoff)),
      remove: (key, options) => guard("remove", inner.remove(key, options)),
      revoke: (id, options) => guard("revoke", inner.revoke(id, options)),
      list: guard("list", inner.list),
      listByPrincipal: (id) => guard("listByPrincipal", inner.listByPrincipal(id)),
      claimExpired: (cutoff, max) => guard("claimExpired", inner.claimExpired(cutoff, max)),
      count: guard("count", inner.count)
    }
    const probe: StoreProbeService = {
      calls: Ref.get(calls),
      total: Effect.map(Ref.get(calls), (all) => Object.values(all).reduce((a, b) => a + b, 0)),
      reset: Ref.set(calls, {}),
      setDown: (value) => Ref.set(down, value),
      count: Effect.orDie(inner.count)
    }
    return Context.make(SessionStore.SessionStore, store).pipe(Context.add(StoreProbe, probe))
  })
)

// ---------------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------------

export const Counter = Session.dataKey("counter", Schema.Number)
export const Notice = Session.dataKey("notice", Schema.String)

class Boom extends Schema.TaggedError<Boom>()("Boom", {}) {}

const describe = (session: Session.Session, opened: boolean) => ({
  principal: session.principal.id,
  anonymous: session.principal.anonymous,
  opened,
  stored: session.token !== undefined,
  id: Session.shortId(session)
})

export const whoami = Effect.gen(function*() {
  const current = yield* HttpSession.CurrentSession
  const session = yield* current.get
  return yield* HttpServerResponse.json(describe(session, current.opened))
})

const routes2 = HttpRouter.empty.pipe(
  HttpRouter.post("/rotate", Effect.zipRight(HttpSession.rotate, whoami)),
  // a token change followed by an unrelated failure: the new cookie must still go out
  HttpRouter.post("/rotate-then-fail", Effect.zipRight(HttpSession.rotate, Effect.fail(new Boom()))),
  HttpRouter.post("/login-then-die", Effect.zipRight(HttpSession.login, Effect.die("boom"))),
  // the handler's session dies under it (closed by someone else), then it writes
  HttpRouter.post(
    "/revoked-then-write",
    Effect.gen(function*() {
      const session = yield* HttpSession.current
      yield* SessionManager.closeSession(session)
      yield* HttpSession.setData(Counter, 1)
      return HttpServerResponse.text("unreachable")
    })
  ),
  HttpRouter.get(
    "/cacheable",
    Effect.map(
      Effect.zipRight(HttpSession.save, whoami),
      (response) =>
        HttpServerResponse.setHeaders(response, { "cache-control": "public, max-age=600", vary: "Accept-Encoding" })
    )
  ),
  HttpRouter.get(
    "/logout-everywhere-else",
    Effect.gen(function*() {
      const session = yield* HttpSession.current
      const report = yield* SessionManager.closeAllOf(session.principal.id, { except: session })
      return yield* HttpServerResponse.json({ closed: report.closed })
    })
  )
)

/** Every route a test needs, behind the middleware. */
export const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", whoami),
  // never touches the session
  HttpRouter.get("/untouched", Effect.succeed(HttpServerResponse.text("untouched"))),
  HttpRouter.post("/untouched", Effect.succeed(HttpServerResponse.text("untouched"))),
  HttpRouter.put("/untouched", Effect.succeed(HttpServerResponse.text("untouched"))),
  HttpRouter.patch("/untouched", Effect.succeed(HttpServerResponse.text("untouched"))),
  HttpRouter.del("/untouched", Effect.succeed(HttpServerResponse.text("untouched"))),
  HttpRouter.post("/webhook", Effect.succeed(HttpServerResponse.text("hook"))),
  // stores the session (a visitor without one gets a cookie)
  HttpRouter.get("/save", Effect.zipRight(HttpSession.save, whoami)),
  HttpRouter.get("/login", whoami),
  HttpRouter.post("/login", Effect.zipRight(HttpSession.login, whoami)),
  HttpRouter.post("/logout", Effect.as(HttpSession.logout, HttpServerResponse.text("bye"))),
  HttpRouter.post(
    "/logout-then-flash",
    Effect.zipRight(HttpSession.logout, Effect.zipRight(HttpSession.flash(Notice, "signed out"), whoami))
  ),
  HttpRouter.get(
    "/count",
    Effect.gen(function*() {
      const session = yield* HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1)
      const live = yield* HttpSession.current
      return yield* HttpServerResponse.json({
        counter: session.data["counter"],
        sameAsLive: live === session,
        read: Option.getOrNull(yield* HttpSession.getData(Counter))
      })
    })
  ),
  HttpRouter.post(
    "/flash",
    Effect.zipRight(HttpSession.flash(Notice, "saved"), Effect.succeed(HttpServerResponse.text("flashed")))
  ),
  HttpRouter.get(
    "/pop",
    Effect.gen(function*() {
      const notice = yield* HttpSession.pop(Notice)
      return yield* HttpServerResponse.json({ notice: Option.getOrNull(notice) })
    })
  ),
  HttpRouter.get(
    "/invalidated",
    Effect.gen(function*() {
      const invalid = yield* HttpSession.invalidated
      return yield* HttpServerResponse.json({ reason: Option.getOrNull(Option.map(invalid, (error) => error.reason)) })
    })
  ),
  HttpRouter.get(
    "/csrf-token",
    Effect.map(HttpSession.csrfToken, (token) => HttpServerResponse.text(token))
  ),
  HttpRouter.post("/form", Effect.zipRight(HttpSession.setData(Notice, "posted"), whoami)),
  HttpRouter.concat(routes2),
  HttpRouter.use(HttpSession.middleware)
)

export const users = { alice: { password: "alice" }, bob: { password: "bob" } }

export interface EnvOptions {
  readonly http?: HttpSession.Options
  readonly manager?: SessionManager.Options
  readonly mock?: AuthManager.MockOptions
  /** Replaces the mock auth manager. */
  readonly auth?: Layer.Layer<AuthManager.AuthManager>
}

/** HttpSession, SessionManager, the mock auth manager and the probed store, without a server. */
export const sessionLayer = (options: EnvOptions = {}) =>
  HttpSession.layer(options.http ?? { cookie: { secure: false } }).pipe(
    Layer.provideMerge(SessionManager.layer(options.manager ?? {})),
    Layer.provideMerge(probedStore),
    // a given auth manager overrides the mock's (whose controls stay available)
    Layer.provideMerge(
      options.auth === undefined
        ? AuthManager.layerMock({ users, ...options.mock })
        : Layer.merge(AuthManager.layerMock({ users, ...options.mock }), options.auth)
    )
  )

/** NodeHttpServer.layerTest, bound to 127.0.0.1 only. */
export const LoopbackServer = HttpServer.layerTestClient.pipe(
  Layer.provide(NodeHttpClient.layerWithoutAgent),
  Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

/** What `serve` provides to the app besides the request. */
export type Provided =
  | HttpSession.HttpSession
  | SessionManager.SessionManager
  | SessionStore.SessionStore
  | AuthManager.AuthManager
  | AuthManager.MockAuthManager
  | StoreProbe

/** Serves `app` (by default the router above) on loopback, with the session services. */
export const serve = (app: HttpApp.Default<unknown, Provided> = router, options: EnvOptions = {}) =>
  Layer.scopedDiscard(HttpServer.serveEffect(app)).pipe(
    Layer.provideMerge(LoopbackServer),
    Layer.provideMerge(sessionLayer(options))
  )

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

export interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** Raw `Set-Cookie` header lines. */
  readonly setCookies: ReadonlyArray<string>
  readonly body: string
}

const splitSetCookie = (value: string | undefined): ReadonlyArray<string> =>
  value === undefined || value === "" ? [] : value.split(/,(?=\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+=)/).map((s) => s.trim())

/** One request through the platform HttpClient; `cookie` is sent verbatim as the Cookie header. */
export const request = (
  method: "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS",
  path: string,
  options: {
    readonly cookie?: string
    readonly headers?: Record<string, string>
    readonly form?: Record<string, string>
  } = {}
) =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withScope)
    let req = HttpClientRequest.make(method)(path).pipe(
      HttpClientRequest.setHeaders({
        ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
        ...options.headers
      })
    )
    if (options.form !== undefined) req = HttpClientRequest.bodyUrlParams(req, options.form)
    const response = yield* Effect.scoped(
      Effect.flatMap(client.execute(req), (response) => Effect.map(response.text, (body) => ({ response, body })))
    )
    const raw = response.response.headers["set-cookie"]
    return {
      status: response.response.status,
      headers: response.response.headers,
      setCookies: splitSetCookie(raw),
      body: response.body
    } satisfies Reply
  }).pipe(Effect.orDie)

/** The value the reply sets for cookie `name`, if any. */
export const cookieValue = (reply: Reply, name = "sid"): string | undefined => {
  const line = reply.setCookies.find((line) => line.startsWith(`${name}=`))
  return line === undefined ? undefined : line.slice(name.length + 1).split(";")[0]
}

/** The attributes of the `Set-Cookie` line for `name`, as written (`Max-Age=60`, `HttpOnly`, ...). */
export const cookieAttributes = (reply: Reply, name = "sid"): ReadonlyArray<string> => {
  const line = reply.setCookies.find((line) => line.startsWith(`${name}=`))
  return line === undefined ? [] : line.split(";").slice(1).map((s) => s.trim())
}

export const json = <A = any>(reply: Reply): A => JSON.parse(reply.body) as A

/** The port the test server listens on. */
export const serverPort = Effect.map(HttpServer.HttpServer, (server) => {
  if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return server.address.port
})

/**
 * Sends raw bytes (a full HTTP/1.1 request, `Connection: close`) to 127.0.0.1 and parses the
 * answer; for header bytes that client libraries refuse to send. `head` is sent as latin1.
 */
export const rawRequest = (port: number, head: string) =>
  Effect.async<Reply, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    const timer = setTimeout(() => socket.destroy(new Error("raw request timed out")), 10_000)
    socket.on("connect", () => socket.end(Buffer.from(head, "latin1")))
    socket.on("data", (chunk) => chunks.push(chunk))
    socket.on("error", (error) => {
      clearTimeout(timer)
      resume(Effect.fail(error))
    })
    socket.on("close", () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("latin1")
      const headEnd = text.indexOf("\r\n\r\n")
      const lines = (headEnd === -1 ? text : text.slice(0, headEnd)).split("\r\n")
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0)
      const headers: Record<string, string> = {}
      const setCookies: Array<string> = []
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":")
        const name = line.slice(0, colon).trim().toLowerCase()
        const value = line.slice(colon + 1).trim()
        if (name === "set-cookie") setCookies.push(value)
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
      }
      resume(Effect.succeed({ status, headers, setCookies, body: headEnd === -1 ? "" : text.slice(headEnd + 4) }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      socket.destroy()
    })
  })

export interface Observed {
  readonly reply: Reply
  /** Store calls by operation, during the request. */
  readonly storeCalls: Readonly<Record<string, number>>
  /** The auth manager's calls during the request. */
  readonly authCalls: ReadonlyArray<AuthManager.MockCall>
}

/** Sends a request and reports what it cost: store calls and auth manager calls. */
export const observe = <R>(send: Effect.Effect<Reply, unknown, R>) =>
  Effect.gen(function*() {
    const probe = yield* StoreProbe
    const mock = yield* AuthManager.MockAuthManager
    const before = (yield* mock.calls).length
    yield* probe.reset
    const reply = yield* send
    const storeCalls = yield* probe.calls
    const authCalls = (yield* mock.calls).slice(before)
    return { reply, storeCalls, authCalls } satisfies Observed
  })

/** The `authenticate` calls among the auth manager's calls. */
export const authentications = (calls: ReadonlyArray<AuthManager.MockCall>) =>
  calls.filter((call) => call._tag === "authenticate")

/** A stored session (GET /save): its token and description. */
export const mint = Effect.map(request("GET", "/save"), (reply) => ({
  token: cookieValue(reply)!,
  body: json(reply),
  reply
}))

/** A GET of `path` with the given raw Cookie header line value (`undefined`: no Cookie header). */
export const rawGet = (port: number, path: string, cookie: string | undefined) =>
  rawRequest(
    port,
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n` +
      (cookie === undefined ? "" : `Cookie: ${cookie}\r\n`) + "\r\n"
  )

/** A well-formed token that no server minted. */
export const forgedToken = (): string => randomBytes(32).toString("base64url")
