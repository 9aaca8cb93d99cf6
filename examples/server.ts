/**
 * effect-session demo: a small server-rendered site with a login form, a per-session visit counter,
 * the list of your sessions with "log out everywhere else", and logout.
 *
 *   npx tsx examples/server.ts            # http://localhost:3000
 *   PORT=8080 npx tsx examples/server.ts  # another port (HOST=0.0.0.0 to listen beyond loopback)
 *
 * Demo users: alice / alice and bob / bob. Sessions live in memory (SessionLive): restarting the
 * server logs everybody out. With REDIS_URL=redis://127.0.0.1:6379 they live in Redis instead,
 * shared by every instance and surviving restarts; with DATABASE_URL=postgres://... in PostgreSQL;
 * with SESSION_SQLITE=./sessions.db in a SQLite file.
 *
 * Only the public API is used, as an application would.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse, UrlParams } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Clock, Config, Console, Effect, Layer, Option, Schema } from "effect"
import { AuthManager, HttpSession, Session, SessionLive, SessionManager } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as RedisStore from "effect-session/SessionStore/Redis"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { createServer } from "node:http"

// ---------------------------------------------------------------------------------------------
// Authentication: two demo users, credentials read from the login form only
// ---------------------------------------------------------------------------------------------

const formCredentials = (request: HttpServerRequest.HttpServerRequest) => {
  const isLoginForm = request.method === "POST" && request.url.split("?")[0] === "/login" &&
    (request.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
  if (!isLoginForm) return Effect.succeedNone
  return request.urlParamsBody.pipe(
    Effect.map((params) =>
      Option.map(UrlParams.getFirst(params, "username"), (username) => ({
        username: username.trim(),
        password: Option.getOrElse(UrlParams.getFirst(params, "password"), () => "")
      }))
    ),
    Effect.catchAll(() => Effect.succeedNone)
  )
}

const AuthLive = AuthManager.layerMock({
  users: {
    alice: { password: "alice", attributes: { name: "Alice" } },
    bob: { password: "bob", attributes: { name: "Bob" } }
  },
  credentials: formCredentials
})

// secure: "auto" writes `Secure` only on requests that came over TLS, so the cookie works on
// plain http://localhost. In production leave the default (`secure: true`) or use "auto" with
// `trustProxy: true` behind a TLS-terminating proxy that sets X-Forwarded-Proto.
// With REDIS_URL set, sessions live in Redis and every instance of the demo shares them (start two
// on different ports: cookies ignore ports, so one login serves both); otherwise in memory.
// With DATABASE_URL (PostgreSQL) or SESSION_SQLITE (a SQLite file) set, sessions live there.
const storeFromEnv = Effect.map(
  Effect.all([
    Config.option(Config.redacted("REDIS_URL")),
    Config.option(Config.redacted("DATABASE_URL")),
    Config.option(Config.string("SESSION_SQLITE"))
  ]),
  ([redis, database, sqlite]) =>
    Option.isSome(redis)
      ? { name: "Redis", layer: RedisStore.layerConfig() }
      : Option.isSome(database)
      ? { name: "PostgreSQL", layer: PgStore.layerConfig() }
      : Option.isSome(sqlite)
      ? { name: "SQLite", layer: SqliteStore.layerConfig() }
      : undefined
)
const ManagerLive = Layer.unwrapEffect(
  Effect.map(
    storeFromEnv,
    (store) => store === undefined ? SessionLive : SessionManager.layer().pipe(Layer.provide(store.layer))
  )
)

const SessionsLive = HttpSession.layer({ cookie: { secure: "auto" }, loginUrl: "/login?failed=1" }).pipe(
  Layer.provideMerge(ManagerLive),
  Layer.provideMerge(AuthLive)
)

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

const Visits = Session.dataKey("visits", Schema.Number)

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

const style = `
  :root { color-scheme: light; --ink: #1d2433; --muted: #667085; --line: #e4e7ec; --accent: #3e5bd8; --bad: #c0362c; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
         background: linear-gradient(160deg, #eef2ff 0%, #f8fafc 55%); min-height: 100vh; }
  header { padding: 18px 32px; border-bottom: 1px solid var(--line); background: #fff; display: flex;
           justify-content: space-between; align-items: center; }
  header .brand { font-weight: 700; letter-spacing: .2px; }
  header .brand span { color: var(--accent); }
  main { max-width: 760px; margin: 40px auto; padding: 0 24px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 14px; padding: 28px 32px;
          box-shadow: 0 10px 30px rgba(16, 24, 40, .06); margin-bottom: 24px; }
  h1 { margin: 0 0 6px; font-size: 26px; }
  h2 { margin: 0 0 14px; font-size: 18px; }
  p.muted, .muted { color: var(--muted); }
  label { display: block; font-weight: 600; margin: 14px 0 6px; }
  input { width: 100%; padding: 10px 12px; border: 1px solid #d0d5dd; border-radius: 8px; font-size: 16px; }
  button { margin-top: 18px; padding: 10px 18px; border: 0; border-radius: 8px; background: var(--accent);
           color: #fff; font-weight: 600; font-size: 15px; cursor: pointer; }
  button.secondary { background: #fff; color: var(--ink); border: 1px solid #d0d5dd; }
  button.danger { background: var(--bad); }
  .row { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; }
  .error { background: #fdecea; color: var(--bad); border-radius: 8px; padding: 10px 12px; margin-top: 12px; }
  .notice { background: #ecfdf3; color: #067647; border-radius: 8px; padding: 10px 12px; margin-bottom: 16px; }
  .counter { font-size: 44px; font-weight: 800; color: var(--accent); line-height: 1; }
  table { width: 100%; border-collapse: collapse; font-size: 15px; }
  th, td { text-align: left; padding: 10px 8px; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 600; font-size: 13px; text-transform: uppercase; letter-spacing: .4px; }
  code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 14px; }
  .badge { display: inline-block; padding: 2px 8px; border-radius: 999px; background: #eef2ff; color: var(--accent);
           font-size: 12px; font-weight: 700; }
  .users { font-size: 14px; }
`

const page = (title: string, body: string, status = 200) =>
  HttpServerResponse.text(
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · effect-session demo</title><style>${style}</style></head>
<body><header><div class="brand">effect-<span>session</span> demo</div><div class="muted">server-side sessions on Effect</div></header>
<main>${body}</main></body></html>`,
    {
      status,
      contentType: "text/html; charset=utf-8",
      headers: {
        "content-security-policy":
          "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin"
      }
    }
  )

const redirect = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

const ago = (now: number, then: number) => {
  const seconds = Math.max(0, Math.round((now - then) / 1000))
  return seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

const loginPage = (error: boolean, status = 200) =>
  page(
    "Sign in",
    `<div class="card">
  <h1>Sign in</h1>
  <p class="muted">Your browser already has an anonymous session; signing in rotates it to a new id.</p>
  <form method="post" action="/login">
    <label for="username">Username</label>
    <input id="username" name="username" autocomplete="username" required>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    ${error ? `<div class="error" role="alert">Invalid username or password.</div>` : ""}
    <button type="submit">Sign in</button>
  </form>
</div>
<div class="card users"><h2>Demo users</h2><p class="muted">alice / alice &nbsp;·&nbsp; bob / bob</p></div>`,
    status
  )

// Cross-site form posts are already stopped by SameSite=Lax; refuse a foreign Origin as well.
const sameOrigin = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const origin = request.headers["origin"]
    if (origin === undefined || origin === "null") return handler
    try {
      if (new URL(origin).host === request.headers["host"]) return handler
    } catch {
      // fall through
    }
    return Effect.succeed(HttpServerResponse.text("Cross-origin request refused", { status: 403 }))
  })

const home = Effect.gen(function*() {
  const current = yield* HttpSession.current
  if (current.principal.anonymous) return redirect("/login")
  const session = yield* HttpSession.updateData(Visits, (n) => Option.getOrElse(n, () => 0) + 1)
  const visits = session.data["visits"] as number
  const sessions = yield* SessionManager.sessionsOf(session.principal.id)
  const now = yield* Clock.currentTimeMillis
  const request = yield* HttpServerRequest.HttpServerRequest
  const revoked = new URLSearchParams(request.url.split("?")[1] ?? "").get("revoked")
  const name = String(session.principal.attributes?.["name"] ?? session.principal.id)
  const rows = [...sessions]
    .sort((a, b) => b.lastUsedAt - a.lastUsedAt)
    .map((other) =>
      `<tr><td><code>${escape(Session.shortId(other))}</code> ${
        other.key === session.key ? `<span class="badge">this browser</span>` : ""
      }</td><td>${ago(now, other.createdAt)}</td><td>${ago(now, other.lastUsedAt)}</td><td>${
        escape(String(other.data["visits"] ?? 0))
      }</td></tr>`
    )
    .join("")
  return page(
    "Home",
    `${
      revoked === null
        ? ""
        : `<div class="notice" role="status">Logged out ${escape(revoked)} other session(s).</div>`
    }<div class="card">
  <h1 id="greeting">Hello, ${escape(name)}</h1>
  <p class="muted">Signed in as <code id="principal">${escape(session.principal.id)}</code></p>
  <div class="row"><div class="counter" id="visits">${visits}</div>
  <div class="muted">visits in this session<br>(kept in session data with <code>updateData</code>)</div></div>
</div>
<div class="card">
  <h2>Your sessions (<span id="session-count">${sessions.length}</span>)</h2>
  <table><thead><tr><th>Session</th><th>Started</th><th>Last used</th><th>Visits</th></tr></thead>
  <tbody>${rows}</tbody></table>
  <div class="row">
    <form method="post" action="/sessions/revoke-others"><button class="secondary" id="revoke-others">Log out everywhere else</button></form>
    <form method="post" action="/logout"><button class="danger" id="logout">Log out</button></form>
  </div>
</div>`
  )
})

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", home),
  HttpRouter.get(
    "/login",
    Effect.gen(function*() {
      const session = yield* HttpSession.current
      if (!session.principal.anonymous) return redirect("/")
      const request = yield* HttpServerRequest.HttpServerRequest
      return loginPage(/[?&]failed=1(&|$)/.test(request.url))
    })
  ),
  HttpRouter.post(
    "/login",
    sameOrigin(
      HttpSession.login.pipe(
        Effect.as(redirect("/")),
        Effect.catchTag("ExplicitLogin", () => Effect.succeed(loginPage(true, 401)))
      )
    )
  ),
  HttpRouter.post(
    "/sessions/revoke-others",
    sameOrigin(Effect.gen(function*() {
      const session = yield* HttpSession.current
      if (session.principal.anonymous) return redirect("/login")
      const report = yield* SessionManager.closeAllOf(session.principal.id, { except: session })
      return redirect(`/?revoked=${report.closed}`)
    }))
  ),
  HttpRouter.post("/logout", sameOrigin(Effect.as(HttpSession.logout, redirect("/login")))),
  HttpRouter.get("/favicon.ico", Effect.succeed(HttpServerResponse.empty({ status: 204 }))),
  HttpRouter.use(HttpSession.middleware)
)

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const ServerLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const port = yield* Config.port("PORT").pipe(Config.withDefault(3000))
    const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
    const shown = host === "127.0.0.1" || host === "::1" ? "localhost" : host
    const storeName = (yield* storeFromEnv)?.name ?? "memory"
    const announce = Layer.effectDiscard(Effect.flatMap(HttpServer.HttpServer, (server) =>
      Console.log(
        `effect-session demo listening on http://${shown}:${
          server.address._tag === "TcpAddress" ? server.address.port : port
        } (users: alice/alice, bob/bob; sessions in ${storeName})`
      )))
    return HttpServer.serve(router).pipe(
      Layer.merge(announce),
      Layer.provide(NodeHttpServer.layer(createServer, { port, host }))
    )
  })
)

ServerLive.pipe(Layer.provide(SessionsLive), Layer.launch, NodeRuntime.runMain)
