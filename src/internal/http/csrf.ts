/**
 * Cross-site request forgery defence, decided here once: Fetch Metadata first, the `Origin` host
 * against the request's host as the fallback (Go 1.25's `net/http.CrossOriginProtection`, the
 * OWASP cheat sheet's "Verifying Origin with standard headers"), trusted origins, exempt routes
 * matched exactly, and the optional per-session synchronizer token.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Option from "effect/Option"
import { timingSafeEqual } from "node:crypto"
import type { Settings } from "../../HttpSession.js"
import * as cookie from "./cookie.js"

/** @internal */
export type CsrfSettings = Option.Option.Value<Settings["csrf"]>

/** The session data key of the synchronizer token. @internal */
export const TOKEN_KEY = "_csrf"

/** The request header and the form field that carry the synchronizer token. @internal */
export const TOKEN_HEADER = "x-csrf-token"
/** @internal */
export const TOKEN_FIELD = "_csrf"

/** GET, HEAD and OPTIONS change nothing and always pass. @internal */
export const isSafeMethod = (method: string): boolean => method === "GET" || method === "HEAD" || method === "OPTIONS"

/** The host the request was addressed to, lower case (`X-Forwarded-Host` only with trustProxy). @internal */
export const hostOf = (request: HttpServerRequest.HttpServerRequest, trustProxy: boolean): string | undefined => {
  if (trustProxy) {
    const forwarded = request.headers["x-forwarded-host"]
    if (forwarded !== undefined && forwarded !== "") return forwarded.split(",")[0].trim().toLowerCase()
  }
  return request.headers["host"]?.toLowerCase()
}

/** The `host[:port]` of an `Origin` header value, or `undefined` (`null`, a path, garbage). */
const authorityOf = (origin: string): string | undefined => {
  const scheme = origin.startsWith("https://") ? 8 : origin.startsWith("http://") ? 7 : 0
  if (scheme === 0) return undefined
  const authority = origin.slice(scheme)
  return authority.length === 0 || /[/?#@\s\\]/.test(authority) ? undefined : authority.toLowerCase()
}

const originMatchesHost = (origin: string, request: HttpServerRequest.HttpServerRequest, trustProxy: boolean) => {
  const authority = authorityOf(origin)
  return authority !== undefined && authority === hostOf(request, trustProxy)
}

/**
 * Whether an unsafe request must be refused as cross-origin. Callers check the method and the
 * exempt routes first.
 *
 * @internal
 */
export const isCrossOrigin = (
  request: HttpServerRequest.HttpServerRequest,
  csrf: CsrfSettings,
  trustProxy: boolean
): boolean => {
  const origin = request.headers["origin"]
  if (origin !== undefined && csrf.trustedOrigins.includes(origin)) return false
  const site = request.headers["sec-fetch-site"]
  if (site !== undefined) return site !== "same-origin" && site !== "none"
  // no Fetch Metadata: an old browser, or not a browser
  if (origin === undefined) return csrf.requireOrigin
  return !originMatchesHost(origin, request, trustProxy)
}

/** Exempt routes match the request path exactly: no case folding, no trailing-slash variant. @internal */
export const isExempt = (request: HttpServerRequest.HttpServerRequest, csrf: CsrfSettings): boolean =>
  csrf.exempt.length > 0 && csrf.exempt.includes(cookie.requestPath(request.url))

/** Whether the unsafe request must pass the checks (CSRF on, not exempt). @internal */
export const mustCheck = (request: HttpServerRequest.HttpServerRequest, csrf: CsrfSettings): boolean =>
  !isSafeMethod(request.method) && !isExempt(request, csrf)

/**
 * Whether the request comes from another site, whatever its method: its response must never
 * replace the user's cookie (a `SameSite` cookie was not sent with it, I10).
 *
 * @internal
 */
export const isCrossSite = (request: HttpServerRequest.HttpServerRequest, settings: Settings): boolean => {
  const origin = request.headers["origin"]
  if (origin !== undefined && settings.csrf._tag === "Some" && settings.csrf.value.trustedOrigins.includes(origin)) {
    return false
  }
  const site = request.headers["sec-fetch-site"]
  if (site !== undefined) return site === "cross-site"
  return origin !== undefined && !originMatchesHost(origin, request, settings.trustProxy)
}

/** Compares two tokens in constant time (their length is not a secret). @internal */
export const tokensEqual = (expected: string, given: string): boolean => {
  const a = Buffer.from(expected, "utf8")
  const b = Buffer.from(given, "utf8")
  return a.length === b.length && timingSafeEqual(a, b)
}
