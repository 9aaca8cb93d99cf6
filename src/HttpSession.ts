/**
 * Sessions for `@effect/platform` HTTP servers: a strict cookie reader, a middleware for
 * `HttpRouter` / `HttpApp`, an `HttpApiMiddleware` for `HttpApi`, and `login` / `logout` helpers.
 *
 * On every request the middleware reads the session cookie from the raw `Cookie` header (exact
 * name, one occurrence, format checked before any store access), runs `SessionManager.getSession`
 * (which validates and touches the session), and opens a new session when there is none or it is
 * invalid. Handlers read the session from `CurrentSession`. Cookie writes go through
 * `HttpApp.appendPreResponseHandler`, so they reach the client on every response, error responses
 * included.
 *
 * When the cookie is written (see `Options.rolling`):
 *
 * - whenever the token changes: a session opened, a login, a rotation, a replacement handed back
 *   by the auth manager's `validateSession`;
 * - with `rolling: true` (the default), on every other response served with a session too, so
 *   that `Max-Age` restarts with the server's sliding idle deadline;
 * - never on a 503 (store or auth manager unavailable) unless the token changed: the client's
 *   cookie is neither refreshed nor cleared when the store fails (invariant I3).
 *
 * Every response that sets or expires the cookie carries `Cache-Control: no-store` and
 * `Vary: Cookie`.
 *
 * @since 0.1.0
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { AuthManager } from "./AuthManager.js"
import type * as AuthManagerModule from "./AuthManager.js"
import * as cookie from "./internal/cookie.js"
import * as expiry from "./internal/expiry.js"
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
import * as SessionToken from "./SessionToken.js"

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
 *   and no `Domain`.
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
 * - `onInvalid` (`"anonymous"`): what a request whose cookie names no live session (malformed,
 *   unknown, expired, rejected) gets: a fresh session opened through the auth manager, like
 *   CubicWeb's `set_session`, or `"unauthorized"`: HTTP 401 and the dead cookie expired.
 * - `loginUrl` (none): answer `ExplicitLogin` with a `303` redirect there instead of a 401 (a
 *   same-origin path such as `/login`, or an absolute http(s) URL). A `GET` of the login page
 *   itself still gets the 401, so a misconfiguration cannot loop.
 * - `rolling` (`true`): re-set the cookie on every response served with a session, so that
 *   `Max-Age` follows the sliding idle deadline; `false`: only when the token changes, with
 *   `Max-Age` set to the time left before the absolute expiry (or a browser-session cookie).
 * - `clearSiteData` (`false`): `logout` also sends `Clear-Site-Data` (`true`: `"cache"`,
 *   `"cookies"`, `"storage"`; or a list of directives).
 * - `trustProxy` (`false`): believe `X-Forwarded-Proto` for `secure: "auto"`. Turn it on only
 *   behind a proxy that sets or strips that header.
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
  readonly onInvalid?: "anonymous" | "unauthorized"
  readonly loginUrl?: string
  readonly rolling?: boolean
  readonly clearSiteData?: boolean | ReadonlyArray<ClearSiteDataDirective>
  readonly trustProxy?: boolean
}

/**
 * Validated settings of the HTTP session layer; `cookie.name` is the final name, prefix included.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * const settings = Effect.runSync(HttpSession.validateOptions({ cookie: { secure: false } }))
 * console.log(settings.cookie.sameSite, settings.rolling) // "lax" true
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
 * console.log(HttpSession.defaults.cookieName) // "sid"
 * ```
 *
 * @since 0.1.0
 * @category options
 */
export const defaults = {
  cookieName: "sid",
  secure: true,
  sameSite: "lax",
  path: "/",
  maxAge: "idle",
  onInvalid: "anonymous",
  rolling: true,
  clearSiteData: false,
  trustProxy: false
} as const

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
export const HOST_PREFIX = "__Host-"

const clearSiteDataAll: ReadonlyArray<ClearSiteDataDirective> = ["cache", "cookies", "storage"]
const clearSiteDataDirectives: ReadonlyArray<string> = ["cache", "cookies", "storage", "executionContexts", "*"]

const invalid = (option: string, reason: string) => Either.left(new SessionConfigError({ option, reason }))

const isBoolean = (u: unknown): u is boolean => typeof u === "boolean"

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
export const cookieName = (options: Pick<CookieOptions, "name" | "hostPrefix"> = {}): string => {
  const name = options.name ?? defaults.cookieName
  return options.hostPrefix === true && !name.startsWith(HOST_PREFIX) ? HOST_PREFIX + name : name
}

const validateCookie = (
  options: CookieOptions,
  trustProxy: boolean
): Either.Either<Settings["cookie"], SessionConfigError> => {
  if (typeof options !== "object" || options === null) return invalid("cookie", "must be an object")
  if (options.name !== undefined && typeof options.name !== "string") return invalid("cookie.name", "must be a string")
  if (options.hostPrefix !== undefined && !isBoolean(options.hostPrefix)) {
    return invalid("cookie.hostPrefix", "must be a boolean")
  }
  const name = cookieName(options)
  if (!cookie.isValidName(name)) {
    return invalid(
      "cookie.name",
      `${
        JSON.stringify(name)
      } is not a cookie name: use 1 to ${cookie.MAX_NAME_LENGTH} letters, digits or !#$%&'*+-.^_\`|~`
    )
  }
  const lower = name.toLowerCase()
  const hostPrefixed = lower.startsWith(HOST_PREFIX.toLowerCase())
  if (hostPrefixed && !name.startsWith(HOST_PREFIX)) {
    return invalid("cookie.name", `spell the prefix exactly ${JSON.stringify(HOST_PREFIX)}`)
  }
  const securePrefixed = lower.startsWith("__secure-")
  if (securePrefixed && !name.startsWith("__Secure-")) {
    return invalid("cookie.name", `spell the prefix exactly "__Secure-"`)
  }
  const secure = options.secure ?? defaults.secure
  if (secure !== true && secure !== false && secure !== "auto") {
    return invalid("cookie.secure", `must be true, false or "auto", got ${JSON.stringify(secure)}`)
  }
  const sameSite = options.sameSite ?? defaults.sameSite
  if (sameSite !== "lax" && sameSite !== "strict" && sameSite !== "none") {
    return invalid("cookie.sameSite", `must be "lax", "strict" or "none", got ${JSON.stringify(sameSite)}`)
  }
  const path = options.path ?? defaults.path
  if (typeof path !== "string" || !cookie.isValidPath(path)) {
    return invalid(
      "cookie.path",
      `${
        JSON.stringify(path)
      } must start with "/" and hold only visible ASCII without ";" (at most ${cookie.MAX_PATH_LENGTH})`
    )
  }
  const domain = options.domain
  if (domain !== undefined && (typeof domain !== "string" || !cookie.isValidDomain(domain))) {
    return invalid("cookie.domain", `${JSON.stringify(domain)} is not a host name`)
  }
  const maxAge = options.maxAge ?? defaults.maxAge
  if (maxAge !== "idle" && maxAge !== "browser") {
    return invalid("cookie.maxAge", `must be "idle" or "browser", got ${JSON.stringify(maxAge)}`)
  }
  if (hostPrefixed) {
    if (secure !== true) return invalid("cookie.secure", `a ${HOST_PREFIX} cookie must be Secure (secure: true)`)
    if (path !== "/") return invalid("cookie.path", `a ${HOST_PREFIX} cookie must have Path=/`)
    if (domain !== undefined) return invalid("cookie.domain", `a ${HOST_PREFIX} cookie cannot have a Domain`)
  }
  if (securePrefixed && secure !== true) {
    return invalid("cookie.secure", `a __Secure- cookie must be Secure (secure: true)`)
  }
  if (sameSite === "none" && secure !== true) {
    return invalid("cookie.sameSite", `SameSite=None requires secure: true (browsers drop it otherwise)`)
  }
  if (secure === "auto" && !isBoolean(trustProxy)) return invalid("trustProxy", "must be a boolean")
  return Either.right({
    name,
    secure,
    sameSite,
    path,
    domain: Option.fromNullable(domain),
    maxAge
  })
}

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
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid("options", "must be an object")
    const trustProxy = options.trustProxy ?? defaults.trustProxy
    if (!isBoolean(trustProxy)) return yield* invalid("trustProxy", "must be a boolean")
    const cookieSettings = yield* validateCookie(options.cookie ?? {}, trustProxy)
    const onInvalid = options.onInvalid ?? defaults.onInvalid
    if (onInvalid !== "anonymous" && onInvalid !== "unauthorized") {
      return yield* invalid("onInvalid", `must be "anonymous" or "unauthorized", got ${JSON.stringify(onInvalid)}`)
    }
    const loginUrl = options.loginUrl
    if (loginUrl !== undefined && (typeof loginUrl !== "string" || !cookie.isValidRedirect(loginUrl))) {
      return yield* invalid(
        "loginUrl",
        `${JSON.stringify(loginUrl)} must be a same-origin path ("/login") or an absolute http(s) URL`
      )
    }
    const rolling = options.rolling ?? defaults.rolling
    if (!isBoolean(rolling)) return yield* invalid("rolling", "must be a boolean")
    const clear = options.clearSiteData ?? defaults.clearSiteData
    let clearSiteData: Option.Option<string> = Option.none()
    if (clear === true || Array.isArray(clear)) {
      const directives: ReadonlyArray<string> = clear === true ? clearSiteDataAll : clear
      const unknown = directives.find((directive) => !clearSiteDataDirectives.includes(directive))
      if (directives.length === 0 || unknown !== undefined) {
        return yield* invalid(
          "clearSiteData",
          `directives must be among ${clearSiteDataDirectives.join(", ")}, got ${JSON.stringify(unknown ?? [])}`
        )
      }
      clearSiteData = Option.some(directives.map((directive) => `"${directive}"`).join(", "))
    } else if (clear !== false) {
      return yield* invalid("clearSiteData", "must be a boolean or a list of directives")
    }
    return {
      cookie: cookieSettings,
      onInvalid,
      loginUrl: Option.fromNullable(loginUrl),
      rolling,
      clearSiteData,
      trustProxy
    }
  })

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
export class HttpSession extends Context.Tag("effect-session/HttpSession")<HttpSession, Service>() {}

/**
 * The HTTP session layer: validates the options when it is built (a bad cookie name, path,
 * domain, `sameSite: "none"` without `secure: true`, ... fail with `SessionConfigError`, never
 * later) and captures the session and auth managers.
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
  Layer.effect(
    HttpSession,
    Effect.gen(function*() {
      const settings = yield* validateOptions(options)
      const manager = yield* SessionManager
      const auth = yield* AuthManager
      return HttpSession.of({ settings, manager, auth })
    })
  )

/**
 * What `CurrentSession` holds for one request.
 *
 * - `get`: the live session of this request. It follows every change made through this module
 *   (`login`, `rotate`, `setData`, `updateData`, `removeData`, `adopt`), so after a rotation it
 *   holds the new token and after a data write the new data.
 * - `opened`: whether the middleware opened this session for this request (no valid cookie came).
 *
 * After `logout`, `get` still returns the session that was closed: answer with a redirect.
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
  readonly get: Effect.Effect<Session.Session>
  readonly opened: boolean
}

/**
 * The session of the request being handled, provided by `middleware` and by the `HttpApi`
 * middleware. Read it with `HttpSession.current` (the live session) or `yield* CurrentSession`.
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
export class CurrentSession extends Context.Tag("effect-session/HttpSession/CurrentSession")<
  CurrentSession,
  Current
>() {}

// ---------------------------------------------------------------------------------------------
// Per-request state and cookie writes
// ---------------------------------------------------------------------------------------------

interface State {
  readonly http: Service
  /** The live session. */
  session: Session.Session | undefined
  /** The token the request came with, when it named a live session. */
  incoming: string | undefined
  /** Expire the cookie: after logout, or when the request's session is dead. */
  expire: "no" | "logout" | "dead"
  /** A 503 is being answered: no rolling refresh (the cookie is left as it is). */
  unavailable: boolean
  opened: boolean
}

const states = new WeakMap<Current, State>()

const makeState = (http: Service): State => ({
  http,
  session: undefined,
  incoming: undefined,
  expire: "no",
  unavailable: false,
  opened: false
})

const makeCurrent = (state: State): Current => {
  const current: Current = {
    get: Effect.sync(() => state.session!),
    get opened() {
      return state.opened
    }
  }
  states.set(current, state)
  return current
}

const stateOf = (current: Current): State => {
  const state = states.get(current)
  if (state === undefined) throw new Error("HttpSession: CurrentSession was not provided by HttpSession")
  return state
}

const isTls = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const source = request.source as { readonly socket?: { readonly encrypted?: unknown } } | null | undefined
  if (typeof source === "object" && source !== null && source.socket?.encrypted === true) return true
  return request.originalUrl.startsWith("https:")
}

const isSecure = (settings: Settings, request: HttpServerRequest.HttpServerRequest): boolean => {
  const secure = settings.cookie.secure
  if (secure !== "auto") return secure
  if (settings.trustProxy) {
    const forwarded = request.headers["x-forwarded-proto"]
    if (forwarded !== undefined) return forwarded.split(",")[0].trim().toLowerCase() === "https"
  }
  return isTls(request)
}

const attributes = (settings: Settings, request: HttpServerRequest.HttpServerRequest) => ({
  path: settings.cookie.path,
  ...(Option.isSome(settings.cookie.domain) ? { domain: settings.cookie.domain.value } : {}),
  httpOnly: true,
  secure: isSecure(settings, request),
  sameSite: settings.cookie.sameSite
})

const varyCookie = (vary: string | undefined): string =>
  vary === undefined || vary.trim() === ""
    ? "Cookie"
    : /(^|,)\s*(cookie|\*)\s*(,|$)/i.test(vary)
    ? vary
    : `${vary}, Cookie`

const uncacheable = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, {
    "cache-control": "no-store",
    vary: varyCookie(response.headers["vary"])
  })

/** Seconds the cookie may live, or `undefined` for a browser-session cookie. */
const maxAgeOf = (state: State, session: Session.Session, now: number): number | undefined => {
  const { manager, settings } = state.http
  if (settings.cookie.maxAge === "browser") return undefined
  const policy = manager.settings.policy
  // rolling: the idle deadline as of now (the request used the session); otherwise only the absolute one
  const millis = settings.rolling
    ? expiry.deadlineOf({ ...session, lastUsedAt: now }, policy) - now
    : (session.expiresAt ?? Infinity) - now
  return millis === Infinity ? undefined : Math.max(1, Math.floor(millis / 1000))
}

// Runs once per request, on whatever response goes out (error responses included).
const writeCookie = (state: State): HttpApp.PreResponseHandler => (request, response) =>
  Effect.suspend(() => {
    const settings = state.http.settings
    const name = settings.cookie.name
    if (state.expire !== "no") {
      const expired = HttpServerResponse.unsafeSetCookie(response, name, "", {
        ...attributes(settings, request),
        maxAge: 0,
        expires: new Date(0)
      })
      const cleared = state.expire === "logout" && Option.isSome(settings.clearSiteData)
        ? HttpServerResponse.setHeader(expired, "clear-site-data", settings.clearSiteData.value)
        : expired
      return Effect.succeed(uncacheable(cleared))
    }
    const session = state.session
    if (session === undefined || session.token === undefined) return Effect.succeed(response)
    const token = Redacted.value(session.token)
    const changed = token !== state.incoming
    if (!changed && (!settings.rolling || state.unavailable)) return Effect.succeed(response)
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const maxAge = maxAgeOf(state, session, now)
      return uncacheable(HttpServerResponse.unsafeSetCookie(response, name, token, {
        ...attributes(settings, request),
        ...(maxAge === undefined ? {} : { maxAge: Duration.seconds(maxAge) })
      }))
    })
  })

// ---------------------------------------------------------------------------------------------
// Loading the session of a request
// ---------------------------------------------------------------------------------------------

/**
 * Every failure the HTTP layer maps to a response: `ExplicitLogin` (401 or a redirect),
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

const isFailure = (u: unknown): u is Failure =>
  u instanceof ExplicitLogin || u instanceof InvalidSession || u instanceof AuthManagerError ||
  u instanceof SessionStoreError || u instanceof SessionLimitError

const isUnavailable = (error: Failure) =>
  error._tag === "SessionStoreError" || error._tag === "SessionLimitError" || error._tag === "AuthManagerError"

const shortIdOf = (session: Session.Session | undefined) =>
  session === undefined ? undefined : SessionToken.shortId(session.key)

const open = (
  state: State,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<void, ExplicitLogin | AuthManagerError | SessionStoreError | SessionLimitError> =>
  Effect.map(state.http.manager.openSession(request), (session) => {
    state.session = session
    state.opened = true
  })

const refuse = (state: State, error: InvalidSession): Effect.Effect<void, Failure> => {
  if (state.http.settings.onInvalid === "unauthorized") {
    state.expire = "dead"
    return Effect.fail(error)
  }
  return Effect.void
}

// Reads the cookie strictly, then getSession, else openSession. Sets the state's flags for the
// failures (expire a dead cookie, or leave the cookie alone on a 503).
const load = (state: State, request: HttpServerRequest.HttpServerRequest): Effect.Effect<void, Failure> => {
  const { manager, settings } = state.http
  const found = cookie.lookup(request.headers["cookie"], settings.cookie.name)
  const loaded: Effect.Effect<void, Failure> = Effect.suspend(() => {
    switch (found._tag) {
      case "Missing":
        return open(state, request)
      case "Ambiguous":
        // Cookie tossing: pick none, touch nothing, leave the cookies as they are.
        return Effect.zipRight(
          Effect.logDebug("session cookie rejected: ambiguous").pipe(Effect.annotateLogs({ count: found.count })),
          Effect.fail(new InvalidSession({ reason: "Malformed" }))
        )
      case "Oversized":
        return Effect.zipRight(
          Effect.logDebug("session cookie rejected: header too large"),
          Effect.zipRight(refuse(state, new InvalidSession({ reason: "Malformed" })), open(state, request))
        )
      case "Present": {
        // Format first: a malformed value never reaches the store, a log or a span.
        if (!SessionToken.isWellFormed(found.value)) {
          return Effect.zipRight(
            Effect.logDebug("session cookie rejected: malformed"),
            Effect.zipRight(refuse(state, new InvalidSession({ reason: "Malformed" })), open(state, request))
          )
        }
        const token = found.value
        return manager.getSession(request, token).pipe(
          Effect.matchEffect({
            onSuccess: (session) => {
              state.session = session
              state.incoming = token
              return Effect.void
            },
            onFailure: (error): Effect.Effect<void, Failure> =>
              error._tag === "InvalidSession"
                ? Effect.zipRight(
                  Effect.logDebug("session cookie rejected").pipe(
                    Effect.annotateLogs({ reason: error.reason, session: error.sessionId ?? "" })
                  ),
                  Effect.zipRight(refuse(state, error), open(state, request))
                )
                : Effect.fail(error)
          })
        )
      }
    }
  })
  return loaded.pipe(
    Effect.tapError((error) => {
      if (!isUnavailable(error)) return Effect.void
      state.unavailable = true
      return Effect.logWarning("session unavailable").pipe(Effect.annotateLogs({ error: error._tag }))
    }),
    Effect.tap(() => Effect.annotateCurrentSpan("session.id", shortIdOf(state.session) ?? ""))
  )
}

const text = (body: string, status: number) => HttpServerResponse.text(body, { status })

// The response for a failure; the state's flags were set where the failure arose.
const failureResponse = (
  state: State,
  request: HttpServerRequest.HttpServerRequest,
  error: Failure
): HttpServerResponse.HttpServerResponse => {
  switch (error._tag) {
    case "ExplicitLogin": {
      const loginUrl = state.http.settings.loginUrl
      const isLoginPage = Option.isSome(loginUrl) &&
        (request.method === "GET" || request.method === "HEAD") &&
        cookie.requestPath(request.url) === cookie.pathOf(loginUrl.value)
      return Option.isSome(loginUrl) && !isLoginPage
        ? HttpServerResponse.redirect(loginUrl.value, { status: 303 })
        : text("Login required", 401)
    }
    case "InvalidSession":
      return text("Invalid session", 401)
    case "AuthManagerError":
      return text("Authentication unavailable, try again later", 503)
    case "SessionStoreError":
      return text("Session store unavailable, try again later", 503)
    case "SessionLimitError":
      return text("Too many sessions, try again later", 503)
  }
}

// A failure raised by the handler: the session may have died during the request.
const handlerFailure = (state: State, request: HttpServerRequest.HttpServerRequest, error: Failure) => {
  if (error._tag === "InvalidSession" && error.sessionId !== undefined) {
    if (error.sessionId === shortIdOf(state.session)) state.expire = "dead"
  }
  if (isUnavailable(error)) state.unavailable = true
  return failureResponse(state, request, error)
}

/**
 * The session middleware for an `HttpApp` or an `HttpRouter` (`HttpRouter.use`). It loads or
 * opens the session, provides `CurrentSession` to the app, writes the cookie on every response,
 * and answers the session failures the app raises: `ExplicitLogin` with 401 (or a redirect to
 * `loginUrl`), `InvalidSession` with 401, store, auth manager and limit failures with 503 (the
 * cookie left alone). A cookie header with the session cookie twice is refused with 401 without
 * touching the store or the cookies.
 *
 * Apply it to the app (`HttpRouter.use(HttpSession.middleware)` or `HttpSession.middleware(app)`),
 * not as the middleware argument of `HttpServer.serve`, which runs after the response is built.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { HttpSession } from "effect-session"
 *
 * export const router = HttpRouter.empty.pipe(
 *   HttpRouter.get("/", Effect.map(HttpSession.current, (session) => HttpServerResponse.text(session.principal.id))),
 *   HttpRouter.use(HttpSession.middleware)
 * )
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = <E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<Exclude<E, Failure>, Exclude<R, CurrentSession> | HttpSession> =>
  Effect.gen(function*() {
    const http = yield* HttpSession
    const request = yield* HttpServerRequest.HttpServerRequest
    const state = makeState(http)
    yield* HttpApp.appendPreResponseHandler(writeCookie(state))
    const loaded = yield* Effect.either(load(state, request))
    if (Either.isLeft(loaded)) return failureResponse(state, request, loaded.left)
    return yield* app.pipe(
      Effect.provideService(CurrentSession, makeCurrent(state)),
      Effect.catchIf(isFailure as (u: E) => u is E & Failure, (error) =>
        Effect.succeed(handlerFailure(state, request, error)))
    )
  }) as HttpApp.Default<Exclude<E, Failure>, Exclude<R, CurrentSession> | HttpSession>

// ---------------------------------------------------------------------------------------------
// Helpers for handlers
// ---------------------------------------------------------------------------------------------

/**
 * The live session of the request (see `Current`).
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
export const current: Effect.Effect<Session.Session, never, CurrentSession> = Effect.flatMap(
  CurrentSession,
  (current) => current.get
)

const withState = <A, E>(f: (state: State) => Effect.Effect<A, E>): Effect.Effect<A, E, CurrentSession> =>
  Effect.flatMap(CurrentSession, (current) => f(stateOf(current)))

const keep = (state: State) => (session: Session.Session) => {
  // a value of the same session without its token (a listing) keeps the live token
  const live = state.session
  state.session = session.token === undefined && live?.token !== undefined && live.key === session.key
    ? { ...session, token: live.token }
    : session
  return state.session
}

/**
 * Reads one typed data value of the current session, as stored now.
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
): Effect.Effect<Option.Option<A>, InvalidSession | SessionStoreError | SessionDataError, CurrentSession> =>
  withState((state) => state.http.manager.getData(state.session!, key))

/**
 * Writes one typed data value of the current session; `current` then returns the updated session.
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
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError, CurrentSession> =>
  withState((state) => Effect.map(state.http.manager.setData(state.session!, key, value), keep(state)))

/**
 * Atomically updates one typed data value of the current session from its stored value.
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
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError, CurrentSession> =>
  withState((state) => Effect.map(state.http.manager.updateData(state.session!, key, f), keep(state)))

/**
 * Removes data values of the current session by name.
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
): Effect.Effect<Session.Session, InvalidSession | SessionStoreError, CurrentSession> =>
  withState((state) => Effect.map(state.http.manager.removeData(state.session!, ...names), keep(state)))

/**
 * Gives the current session a new token (for a privilege change without a change of principal);
 * the old token dies at once and the response carries the new cookie.
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
export const rotate: Effect.Effect<
  Session.Session,
  InvalidSession | SessionStoreError | SessionLimitError,
  CurrentSession
> = withState((state) => Effect.map(state.http.manager.rotateSession(state.session!), keep(state)))

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
  withState((state) =>
    Effect.sync(() => {
      keep(state)(session)
    })
  )

// Outside the middleware (e.g. a login route mounted without it): one state per request object.
const standalone = new WeakMap<HttpServerRequest.HttpServerRequest, State>()

interface RequestState {
  readonly state: State
  readonly inside: boolean
}

const requestState = (
  http: Service,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<RequestState> =>
  Effect.flatMap(Effect.serviceOption(CurrentSession), (current): Effect.Effect<RequestState> => {
    if (Option.isSome(current)) return Effect.succeed({ state: stateOf(current.value), inside: true })
    const known = standalone.get(request)
    if (known !== undefined) return Effect.succeed({ state: known, inside: false })
    const state = makeState(http)
    standalone.set(request, state)
    return Effect.as(HttpApp.appendPreResponseHandler(writeCookie(state)), { state, inside: false })
  })

const cookieToken = (http: Service, request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const found = cookie.lookup(request.headers["cookie"], http.settings.cookie.name)
  return found._tag === "Present" && SessionToken.isWellFormed(found.value) ? found.value : undefined
}

const authenticate = (http: Service, request: HttpServerRequest.HttpServerRequest) =>
  http.auth.authenticate(request).pipe(
    Effect.timeoutFail({
      duration: http.manager.settings.authTimeout,
      onTimeout: () => new AuthManagerError({ operation: "authenticate", reason: "Timeout" })
    }),
    Effect.catchAllDefect((cause) =>
      Effect.fail(new AuthManagerError({ operation: "authenticate", reason: "Defect", cause }))
    ),
    Effect.filterOrFail(
      (principal) => !principal.anonymous,
      () => new ExplicitLogin({ message: "credentials required" })
    )
  )

/**
 * Logs the request in: authenticates it with the auth manager (an anonymous answer counts as
 * `ExplicitLogin`), then rotates the current session to the new principal (a new token, the old
 * one dead at once: no session fixation; data kept, lifetime restarted), or opens a session when
 * there is none. The response carries the new cookie.
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
  ExplicitLogin | AuthManagerError | InvalidSession | SessionStoreError | SessionLimitError,
  HttpSession | HttpServerRequest.HttpServerRequest
> = Effect.gen(function*() {
  const http = yield* HttpSession
  const request = yield* HttpServerRequest.HttpServerRequest
  const { inside, state } = yield* requestState(http, request)
  if (!inside && state.session === undefined) {
    const token = cookieToken(http, request)
    if (token !== undefined) {
      const found = yield* http.manager.getSession(request, token).pipe(
        Effect.map(Option.some),
        Effect.catchTag("InvalidSession", () => Effect.succeedNone)
      )
      if (Option.isSome(found)) {
        state.session = found.value
        state.incoming = token
      }
    }
  }
  const live = state.session
  if (live === undefined) {
    // no session to carry over: open one (openSession authenticates, once)
    const opened = yield* http.manager.openSession(request)
    if (opened.principal.anonymous) {
      yield* http.manager.closeSession(opened).pipe(Effect.ignore)
      return yield* new ExplicitLogin({ message: "credentials required" })
    }
    state.session = opened
    state.opened = true
    state.expire = "no"
    return opened
  }
  // The middleware just opened this session from this very request's credentials: its token is
  // fresh and unknown to anyone else, so there is nothing to rotate (and no second authentication).
  if (state.opened && !live.principal.anonymous) return live
  const principal = yield* authenticate(http, request)
  const rotated = yield* http.manager.rotateSession(live, { principal })
  state.session = rotated
  state.expire = "no"
  yield* Effect.logDebug("session login").pipe(
    Effect.annotateLogs({ session: SessionToken.shortId(rotated.key), principal: principal.id })
  )
  return rotated
}).pipe(Effect.withSpan("HttpSession.login"))

/**
 * Logs the request out: closes its session (server side, at once: the token never works again)
 * and expires the cookie with the same attributes it was set with, plus `Clear-Site-Data` when
 * `clearSiteData` is on. A release that fails is logged: the session is removed all the same. A
 * store failure fails the effect and leaves the cookie alone.
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
> = Effect.gen(function*() {
  const http = yield* HttpSession
  const request = yield* HttpServerRequest.HttpServerRequest
  const { inside, state } = yield* requestState(http, request)
  let key = state.session?.key
  if (!inside && key === undefined) {
    const token = cookieToken(http, request)
    if (token !== undefined) key = SessionToken.hash(token)
  }
  if (key !== undefined) {
    yield* http.manager.closeSession({ key }).pipe(
      Effect.catchTag("SessionCloseError", (error) =>
        Effect.logWarning("session closed, its release failed").pipe(
          Effect.annotateLogs({ session: error.sessionId, reason: error.reason })
        ))
    )
  }
  state.expire = "logout"
}).pipe(Effect.withSpan("HttpSession.logout"))

// ---------------------------------------------------------------------------------------------
// HttpApi
// ---------------------------------------------------------------------------------------------

/**
 * The failures the `HttpApi` middleware declares, each with its HTTP status: `ExplicitLogin` and
 * `InvalidSession` (401), `AuthManagerError`, `SessionStoreError` and `SessionLimitError` (503).
 * They carry no cause and no session id.
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
  SessionLimitError
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
  ) => Effect.Effect<Current, Failure, HttpRouter.HttpRouter.Provided>
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
          options.description ?? "Session cookie (HttpOnly), set by the server when a session is opened or logged in"
        )
      )
    }
  })

const sanitize = (error: Failure): Failure => {
  switch (error._tag) {
    case "ExplicitLogin":
      return new ExplicitLogin({ message: error.message })
    case "InvalidSession":
      return new InvalidSession({ reason: error.reason })
    case "AuthManagerError":
      return new AuthManagerError({ operation: error.operation, reason: error.reason })
    case "SessionStoreError":
      return new SessionStoreError({ reason: error.reason, operation: error.operation })
    case "SessionLimitError":
      return new SessionLimitError({ limit: error.limit, max: error.max })
  }
}

/**
 * Implements an `ApiMiddleware` tag with the `HttpSession` layer's rules: the value decoded by
 * `HttpApiSecurity` is ignored (it comes from the lenient `request.cookies`, and is `""` when the
 * cookie is missing) and the raw `Cookie` header is read strictly instead; then as `middleware`,
 * with failures typed (`ApiFailure`). Fails to build with `SessionConfigError` when the tag's
 * cookie name is not the layer's.
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
  tag: ApiMiddlewareTag<Self>
): Layer.Layer<Self, SessionConfigError, HttpSession> =>
  Layer.effect(
    tag,
    Effect.gen(function*() {
      const http = yield* HttpSession
      const key = tag.security.sessionCookie.key
      if (key !== http.settings.cookie.name) {
        return yield* new SessionConfigError({
          option: "cookie.name",
          reason: `the HttpApi middleware ${tag.key} reads the cookie ${JSON.stringify(key)}, ` +
            `but HttpSession writes ${JSON.stringify(http.settings.cookie.name)}`
        })
      }
      const handle = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const state = makeState(http)
        yield* HttpApp.appendPreResponseHandler(writeCookie(state))
        yield* Effect.mapError(load(state, request), sanitize)
        return makeCurrent(state)
      })
      return { sessionCookie: () => handle }
    })
  )
