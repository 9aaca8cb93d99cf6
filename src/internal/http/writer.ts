/**
 * The cookie writer, for requests that have something to write (a new or changed token, a moved
 * rolling deadline, an expiry): a request that leaves the session alone pays nothing. The router
 * middleware applies it to the response that leaves; elsewhere (HttpApi, routes mounted without
 * the middleware) it is a pre-response handler. Either way it sees whatever response goes out,
 * error responses included.
 *
 * What it writes, in order of precedence:
 * - nothing on a cross-site request that came without a live session cookie (I10);
 * - the new token, when the stored session's token is not the one that came;
 * - the expired cookie (logout, a dead cookie), or every copy it can address (a duplicate cookie);
 * - the same token again when the idle deadline moved (`rolling`), unless a 503 is answered.
 *
 * @internal
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Settings } from "../../HttpSession.js"
import type * as Session from "../../Session.js"
import * as SessionToken from "../../SessionToken.js"
import * as expiry from "../expiry.js"
import * as cookie from "./cookie.js"
import * as csrf from "./csrf.js"
import type { State } from "./state.js"

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

/** The attributes the cookie is written with, and expired with. */
const attributes = (settings: Settings, request: HttpServerRequest.HttpServerRequest) => ({
  path: settings.cookie.path,
  ...(Option.isSome(settings.cookie.domain) ? { domain: settings.cookie.domain.value } : {}),
  httpOnly: true,
  secure: isSecure(settings, request),
  sameSite: settings.cookie.sameSite
})

const sameSiteAttribute = { lax: "Lax", strict: "Strict", none: "None" } as const

/** `name=value; Max-Age=n; Domain=d; Path=p; HttpOnly; Secure; SameSite=x`, as `Cookies` writes it. */
const serialize = (
  settings: Settings,
  request: HttpServerRequest.HttpServerRequest,
  value: string,
  maxAge: number | undefined
): string => {
  const { domain, name, path, sameSite } = settings.cookie
  return `${name}=${value}${maxAge === undefined ? "" : `; Max-Age=${maxAge}`}${
    Option.isSome(domain) ? `; Domain=${domain.value}` : ""
  }; Path=${path}; HttpOnly${isSecure(settings, request) ? "; Secure" : ""}; SameSite=${sameSiteAttribute[sameSite]}`
}

const varyCookie = (vary: string | undefined): string =>
  vary === undefined || vary.trim() === ""
    ? "Cookie"
    : /(^|,)\s*(cookie|\*)\s*(,|$)/i.test(vary)
    ? vary
    : `${vary}, Cookie`

const uncacheable = (response: HttpServerResponse.HttpServerResponse, setCookie?: string) =>
  HttpServerResponse.setHeaders(
    response,
    setCookie === undefined
      ? { "cache-control": "no-store", vary: varyCookie(response.headers["vary"]) }
      : { "set-cookie": setCookie, "cache-control": "no-store", vary: varyCookie(response.headers["vary"]) }
  )

/** Seconds the cookie may live, or `undefined` for a browser-session cookie. */
const maxAgeOf = (state: State, session: Session.Session): number | undefined => {
  const { manager, settings } = state.http
  if (settings.cookie.maxAge === "browser") return undefined
  // `lastUsedAt` is when the session was last touched, written or stored: this request
  const deadline = settings.rolling
    ? expiry.deadlineOf(session, manager.settings.policy)
    : (session.expiresAt ?? Infinity)
  const millis = deadline - session.lastUsedAt
  return millis === Infinity ? undefined : Math.max(1, Math.floor(millis / 1000))
}

const setToken = (
  state: State,
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse,
  session: Session.Session,
  token: string
) => {
  const settings = state.http.settings
  const maxAge = maxAgeOf(state, session)
  // a raw Set-Cookie line, serialised once, set with the cache headers in one step; through
  // `Cookies` when the handler set a raw one already
  if (response.headers["set-cookie"] === undefined) {
    return uncacheable(response, serialize(settings, request, token, maxAge))
  }
  return uncacheable(HttpServerResponse.unsafeSetCookie(response, settings.cookie.name, token, {
    ...attributes(settings, request),
    ...(maxAge === undefined ? {} : { maxAge: `${maxAge} seconds` })
  }))
}

/**
 * The domains a sibling subdomain could have planted a copy of the cookie under: the request's
 * host and its parents, down to two labels (none for an IP address or a one-label host).
 */
const plantable = (host: string | undefined): ReadonlyArray<string> => {
  if (host === undefined || host.startsWith("[")) return []
  const name = host.replace(/:\d+$/, "")
  const labels = name.split(".")
  if (labels.length < 2 || /^[\d.]+$/.test(name) || !cookie.isValidDomain(name)) return []
  return labels.slice(0, labels.length - 1).map((_, i) => labels.slice(i).join(".")).slice(0, 5)
}

// A duplicate cookie: every copy we can address is expired (Path=/ and the configured path,
// host-only, the configured Domain, and, unless the name's `__Host-` prefix rules them out, the
// domains a subdomain could plant one under), so that the next request recovers.
const expireCopies = (
  state: State,
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
) => {
  const { name, path } = state.http.settings.cookie
  const configured = attributes(state.http.settings, request)
  const base = { httpOnly: true, secure: configured.secure, sameSite: configured.sameSite }
  const copies = new Map<string, Cookies.Cookie>()
  const add = (options: { readonly path: string; readonly domain?: string }) => {
    const key = `${name};${options.domain ?? ""};${options.path}`
    if (!copies.has(key)) copies.set(key, Cookies.unsafeMakeCookie(name, "", { ...base, ...options, maxAge: 0 }))
  }
  add({ path })
  if (configured.domain !== undefined) add({ path, domain: configured.domain })
  if (!name.startsWith("__Host-")) {
    for (const domain of plantable(csrf.hostOf(request, state.http.settings.trustProxy))) add({ path: "/", domain })
  }
  copies.delete(`${name};;/`)
  // the host-only Path=/ copy through expireCookie; the others keyed apart, so none replaces another
  const hostOnly = HttpServerResponse.expireCookie(response, name, { ...base, path: "/" })
  return uncacheable(
    copies.size === 0
      ? hostOnly
      : HttpServerResponse.mergeCookies(hostOnly, Cookies.fromReadonlyRecord(Object.fromEntries(copies)))
  )
}

const expire = (
  state: State,
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
) => {
  if (state.expire === "ambiguous") return expireCopies(state, request, response)
  const settings = state.http.settings
  const expired = HttpServerResponse.expireCookie(response, settings.cookie.name, attributes(settings, request))
  return uncacheable(
    state.expire === "logout" && Option.isSome(settings.clearSiteData)
      ? HttpServerResponse.setHeader(expired, "clear-site-data", settings.clearSiteData.value)
      : expired
  )
}

/** What goes out for this request, decided from its state. @internal */
export const apply = (
  state: State,
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
): HttpServerResponse.HttpServerResponse => {
  if (state.refused) return response
  if (state.incoming === undefined && csrf.isCrossSite(request, state.http.settings)) return response
  const session = state.stored ? state.session : undefined
  // a new token: the stored session is not the one the request came with (compared by key)
  const incoming = state.incoming
  if (session !== undefined && (incoming === undefined || session.key !== SessionToken.hash(incoming))) {
    const token = session.token
    if (token !== undefined) return setToken(state, request, response, session, Redacted.value(token))
  }
  if (state.expire !== "no") return expire(state, request, response)
  if (
    session !== undefined && incoming !== undefined && state.moved && state.http.settings.rolling && !state.unavailable
  ) {
    return setToken(state, request, response, session, incoming)
  }
  return response
}

/** The writer as a pre-response handler. */
const handler = (state: State): HttpApp.PreResponseHandler => (request, response) =>
  Effect.succeed(apply(state, request, response))

/** Registers the writer as a pre-response handler of the request's fiber. @internal */
export const register = (state: State): Effect.Effect<void> => {
  state.registered = true
  return HttpApp.appendPreResponseHandler(handler(state))
}

/**
 * Notes that the response must be looked at by the writer, and returns the effect that registers
 * it, if one is needed now: never for the bearer transport, never twice, and not under the router
 * middleware, which applies the writer to the response itself (and registers it only if the
 * request ends in an error response).
 *
 * @internal
 */
export const need = (state: State): Effect.Effect<void> | undefined => {
  if (state.transport !== "cookie") return undefined
  state.writing = true
  return state.inline || state.registered ? undefined : register(state)
}

/** `value`, once the writer is noted (see `need`). @internal */
export const noted = <A>(state: State, value: A): Effect.Effect<A> => {
  const registration = need(state)
  return registration === undefined ? Effect.succeed(value) : Effect.as(registration, value)
}
