/**
 * Sessions for `@effect/platform` HTTP servers: a middleware for `HttpRouter` / `HttpApp`, an
 * `HttpApiMiddleware` for `HttpApi`, `login` / `logout`, flash values and a CSRF defence.
 *
 * **On demand.** The middleware does no session work until a handler asks for it: a request whose
 * handler never reads the session costs no `authenticate`, no store access and no `Set-Cookie`.
 * The first read looks the token up (touching the session only when due), or, for a visitor
 * without one, runs `authenticate` and hands back a session that is not stored yet; it is stored,
 * and its cookie set, when data is written to it, on a login or a rotation, or on `save`.
 * `open: "eager"` restores 0.1.0's behaviour (every visitor gets a stored session and a cookie).
 *
 * **Cookie writes** go through a pre-response handler, registered only when there is something to
 * write, so they reach the client on every response, error responses included:
 *
 * - when the token changes: a session stored, a login, a rotation, a replacement handed back by
 *   the auth manager's `validateSession`;
 * - with `rolling: true` (the default), when the session's idle deadline moved (a lookup that
 *   touched it, a data write), so that `Max-Age` follows the server's sliding deadline;
 * - the cookie is expired on logout and when it names no live session;
 * - never on a 503 (store or auth manager unavailable) unless the token changed (invariant I3),
 *   never on a refused (CSRF) request, and never on a cross-site request that came without a live
 *   session cookie (invariant I10: such a response must not replace the user's cookie).
 *
 * Every response that sets or expires the cookie carries `Cache-Control: no-store` and
 * `Vary: Cookie`.
 *
 * **CSRF** (on by default, cookie transport only): every method but GET, HEAD and OPTIONS is
 * checked before any session work, with Fetch Metadata (`Sec-Fetch-Site` `same-origin` or `none`
 * pass), else the `Origin` host against the `Host` header; see `CsrfOptions`.
 *
 * **`CurrentSession`** is one service, provided once by `layer`; the middleware sets the request's
 * state in the fiber (`FiberRef.set`, inherited by child fibers) and the accessors read it, so no
 * request pays for an `Effect.provideService`.
 *
 * @since 0.1.0
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AuthManager } from "./AuthManager.js"
import type * as AuthManagerModule from "./AuthManager.js"
import * as api from "./internal/http/api.js"
import * as csrf from "./internal/http/csrf.js"
import * as internalMiddleware from "./internal/http/middleware.js"
import * as operations from "./internal/http/operations.js"
import * as internalOptions from "./internal/http/options.js"
import * as session from "./internal/http/session.js"
import * as State from "./internal/http/state.js"
import type * as Session from "./Session.js"
import {
  AuthManagerError,
  ExplicitLogin,
  InvalidSession,
  SessionConfigError,
  type SessionDataError,
  SessionLimitError,
  SessionStoreError
} from "./SessionError.js"
import { SessionManager } from "./SessionManager.js"
import type * as SessionManagerModule from "./SessionManager.js"

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * Attributes of the session cookie. Defaults: name `sid`, `HttpOnly` (always), `Secure`,
 * `SameSite=Lax` (written explicitly), `Path=/`, no `Domain`, `Max-Age` following the session's
 * idle limit.
 *
 * - `name`: an RFC 6265 token, at most 256 characters.
 * - `hostPrefix`: prefix the name with `__Host-`; requires (and defaults to) `Secure`, `Path=/`
 *   and no `Domain`. The browser then refuses the same name from a subdomain or another path, which
 *   is the fix for cookie tossing (a duplicate session cookie planted by a sibling subdomain).
 * - `secure`: `true`, `false` (plain-http development only, e.g. a demo on http://localhost), or
 *   `"auto"`: `Secure` when the request came over TLS, or, with `Options.trustProxy`, when
 *   `X-Forwarded-Proto` says `https`.
 * - `sameSite`: `"lax"`, `"strict"`, or `"none"` (which requires `secure: true`).
 * - `path`, `domain`: as in RFC 6265; `domain` widens the cookie to subdomains, leave it out
 *   unless you need that.
 * - `maxAge`: `"idle"` (`Max-Age` is the idle limit of the session's kind, capped by the time left
 *   before its absolute expiry) or `"browser"` (no `Max-Age`: the cookie ends with the browser
 *   session).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const cookie: HttpSession.CookieOptions = { hostPrefix: true, sameSite: "strict" } // "__Host-sid"
 * export const SessionsLive = HttpSession.layer({ cookie })
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export interface CookieOptions {
  readonly name?: string
  readonly hostPrefix?: boolean
  readonly secure?: boolean | "auto"
  readonly sameSite?: "lax" | "strict" | "none"
  readonly path?: string
  readonly domain?: string
  readonly maxAge?: "idle" | "browser"
}

/**
 * The CSRF defence (cookie transport only; bearer tokens are never sent by a browser on its own).
 *
 * GET, HEAD and OPTIONS always pass. Every other method is refused with 403, before any session
 * or `authenticate` work and without a cookie, unless:
 *
 * - `Sec-Fetch-Site` is `same-origin` or `none` (a user-initiated navigation);
 * - without `Sec-Fetch-Site` (older browsers), the `Origin` header's `host[:port]` is the request's
 *   `Host` (`X-Forwarded-Host` with `trustProxy`); `Origin: null` is refused;
 * - the `Origin` is exactly one of `trustedOrigins` (`"https://app.example.com"`), whatever
 *   `Sec-Fetch-Site` says;
 * - the request has neither header (not a browser: curl, a server), unless `requireOrigin`;
 * - its path is exactly one of `exempt` (e.g. a webhook): no case folding, no trailing-slash or
 *   percent-encoded variant (a variant is checked like any other path).
 *
 * `token: true` adds a per-session synchronizer token: every checked request must also carry
 * `HttpSession.csrfToken`'s value in the `x-csrf-token` header or the `_csrf` form field
 * (compared in constant time). A login starts a new one (data does not cross principals).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * export const SessionsLive = HttpSession.layer({
 *   csrf: { trustedOrigins: ["https://admin.example.com"], exempt: ["/webhooks/stripe"] }
 * })
 * ```
 *
 * @since 0.2.0
 * @category options
 */
export interface CsrfOptions {
  readonly trustedOrigins?: ReadonlyArray<string>
  readonly exempt?: ReadonlyArray<string>
  readonly requireOrigin?: boolean
  readonly token?: boolean
}

/**
 * A `Clear-Site-Data` directive sent by `logout` when `Options.clearSiteData` asks for it.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const directives: ReadonlyArray<HttpSession.ClearSiteDataDirective> = ["cache", "storage"]
 * export const SessionsLive = HttpSession.layer({ clearSiteData: directives })
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export type ClearSiteDataDirective = "cache" | "cookies" | "storage" | "executionContexts" | "*"

/**
 * Options of the HTTP session layer; every one has a safe default.
 *
 * - `cookie`: see `CookieOptions`.
 * - `open` (`"lazy"`): a visitor without a session gets one that is stored (and its cookie set)
 *   only when something is written to it, a login or a rotation happens, or `save` is called;
 *   `"eager"`: the middleware stores a session for every visitor before the handler runs (0.1.0).
 * - `csrf` (`true`): see `CsrfOptions`; `false` turns the defence off.
 * - `onInvalid` (`"anonymous"`): what a request whose token names no live session (malformed,
 *   unknown, expired, rejected, revoked) gets: a new session as for a visitor without one (the
 *   dead cookie is expired; `invalidated` says why), or `"unauthorized"`: HTTP 401.
 * - `loginUrl` (none): answer `ExplicitLogin` with a `303` redirect there instead of a 401 (a
 *   same-origin path such as `/login`, or an absolute http(s) URL). A `GET` of the login page
 *   itself still gets the 401, so a misconfiguration cannot loop.
 * - `rolling` (`true`): re-set the cookie whenever the session's idle deadline moves, so that
 *   `Max-Age` follows it; `false`: only when the token changes, with `Max-Age` set to the time
 *   left before the absolute expiry (or a browser-session cookie).
 * - `clearSiteData` (`false`): `logout` also sends `Clear-Site-Data` (`true`: `"cache"`,
 *   `"cookies"`, `"storage"`; or a list of directives).
 * - `trustProxy` (`false`): believe `X-Forwarded-Proto` (for `secure: "auto"`) and
 *   `X-Forwarded-Host` (for the CSRF check). Turn it on only behind a proxy that sets them.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const options: HttpSession.Options = {
 *   cookie: { secure: "auto" },
 *   trustProxy: true, // behind a TLS-terminating proxy that sets X-Forwarded-Proto
 *   loginUrl: "/login",
 *   clearSiteData: true
 * }
 * export const SessionsLive = HttpSession.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export interface Options {
  readonly cookie?: CookieOptions
  readonly open?: "lazy" | "eager"
  readonly csrf?: boolean | CsrfOptions
  readonly onInvalid?: "anonymous" | "unauthorized"
  readonly loginUrl?: string
  readonly rolling?: boolean
  readonly clearSiteData?: boolean | ReadonlyArray<ClearSiteDataDirective>
  readonly trustProxy?: boolean
}

/**
 * Validated settings of the HTTP session layer; `cookie.name` is the final name, prefix included;
 * `csrf` is `None` when the defence is off.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const settings = Effect.runSync(HttpSession.validateOptions({ cookie: { secure: false } }))
 * console.log(settings.cookie.sameSite, settings.open, settings.rolling) // "lax" "lazy" true
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export interface Settings {
  readonly cookie: {
    readonly name: string
    readonly secure: boolean | "auto"
    readonly sameSite: "lax" | "strict" | "none"
    readonly path: string
    readonly domain: Option.Option<string>
    readonly maxAge: "idle" | "browser"
  }
  readonly open: "lazy" | "eager"
  readonly csrf: Option.Option<{
    readonly trustedOrigins: ReadonlyArray<string>
    readonly exempt: ReadonlyArray<string>
    readonly requireOrigin: boolean
    readonly token: boolean
  }>
  readonly onInvalid: "anonymous" | "unauthorized"
  readonly loginUrl: Option.Option<string>
  readonly rolling: boolean
  readonly clearSiteData: Option.Option<string>
  readonly trustProxy: boolean
}

/**
 * The defaults, as documented on `Options` and `CookieOptions`.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * console.log(HttpSession.defaults.cookieName, HttpSession.defaults.open) // "sid" "lazy"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const defaults = internalOptions.defaults

/**
 * The prefix that `CookieOptions.hostPrefix` adds to the cookie name.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * console.log(HttpSession.cookieName({ hostPrefix: true }).startsWith(HttpSession.HOST_PREFIX)) // true
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const HOST_PREFIX = internalOptions.HOST_PREFIX

/**
 * The request header that carries the CSRF synchronizer token (see `CsrfOptions.token`).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const headers = (token: string) => ({ [HttpSession.CSRF_HEADER]: token })
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const CSRF_HEADER = csrf.TOKEN_HEADER

/**
 * The form field that carries the CSRF synchronizer token (see `CsrfOptions.token`).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const hidden = (token: string) => `<input type="hidden" name="${HttpSession.CSRF_FIELD}" value="${token}">`
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const CSRF_FIELD = csrf.TOKEN_FIELD

/**
 * The cookie name that options give, `__Host-` prefix included.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * console.log(HttpSession.cookieName({ hostPrefix: true })) // "__Host-sid"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const cookieName: (options?: Pick<CookieOptions, "name" | "hostPrefix">) => string = internalOptions.cookieName

/**
 * Validates options and fills in defaults: the same check that building `layer` makes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const error = Effect.runSync(Effect.flip(HttpSession.validateOptions({ cookie: { sameSite: "none", secure: false } })))
 * console.log(error.option) // "cookie.sameSite"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const validateOptions = (options: Options = {}): Effect.Effect<Settings, SessionConfigError> =>
  Effect.suspend(() => internalOptions.validate(options))

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

/**
 * The HTTP session layer's service: validated settings, and the session and auth managers the
 * middleware and helpers use.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const describe = (http: HttpSession.Service) => `cookie ${http.settings.cookie.name}`
 * export const program = Effect.map(HttpSession.HttpSession, describe)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly settings: Settings
  readonly manager: SessionManagerModule.Service
  readonly auth: AuthManagerModule.Service
}

/**
 * The HTTP session service, built by `layer`; the middleware, `login` and `logout` need it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const cookieName = Effect.map(HttpSession.HttpSession, (http) => http.settings.cookie.name)
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class HttpSession extends Context.Tag(State.SERVICE_KEY)<HttpSession, Service>() {}

/**
 * What `CurrentSession` holds: the session of the request being handled.
 *
 * - `get`: the session, read on first use (see the module's documentation); it follows every
 *   change made through this module (`login`, `rotate`, `setData`, `updateData`, `removeData`,
 *   `adopt`, `save`), so after a rotation it holds the new token and after a data write the new
 *   data. A session that is not stored yet has no token (and an empty `key`).
 * - `opened`: whether the session is new for this request (no valid token came); known once `get`
 *   has run.
 *
 * There is one `Current` value, provided once by `layer`: `get` and `opened` read the state of the
 * request being handled from the fiber that runs them (so read `opened` inside the request's
 * effects). After `logout`, `get` gives a new anonymous session, stored only if written to.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const whoami = Effect.gen(function*() {
 *   const current = yield* HttpSession.CurrentSession
 *   const session = yield* current.get
 *   return HttpServerResponse.text(`${session.principal.id}${current.opened ? " (new session)" : ""}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Current {
  readonly get: Effect.Effect<Session.Session, Failure>
  readonly opened: boolean
}

/**
 * The session of the request being handled, for handlers behind `middleware` or the `HttpApi`
 * middleware. Read it with `HttpSession.current` or `yield* CurrentSession`.
 *
 * The layer provides its one value once; the middleware only sets the request's state in the
 * fiber (a `FiberRef`), which the value's accessors read: no per-request `provideService`.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const whoami = Effect.gen(function*() {
 *   const session = yield* HttpSession.current
 *   return HttpServerResponse.text(session.principal.id)
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class CurrentSession extends Context.Tag(State.CURRENT_KEY)<CurrentSession, Current>() {}

/**
 * The HTTP session layer: validates the options when it is built (a bad cookie name, path,
 * domain, trusted origin, `sameSite: "none"` without `secure: true`, ... fail with
 * `SessionConfigError`, never later), captures the session and auth managers, and provides the
 * one `CurrentSession` value the middleware's handlers read.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, HttpSession, SessionLive } from "effect-session"
 *
 * // secure: false only for plain-http development (http://localhost)
 * export const SessionsLive = HttpSession.layer({ cookie: { secure: false }, loginUrl: "/login" }).pipe(
 *   Layer.provideMerge(SessionLive),
 *   Layer.provideMerge(AuthManager.layerMock({ users: { alice: { password: "alice" } } }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<HttpSession, SessionConfigError, SessionManager | AuthManager> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const settings = yield* validateOptions(options)
      const manager = yield* SessionManager
      const auth = yield* AuthManager
      // CurrentSession rides along (not in the type: only the middlewares discharge it)
      return Context.make(HttpSession, HttpSession.of({ settings, manager, auth })).pipe(
        Context.add(CurrentSession, session.current)
      ) as Context.Context<HttpSession>
    })
  )

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * Every session failure the HTTP layer maps to a response: `ExplicitLogin` (401 or a redirect),
 * `InvalidSession` (401), `AuthManagerError`, `SessionStoreError` and `SessionLimitError` (503).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const describe = (error: HttpSession.Failure) => error._tag
 * export const loginOrReason = HttpSession.login.pipe(Effect.map(() => "ok"), Effect.catchAll((e) => Effect.succeed(describe(e))))
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type Failure = ExplicitLogin | InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError

/**
 * A request refused by the CSRF defence (HTTP 403), as the `HttpApi` middleware declares it:
 * `CrossOrigin` (Fetch Metadata or `Origin`) or `Token` (the synchronizer token is missing or
 * wrong). The `HttpRouter` middleware answers a plain 403.
 *
 * @example
 * ```ts
 * import { HttpApiSchema } from "@effect/platform"
 * import { HttpSession } from "effect-session"
 *
 * console.log(HttpApiSchema.getStatusError(HttpSession.CsrfError)) // 403
 * ```
 *
 * @since 0.2.0
 * @category errors
 */
export class CsrfError extends Schema.TaggedError<CsrfError>()(
  "CsrfError",
  { reason: Schema.Literal("CrossOrigin", "Token") },
  HttpApiSchema.annotations({ status: 403 })
) {
  get message(): string {
    return this.reason === "CrossOrigin" ? "Cross-origin request refused" : "Missing or invalid CSRF token"
  }
}

// ---------------------------------------------------------------------------------------------
// Middleware
// ---------------------------------------------------------------------------------------------

/**
 * Options of `makeMiddleware`: `transport` (`"cookie"`, the default) reads the session cookie;
 * `"bearer"` reads `Authorization: Bearer <token>`, never writes a cookie and skips the CSRF
 * check (a browser never attaches a bearer token on its own). With bearer tokens, `login` returns
 * the session whose `token` the login response hands to the client, and a 401 carries
 * `WWW-Authenticate: Bearer`.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const options: HttpSession.MiddlewareOptions = { transport: "bearer" }
 * export const bearer = HttpSession.makeMiddleware(options)
 * ```
 *
 * @since 0.2.0
 * @category middleware
 */
export interface MiddlewareOptions {
  readonly transport?: "cookie" | "bearer"
}

/**
 * A session middleware for an `HttpApp` or an `HttpRouter` (`HttpRouter.use`). It refuses
 * cross-origin unsafe requests (403, no session work), makes the session available to the app
 * through `CurrentSession` (read on demand), and answers the session failures the app raises:
 * `ExplicitLogin` with 401 (or a redirect to `loginUrl`), `InvalidSession` with 401, store, auth
 * manager and limit failures with 503 (the cookie left alone). A duplicate session cookie is never
 * guessed between: the read fails `InvalidSession` (`Ambiguous`, 401) and the response expires
 * the copies it can address, so that the next request recovers.
 *
 * Apply it to the app (`HttpRouter.use(mw)` or `mw(app)`), not as the middleware argument of
 * `HttpServer.serve`, which runs after the response is built.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const bearer = HttpSession.makeMiddleware({ transport: "bearer" })
 * export const api = HttpRouter.empty.pipe(
 *   HttpRouter.get("/me", Effect.map(HttpSession.current, (session) => HttpServerResponse.text(session.principal.id))),
 *   HttpRouter.use(bearer)
 * )
 * ```
 *
 * @since 0.2.0
 * @category middleware
 */
export const makeMiddleware = (options: MiddlewareOptions = {}) => {
  const mw = internalMiddleware.make(options.transport ?? "cookie")
  return <E, R>(
    app: HttpApp.Default<E, R>
  ): HttpApp.Default<Exclude<E, Failure>, Exclude<R, CurrentSession> | HttpSession> =>
    mw(app) as HttpApp.Default<Exclude<E, Failure>, Exclude<R, CurrentSession> | HttpSession>
}

/**
 * The session middleware with the cookie transport (see `makeMiddleware`).
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const router = HttpRouter.empty.pipe(
 *   HttpRouter.get("/", Effect.map(HttpSession.current, (session) => HttpServerResponse.text(session.principal.id))),
 *   HttpRouter.get("/health", Effect.succeed(HttpServerResponse.text("ok"))), // no session work at all
 *   HttpRouter.use(HttpSession.middleware)
 * )
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware: <E, R>(
  app: HttpApp.Default<E, R>
) => HttpApp.Default<Exclude<E, Failure>, Exclude<R, CurrentSession> | HttpSession> = makeMiddleware()

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

const withState = <A, E>(f: (state: State.State) => Effect.Effect<A, E>): Effect.Effect<A, E, CurrentSession> =>
  session.withState(f)

/**
 * The session of the request (see `Current`), read on first use.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const principalId = Effect.map(HttpSession.current, (session) => session.principal.id)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Session.Session, Failure, CurrentSession> = session.current.get

/**
 * Reads one typed data value of the current session, as stored now (from what the request holds
 * when the session is not stored yet).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { HttpSession, Session } from "effect-session"
 *
 * const Theme = Session.dataKey("theme", Schema.Literal("light", "dark"))
 * const theme = HttpSession.getData(Theme)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const getData = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>
): Effect.Effect<Option.Option<A>, Failure | SessionDataError, CurrentSession> =>
  withState((state) => operations.getData(state, key))

/**
 * Writes one typed data value of the current session (storing it if it was not stored yet: the
 * response then sets the cookie); `current` then returns the updated session.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { HttpSession, Session } from "effect-session"
 *
 * const Theme = Session.dataKey("theme", Schema.Literal("light", "dark"))
 * const goDark = HttpSession.setData(Theme, "dark")
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const setData = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>,
  value: A
): Effect.Effect<Session.Session, Failure | SessionDataError, CurrentSession> =>
  withState((state) => operations.setData(state, key, value))

/**
 * Atomically updates one typed data value of the current session from its stored value (storing
 * the session if it was not stored yet).
 *
 * @example
 * ```ts
 * import { Option, Schema } from "effect"
 * import { HttpSession, Session } from "effect-session"
 *
 * const Visits = Session.dataKey("visits", Schema.Number)
 * const countVisit = HttpSession.updateData(Visits, (n) => Option.getOrElse(n, () => 0) + 1)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const updateData = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>,
  f: (current: Option.Option<A>) => A
): Effect.Effect<Session.Session, Failure | SessionDataError, CurrentSession> =>
  withState((state) => operations.updateData(state, key, f))

/**
 * Removes data values of the current session by name (a session not stored yet stays so).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * const forgetCart = HttpSession.removeData("cart")
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const removeData = (
  ...names: ReadonlyArray<string>
): Effect.Effect<Session.Session, Failure, CurrentSession> => withState((state) => operations.removeData(state, names))

/**
 * Sets a one-shot value, read once by `pop` (typically on the next page: "signed out", "saved").
 * It lives in session data, so it is stored like any data write.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect, Schema } from "effect"
 * import { HttpSession, Session } from "effect-session"
 *
 * const Notice = Session.dataKey("notice", Schema.String)
 * export const saved = Effect.as(HttpSession.flash(Notice, "Saved."), HttpServerResponse.redirect("/", { status: 303 }))
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const flash = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>,
  value: A
): Effect.Effect<void, Failure | SessionDataError, CurrentSession> =>
  Effect.asVoid(withState((state) => operations.setData(state, key, value)))

/**
 * Reads a one-shot value set by `flash` and removes it (scs's `Pop`): `None` when there is none,
 * without any store access.
 *
 * @example
 * ```ts
 * import { Effect, Option, Schema } from "effect"
 * import { HttpSession, Session } from "effect-session"
 *
 * const Notice = Session.dataKey("notice", Schema.String)
 * export const banner = Effect.map(HttpSession.pop(Notice), Option.getOrElse(() => ""))
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const pop = <A, I extends Session.Json>(
  key: Session.DataKey<A, I>
): Effect.Effect<Option.Option<A>, Failure | SessionDataError, CurrentSession> =>
  withState((state) => operations.pop(state, key))

/**
 * Why the token the request came with was refused (its session had expired, was revoked, was
 * unknown...), if it was; the request then got a new session (`onInvalid: "anonymous"`). Use it
 * to tell the user ("your session expired").
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const notice = Effect.map(HttpSession.invalidated, Option.map((error) => error.reason === "Revoked"
 *   ? "You were signed out on another device."
 *   : "Your session has ended."))
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const invalidated: Effect.Effect<Option.Option<InvalidSession>, Failure, CurrentSession> = withState(
  operations.invalidated
)

/**
 * Stores the current session now if it is not stored yet (the response sets the cookie), e.g.
 * after a cookie-consent click; returns it with its token.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const consent = Effect.as(HttpSession.save, HttpServerResponse.empty({ status: 204 }))
 * ```
 *
 * @since 0.2.0
 * @category combinators
 */
export const save: Effect.Effect<Session.Session, Failure, CurrentSession> = withState(session.persist)

/**
 * Gives the current session a new token (for a privilege change without a change of principal);
 * the old token dies at once and the response carries the new cookie. A session not stored yet is
 * stored.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const elevate = Effect.zipRight(Effect.log("sudo mode"), HttpSession.rotate)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const rotate: Effect.Effect<Session.Session, Failure, CurrentSession> = withState(operations.rotate)

/**
 * Makes a session obtained straight from `SessionManager` (e.g. `rotateSession`) the current
 * one: `current` returns it and, if its token changed, the response carries the new cookie. Give
 * it a session as `SessionManager` operations return it, with its token.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession, SessionManager } from "effect-session"
 *
 * const rotateByHand = Effect.gen(function*() {
 *   const session = yield* HttpSession.current
 *   yield* HttpSession.adopt(yield* SessionManager.rotateSession(session))
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const adopt = (session: Session.Session): Effect.Effect<void, never, CurrentSession> =>
  withState((state) => operations.adopt(state, session))

/**
 * The current session's CSRF synchronizer token (see `CsrfOptions.token`): made on first use
 * (which stores the session), new after every login. Put it in a hidden `CSRF_FIELD` form field
 * or send it in the `CSRF_HEADER` header.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const form = Effect.map(HttpSession.csrfToken, (token) =>
 *   HttpServerResponse.html(
 *     `<form method="post"><input type="hidden" name="${HttpSession.CSRF_FIELD}" value="${token}"></form>`
 *   ))
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const csrfToken: Effect.Effect<string, Failure | SessionDataError, CurrentSession> = withState(
  operations.csrfToken
)

/**
 * Logs the request in: authenticates it (the auth manager's `authenticate`, through the session
 * manager's guard, at most once per request; an anonymous answer is `ExplicitLogin`), then rotates
 * the session the request names to the principal (a new token, the old one dead at once: no
 * fixation; data starts empty, as for every change of principal), or opens one. The response
 * carries the new cookie. A failure leaves the cookie alone: `ExplicitLogin` (401), or
 * `AuthManagerError` (503) when `authenticate` throws, dies, or outlives `authTimeout`. Two
 * concurrent logins with one cookie (a double-submitted form) both succeed.
 *
 * Works inside the middleware, and also in a route mounted without it (it then reads the cookie
 * strictly itself), e.g. when the auth manager refuses anonymous requests.
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const loginRoute = HttpSession.login.pipe(
 *   Effect.as(HttpServerResponse.redirect("/", { status: 303 })),
 *   Effect.catchTag("ExplicitLogin", () => Effect.succeed(HttpServerResponse.text("bad credentials", { status: 401 })))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const login: Effect.Effect<
  Session.Session,
  Failure,
  HttpSession | HttpServerRequest.HttpServerRequest
> = session.withState(operations.login).pipe(Effect.withSpan("HttpSession.login"))

/**
 * Logs the request out: closes its session server side, at once (the token never works again,
 * nor what a concurrent rotation turned it into), and expires the cookie with the same attributes
 * it was set with, plus `Clear-Site-Data` when `clearSiteData` is on. A release that fails is
 * logged: the session is removed all the same. A store failure fails the effect and leaves the
 * cookie alone. A read after it gets a new anonymous session, stored only if written to (a flash
 * message for the next page).
 *
 * @example
 * ```ts
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const logoutRoute = Effect.as(HttpSession.logout, HttpServerResponse.redirect("/login", { status: 303 }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const logout: Effect.Effect<
  void,
  SessionStoreError,
  HttpSession | HttpServerRequest.HttpServerRequest
> = (session.withState(operations.logout) as Effect.Effect<void, SessionStoreError>).pipe(
  Effect.withSpan("HttpSession.logout")
)

// ---------------------------------------------------------------------------------------------
// HttpApi
// ---------------------------------------------------------------------------------------------

/**
 * The failures the `HttpApi` middleware declares, each with its HTTP status: `ExplicitLogin` and
 * `InvalidSession` (401), `CsrfError` (403), `AuthManagerError`, `SessionStoreError` and
 * `SessionLimitError` (503). They carry no cause and no session id.
 *
 * @example
 * ```ts
 * import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
 * import { HttpSession } from "effect-session"
 *
 * // declare the session failures on an endpoint that calls HttpSession.login outside the middleware
 * export const login = HttpApiEndpoint.post("login", "/login").addError(HttpSession.ApiFailure)
 * console.log(HttpApiSchema.getStatusError(HttpSession.ApiFailure.members[1])) // 401
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const ApiFailure = Schema.Union(
  ExplicitLogin,
  InvalidSession,
  AuthManagerError,
  SessionStoreError,
  SessionLimitError,
  CsrfError
)

/**
 * The service an `ApiMiddleware` tag is implemented with (see `layerApiMiddleware`).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * // what HttpSession.layerApiMiddleware builds: the decoded cookie value is ignored
 * export const ignoresTheDecodedValue = (service: HttpSession.ApiMiddlewareService) => service.sessionCookie
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiMiddlewareService {
  readonly sessionCookie: (
    token: Redacted.Redacted<string>
  ) => Effect.Effect<Current, Failure | CsrfError, HttpRouter.HttpRouter.Provided>
}

/**
 * The service an `ApiBearerMiddleware` tag is implemented with (see `layerApiMiddleware`).
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * export const ignoresTheDecodedValue = (service: HttpSession.ApiBearerMiddlewareService) => service.sessionBearer
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface ApiBearerMiddlewareService {
  readonly sessionBearer: (
    token: Redacted.Redacted<string>
  ) => Effect.Effect<Current, Failure | CsrfError, HttpRouter.HttpRouter.Provided>
}

/**
 * The shape of a tag made by `ApiMiddleware`.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * class Authentication extends HttpSession.ApiMiddleware<Authentication>()("app/Authentication") {}
 * const tag: HttpSession.ApiMiddlewareTag<Authentication> = Authentication
 * console.log(tag.security.sessionCookie.key) // "sid"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiMiddlewareTag<Self> extends Context.Tag<Self, ApiMiddlewareService> {
  readonly security: { readonly sessionCookie: HttpApiSecurity.ApiKey }
}

/**
 * The shape of a tag made by `ApiBearerMiddleware`.
 *
 * @example
 * ```ts
 * import { HttpSession } from "effect-session"
 *
 * class Bearer extends HttpSession.ApiBearerMiddleware<Bearer>()("app/Bearer") {}
 * const tag: HttpSession.ApiBearerMiddlewareTag<Bearer> = Bearer
 * console.log(tag.security.sessionBearer._tag) // "Bearer"
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface ApiBearerMiddlewareTag<Self> extends Context.Tag<Self, ApiBearerMiddlewareService> {
  readonly security: { readonly sessionBearer: HttpApiSecurity.Bearer }
}

/**
 * Declares an `HttpApiMiddleware` with cookie security (`HttpApiSecurity.apiKey({ in: "cookie" })`,
 * security scheme `sessionCookie` in OpenAPI) that provides `CurrentSession` and fails with
 * `ApiFailure`. The cookie name must match the `HttpSession` layer's (checked when
 * `layerApiMiddleware` is built). Add it to an `HttpApiGroup` or an `HttpApi` with `.middleware`.
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { Schema } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export class Authentication extends HttpSession.ApiMiddleware<Authentication>()("app/Authentication") {}
 *
 * export const Api = HttpApi.make("api").add(
 *   HttpApiGroup.make("me").add(HttpApiEndpoint.get("whoami", "/me").addSuccess(Schema.String))
 *     .middleware(Authentication)
 * )
 * ```
 *
 * @since 0.1.0
 * @category http api
 */
export const ApiMiddleware = <Self>() =>
<const Name extends string>(
  id: Name,
  options: Pick<CookieOptions, "name" | "hostPrefix"> & { readonly description?: string } = {}
) =>
  HttpApiMiddleware.Tag<Self>()(id, {
    failure: ApiFailure,
    provides: CurrentSession,
    security: {
      sessionCookie: HttpApiSecurity.apiKey({ in: "cookie", key: cookieName(options) }).pipe(
        HttpApiSecurity.annotate(
          OpenApi.Description,
          options.description ?? "Session cookie (HttpOnly), set by the server when a session is stored or logged in"
        )
      )
    }
  })

/**
 * Declares an `HttpApiMiddleware` with bearer security (`HttpApiSecurity.bearer`, security scheme
 * `sessionBearer` in OpenAPI): the same sessions as the cookie transport, presented as
 * `Authorization: Bearer <token>`; never a `Set-Cookie`, no CSRF check. The token is handed to the
 * client in the body of the login response (`HttpSession.login` returns the session with its
 * `token`).
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { Schema } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export class Bearer extends HttpSession.ApiBearerMiddleware<Bearer>()("app/Bearer") {}
 *
 * export const Api = HttpApi.make("api").add(
 *   HttpApiGroup.make("me").add(HttpApiEndpoint.get("whoami", "/me").addSuccess(Schema.String)).middleware(Bearer)
 * )
 * ```
 *
 * @since 0.2.0
 * @category http api
 */
export const ApiBearerMiddleware =
  <Self>() => <const Name extends string>(id: Name, options: { readonly description?: string } = {}) =>
    HttpApiMiddleware.Tag<Self>()(id, {
      failure: ApiFailure,
      provides: CurrentSession,
      security: {
        sessionBearer: HttpApiSecurity.bearer.pipe(
          HttpApiSecurity.annotate(
            OpenApi.Description,
            options.description ?? "Session token, handed to the client by the login response"
          )
        )
      }
    })

/**
 * Implements an `ApiMiddleware` or `ApiBearerMiddleware` tag with the `HttpSession` layer's rules:
 * the value decoded by `HttpApiSecurity` is ignored (it comes from lenient parsing, and is `""`
 * when missing) and the raw header is read strictly instead; the CSRF check runs first on the
 * cookie transport; the session is read when a handler asks; failures are typed (`ApiFailure`),
 * without causes or session ids. Fails to build with `SessionConfigError` when a cookie tag's name
 * is not the layer's.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AuthManager, HttpSession, SessionLive } from "effect-session"
 *
 * class Authentication extends HttpSession.ApiMiddleware<Authentication>()("app/Authentication") {}
 *
 * export const AuthenticationLive = HttpSession.layerApiMiddleware(Authentication).pipe(
 *   Layer.provideMerge(HttpSession.layer()),
 *   Layer.provideMerge(SessionLive),
 *   Layer.provideMerge(AuthManager.layerMock())
 * )
 * ```
 *
 * @since 0.1.0
 * @category http api
 */
export const layerApiMiddleware = <Self>(
  tag: ApiMiddlewareTag<Self> | ApiBearerMiddlewareTag<Self>
): Layer.Layer<Self, SessionConfigError, HttpSession> =>
  Layer.effect(
    tag as Context.Tag<Self, ApiMiddlewareService | ApiBearerMiddlewareService>,
    Effect.gen(function*() {
      const http = yield* HttpSession
      const refuse = (reason: CsrfError["reason"]) => new CsrfError({ reason })
      if ("sessionBearer" in tag.security) {
        const handle = api.handler(http, "bearer", refuse)
        return { sessionBearer: () => handle }
      }
      const key = tag.security.sessionCookie.key
      if (key !== http.settings.cookie.name) {
        return yield* new SessionConfigError({
          option: "cookie.name",
          reason: `the HttpApi middleware ${tag.key} reads the cookie ${JSON.stringify(key)}, ` +
            `but HttpSession writes ${JSON.stringify(http.settings.cookie.name)}`
        })
      }
      const handle = api.handler(http, "cookie", refuse)
      return { sessionCookie: () => handle }
    })
  )
