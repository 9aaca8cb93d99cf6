/**
 * effect-session demo: a small server-rendered site with a login form, a per-session visit counter,
 * the list of your sessions with "log out everywhere else", and logout. It tells you what happened:
 * one-shot flash messages ("signed out", "signed out on another device", "session expired"), a
 * failed login that keeps your username, a 404 page, and a page for a duplicate session cookie.
 *
 *   npx tsx examples/server.ts            # http://localhost:3000
 *   PORT=8080 npx tsx examples/server.ts  # another port (HOST=0.0.0.0 to listen beyond loopback)
 *
 * Demo users: alice / alice and bob / bob. Sessions live in memory: restarting the server logs
 * everybody out. With REDIS_URL=redis://127.0.0.1:6379 they live in Redis instead, shared by every
 * instance and surviving restarts; with DATABASE_URL=postgres://... in PostgreSQL; with
 * SESSION_SQLITE=./sessions.db in a SQLite file (see `selectStore`). The manager's options come from the
 * environment (e.g. SESSION_IDLE_TIMEOUT="1 minute" to watch a session expire).
 *
 * Sessions are opened on demand: the login page and the 404 page store nothing; a visitor gets a
 * stored session (and a cookie) when something is written to it (a login, a flash message). The
 * CSRF defence is HttpSession's own: a cross-site form post to /login or /logout is refused (403)
 * before any session work.
 *
 * Only the public API is used, as an application would.
 */
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse, UrlParams } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Clock, Config, Console, Effect, Layer, Option, Schema, Stream } from "effect"
import { AuthManager, HttpSession, Session, SessionManager, SessionStore } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as RedisStore from "effect-session/SessionStore/Redis"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { createServer } from "node:http"

// ---------------------------------------------------------------------------------------------
// Authentication: two demo users, credentials read from the login form only
// ---------------------------------------------------------------------------------------------

const isLoginForm = (request: HttpServerRequest.HttpServerRequest) =>
  request.method === "POST" && request.url.split("?")[0] === "/login" &&
  (request.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")

/** The login form's fields (the body is read once by the platform, and cached). */
const loginForm = (request: HttpServerRequest.HttpServerRequest) =>
  isLoginForm(request)
    ? request.urlParamsBody.pipe(
      Effect.map((params) => ({
        username: Option.getOrElse(UrlParams.getFirst(params, "username"), () => "").trim(),
        password: Option.getOrElse(UrlParams.getFirst(params, "password"), () => "")
      })),
      Effect.orElseSucceed(() => ({ username: "", password: "" }))
    )
    : Effect.succeed({ username: "", password: "" })

const AuthLive = AuthManager.layerMock({
  users: {
    alice: { password: "alice", attributes: { name: "Alice" } },
    bob: { password: "bob", attributes: { name: "Bob" } }
  },
  credentials: (request) =>
    Effect.map(loginForm(request), (form) => form.username === "" ? Option.none() : Option.some(form))
})

// ---------------------------------------------------------------------------------------------
// Where sessions live
// ---------------------------------------------------------------------------------------------

/**
 * The session store, chosen from the environment: Redis when REDIS_URL is set (every instance of
 * the demo shares the sessions: start two on different ports, cookies ignore ports, so one login
 * serves both); PostgreSQL when DATABASE_URL is set, SQLite when SESSION_SQLITE names a file (the
 * tables are created at start); else memory. To add a store, add a branch here.
 */
const selectStore = Effect.gen(function*() {
  if (Option.isSome(yield* Config.option(Config.redacted("REDIS_URL")))) {
    return { name: "Redis", layer: RedisStore.layerConfig() }
  }
  if (Option.isSome(yield* Config.option(Config.redacted("DATABASE_URL")))) {
    return { name: "PostgreSQL", layer: PgStore.layerConfig() }
  }
  if (Option.isSome(yield* Config.option(Config.string("SESSION_SQLITE")))) {
    return { name: "SQLite", layer: SqliteStore.layerConfig() }
  }
  return { name: "memory", layer: SessionStore.layerMemory }
})

const StoreName = Effect.map(selectStore, (store) => store.name)

// The manager's options from the environment (SESSION_IDLE_TIMEOUT=..., see the README), defaults otherwise.
const ManagerLive = Layer.unwrapEffect(
  Effect.map(selectStore, (store) => SessionManager.layerConfig().pipe(Layer.provide(store.layer)))
)

// secure: "auto" writes `Secure` only on requests that came over TLS, so the cookie works on
// plain http://localhost. In production leave the default (`secure: true`), and prefer
// `hostPrefix: true` (the `__Host-` prefix: no other site under your domain can plant a cookie
// of that name), or "auto" with `trustProxy: true` behind a proxy that sets X-Forwarded-Proto.
// maxAge: "browser": the cookie lasts until the browser closes while the server enforces the idle
// limit, so a browser coming back after it can be told that its session expired (with the default,
// the cookie would have expired in the browser at the same moment, silently); written only when
// the token changes (rolling: false), as it has no Max-Age to refresh.
const SessionsLive = HttpSession.layer({
  cookie: { secure: "auto", maxAge: "browser" },
  rolling: false,
  loginUrl: "/login"
}).pipe(
  Layer.provideMerge(ManagerLive),
  Layer.provideMerge(AuthLive)
)

// Sessions closed by "log out everywhere else" (from the manager's event stream), so that the
// browser holding one is told why it was signed out. Bounded; per process.
const revoked = new Set<string>()
const TrackRevocations = Layer.scopedDiscard(
  Effect.forkScoped(
    Stream.runForEach(SessionManager.events, (event) =>
      Effect.sync(() => {
        if (event._tag !== "Closed" || event.reason !== "Revoked") return
        revoked.add(event.sessionId)
        if (revoked.size > 10_000) revoked.delete(revoked.values().next().value!)
      }))
  )
)

// ---------------------------------------------------------------------------------------------
// Flash messages: set before a redirect, shown once on the next page
// ---------------------------------------------------------------------------------------------

const FlashMessage = Schema.Struct({
  kind: Schema.Literal("notice", "error"),
  text: Schema.String,
  username: Schema.optionalWith(Schema.String, { exact: true })
})
type Flash = typeof FlashMessage.Type
const Flash = Session.dataKey("flash", FlashMessage)

const flash = (message: Flash) => HttpSession.flash(Flash, message)

/** Why the browser's session cookie was refused, in words, if it was. */
const cookieNotice = Effect.map(
  HttpSession.invalidated,
  Option.map((error): Flash => {
    if (error.reason === "Expired") return { kind: "error", text: "Your session expired. Please sign in again." }
    if (error.reason === "Revoked" || (error.sessionId !== undefined && revoked.has(error.sessionId))) {
      return { kind: "error", text: "You were signed out on another device." }
    }
    return { kind: "error", text: "Your session is no longer valid. Please sign in again." }
  })
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
  button, a.button { display: inline-block; margin-top: 18px; padding: 10px 18px; border: 0; border-radius: 8px;
           background: var(--accent); color: #fff; font-weight: 600; font-size: 15px; cursor: pointer; text-decoration: none; }
  button.secondary { background: #fff; color: var(--ink); border: 1px solid #d0d5dd; }
  button.danger { background: var(--bad); }
  .row { display: flex; gap: 12px; flex-wrap: wrap; align-items: center; }
  .error { background: #fdecea; color: var(--bad); border-radius: 8px; padding: 10px 12px; margin-bottom: 16px; }
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

const message = (flash: Option.Option<Flash>) =>
  Option.match(flash, {
    onNone: () => "",
    onSome: ({ kind, text }) =>
      `<div class="${kind}" id="flash" role="${kind === "error" ? "alert" : "status"}">${escape(text)}</div>`
  })

const redirect = (location: string) => HttpServerResponse.redirect(location, { status: 303 })

const ago = (now: number, then: number) => {
  const seconds = Math.max(0, Math.round((now - then) / 1000))
  return seconds < 60 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`
}

const loginPage = (flash: Option.Option<Flash>) =>
  page(
    "Sign in",
    `<div class="card">
  <h1>Sign in</h1>
  ${message(flash)}
  <form method="post" action="/login">
    <label for="username">Username</label>
    <input id="username" name="username" autocomplete="username" required value="${
      escape(Option.getOrElse(Option.flatMap(flash, (f) => Option.fromNullable(f.username)), () => ""))
    }">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <button type="submit">Sign in</button>
  </form>
</div>
<div class="card users"><h2>Demo users</h2><p class="muted">alice / alice &nbsp;·&nbsp; bob / bob</p></div>`
  )

const notFound = page(
  "Not found",
  `<div class="card"><h1 id="not-found">Page not found</h1>
  <p class="muted">There is nothing here.</p><a class="button" href="/">Go home</a></div>`,
  404
)

// The request carried the session cookie twice (e.g. one planted by another site under this
// domain): the server picks neither, and its response clears the copies it can reach.
const duplicateCookiePage = page(
  "Two session cookies",
  `<div class="card"><h1 id="duplicate-cookie">Your browser sent two session cookies</h1>
  <p>One of them may have been set by another site under this domain. Rather than guess which one
  is yours, the server signed this request out and cleared the copies it can reach.</p>
  <p class="muted">Continue to sign in again. If this page comes back, clear this site's cookies in your
  browser. (Site operators: the <code>__Host-</code> cookie prefix, <code>cookie: { hostPrefix: true }</code>,
  stops other sites from planting such a cookie.)</p>
  <a class="button" id="continue" href="/">Continue</a></div>`,
  400
)

/** A page that reads the session: a duplicate session cookie gets the explanation instead. */
const withSession = <E, R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  Effect.catchIf(
    handler,
    (error): error is E & { readonly _tag: "InvalidSession"; readonly reason: "Ambiguous" } =>
      typeof error === "object" && error !== null && "_tag" in error && error._tag === "InvalidSession" &&
      "reason" in error && error.reason === "Ambiguous",
    () => Effect.succeed(duplicateCookiePage)
  )

const home = withSession(Effect.gen(function*() {
  const current = yield* HttpSession.current
  if (current.principal.anonymous) {
    // tell the browser why it is signed out, on the login page (stored as a flash message)
    const notice = yield* cookieNotice
    if (Option.isSome(notice)) yield* flash(notice.value)
    return redirect("/login")
  }
  const session = yield* HttpSession.updateData(Visits, (n) => Option.getOrElse(n, () => 0) + 1)
  const notice = yield* HttpSession.pop(Flash)
  const visits = session.data["visits"] as number
  const sessions = yield* SessionManager.sessionsOf(session.principal.id)
  const now = yield* Clock.currentTimeMillis
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
    `${message(notice)}<div class="card">
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
}))

const showLogin = withSession(Effect.gen(function*() {
  const current = yield* HttpSession.current
  if (!current.principal.anonymous) return redirect("/")
  const flashed = yield* HttpSession.pop(Flash)
  return loginPage(Option.isSome(flashed) ? flashed : yield* cookieNotice)
}))

// post/redirect/get: a failed login goes back to the form with a message and the username
const submitLogin = withSession(
  HttpSession.login.pipe(
    Effect.as(redirect("/")),
    Effect.catchTag("ExplicitLogin", () =>
      Effect.gen(function*() {
        const { username } = yield* loginForm(yield* HttpServerRequest.HttpServerRequest)
        yield* flash({ kind: "error", text: "Invalid username or password.", username })
        return redirect("/login")
      }))
  )
)

const revokeOthers = withSession(Effect.gen(function*() {
  const session = yield* HttpSession.current
  if (session.principal.anonymous) return redirect("/login")
  const report = yield* SessionManager.closeAllOf(session.principal.id, { except: session })
  yield* flash({ kind: "notice", text: `Logged out ${report.closed} other session(s).` })
  return redirect("/")
}))

const logout = Effect.gen(function*() {
  yield* HttpSession.logout
  // the flash lives in a new anonymous session: the signed-in one is closed
  yield* flash({ kind: "notice", text: "You are signed out." })
  return redirect("/login")
})

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/", home),
  HttpRouter.get("/login", showLogin),
  HttpRouter.post("/login", submitLogin),
  HttpRouter.post("/sessions/revoke-others", revokeOthers),
  HttpRouter.post("/logout", logout),
  HttpRouter.get("/favicon.ico", Effect.succeed(HttpServerResponse.empty({ status: 204 }))),
  HttpRouter.use(HttpSession.middleware),
  // no route: a page, and no session work at all
  Effect.catchTag("RouteNotFound", () => Effect.succeed(notFound))
)

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

const ServerLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const port = yield* Config.port("PORT").pipe(Config.withDefault(3000))
    const host = yield* Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
    const shown = host === "127.0.0.1" || host === "::1" ? "localhost" : host
    const storeName = yield* StoreName
    const announce = Layer.effectDiscard(Effect.flatMap(HttpServer.HttpServer, (server) =>
      Console.log(
        `effect-session demo listening on http://${shown}:${
          server.address._tag === "TcpAddress" ? server.address.port : port
        } (users: alice/alice, bob/bob; sessions in ${storeName})`
      )))
    return HttpServer.serve(router).pipe(
      Layer.merge(announce),
      Layer.merge(TrackRevocations),
      Layer.provide(NodeHttpServer.layer(createServer, { port, host }))
    )
  })
)

ServerLive.pipe(Layer.provide(SessionsLive), Layer.launch, NodeRuntime.runMain)
