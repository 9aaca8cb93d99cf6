/**
 * Validation of the HTTP session options: every rule checked once, when the layer is built.
 * Cookie attributes are checked by the strict rules below and then by `Cookies.makeCookie`, so the
 * platform accepts whatever we will write.
 *
 * @internal
 */
import * as Cookies from "@effect/platform/Cookies"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { CookieOptions, CsrfOptions, Options, Settings } from "../../HttpSession.js"
import { SessionConfigError } from "../../SessionError.js"
import * as cookie from "./cookie.js"

/** @internal */
export const defaults = {
  cookieName: "sid",
  secure: true,
  sameSite: "lax",
  path: "/",
  maxAge: "idle",
  open: "lazy",
  csrf: true,
  onInvalid: "anonymous",
  rolling: true,
  clearSiteData: false,
  trustProxy: false
} as const

/** @internal */
export const HOST_PREFIX = "__Host-"

const clearSiteDataAll = ["cache", "cookies", "storage"]
const clearSiteDataDirectives = ["cache", "cookies", "storage", "executionContexts", "*"]

const invalid = (option: string, reason: string) => Either.left(new SessionConfigError({ option, reason }))

const isBoolean = (u: unknown): u is boolean => typeof u === "boolean"

const oneOf = <A extends string>(
  option: string,
  value: unknown,
  allowed: ReadonlyArray<A>
): Either.Either<A, SessionConfigError> =>
  allowed.includes(value as A)
    ? Either.right(value as A)
    : invalid(option, `must be ${allowed.map((a) => JSON.stringify(a)).join(" or ")}, got ${JSON.stringify(value)}`)

/** The cookie name that options give, `__Host-` prefix included. @internal */
export const cookieName = (options: Pick<CookieOptions, "name" | "hostPrefix"> = {}): string => {
  const name = options.name ?? defaults.cookieName
  return options.hostPrefix === true && !name.startsWith(HOST_PREFIX) ? HOST_PREFIX + name : name
}

const validateCookie = (options: CookieOptions): Either.Either<Settings["cookie"], SessionConfigError> =>
  Either.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid("cookie", "must be an object")
    if (options.name !== undefined && typeof options.name !== "string") {
      return yield* invalid("cookie.name", "must be a string")
    }
    if (options.hostPrefix !== undefined && !isBoolean(options.hostPrefix)) {
      return yield* invalid("cookie.hostPrefix", "must be a boolean")
    }
    const name = cookieName(options)
    if (!cookie.isValidName(name)) {
      return yield* invalid(
        "cookie.name",
        `${JSON.stringify(name)} is not a cookie name: use 1 to ${cookie.MAX_NAME_LENGTH} letters, digits or ` +
          "!#$%&'*+-.^_`|~"
      )
    }
    const lower = name.toLowerCase()
    const hostPrefixed = lower.startsWith(HOST_PREFIX.toLowerCase())
    if (hostPrefixed && !name.startsWith(HOST_PREFIX)) {
      return yield* invalid("cookie.name", `spell the prefix exactly ${JSON.stringify(HOST_PREFIX)}`)
    }
    const securePrefixed = lower.startsWith("__secure-")
    if (securePrefixed && !name.startsWith("__Secure-")) {
      return yield* invalid("cookie.name", `spell the prefix exactly "__Secure-"`)
    }
    const secure = options.secure ?? defaults.secure
    if (secure !== true && secure !== false && secure !== "auto") {
      return yield* invalid("cookie.secure", `must be true, false or "auto", got ${JSON.stringify(secure)}`)
    }
    const sameSite = yield* oneOf(
      "cookie.sameSite",
      options.sameSite ?? defaults.sameSite,
      [
        "lax",
        "strict",
        "none"
      ] as const
    )
    const path = options.path ?? defaults.path
    if (typeof path !== "string" || !cookie.isValidPath(path)) {
      return yield* invalid(
        "cookie.path",
        `${
          JSON.stringify(path)
        } must start with "/" and hold only visible ASCII without ";" (at most ${cookie.MAX_PATH_LENGTH})`
      )
    }
    const domain = options.domain
    if (domain !== undefined && (typeof domain !== "string" || !cookie.isValidDomain(domain))) {
      return yield* invalid("cookie.domain", `${JSON.stringify(domain)} is not a host name`)
    }
    const maxAge = yield* oneOf("cookie.maxAge", options.maxAge ?? defaults.maxAge, ["idle", "browser"] as const)
    if (hostPrefixed) {
      if (secure !== true) {
        return yield* invalid("cookie.secure", `a ${HOST_PREFIX} cookie must be Secure (secure: true)`)
      }
      if (path !== "/") return yield* invalid("cookie.path", `a ${HOST_PREFIX} cookie must have Path=/`)
      if (domain !== undefined) return yield* invalid("cookie.domain", `a ${HOST_PREFIX} cookie cannot have a Domain`)
    }
    if (securePrefixed && secure !== true) {
      return yield* invalid("cookie.secure", `a __Secure- cookie must be Secure (secure: true)`)
    }
    if (sameSite === "none" && secure !== true) {
      return yield* invalid("cookie.sameSite", `SameSite=None requires secure: true (browsers drop it otherwise)`)
    }
    // what we will write must also be what the platform accepts
    const platform = Cookies.makeCookie(name, "", { path, ...(domain === undefined ? {} : { domain }) })
    if (Either.isLeft(platform)) return yield* invalid("cookie", `refused by @effect/platform: ${platform.left.reason}`)
    return { name, secure, sameSite, path, domain: Option.fromNullable(domain), maxAge }
  })

/** An origin as browsers send it: `scheme://host[:port]`, lower case, nothing after. */
const isOrigin = (origin: string): boolean => {
  if (origin === "null" || origin !== origin.toLowerCase()) return false
  try {
    const url = new URL(origin)
    return (url.protocol === "https:" || url.protocol === "http:") && url.origin === origin
  } catch {
    return false
  }
}

const stringList = (
  option: string,
  value: unknown,
  check: (entry: string) => boolean,
  expected: string
): Either.Either<ReadonlyArray<string>, SessionConfigError> => {
  if (value === undefined) return Either.right([])
  if (!Array.isArray(value)) return invalid(option, "must be a list")
  const bad = value.find((entry) => typeof entry !== "string" || !check(entry))
  return bad === undefined
    ? Either.right(Object.freeze([...value]))
    : invalid(option, `${JSON.stringify(bad)} is not ${expected}`)
}

const validateCsrf = (
  csrf: boolean | CsrfOptions
): Either.Either<Settings["csrf"], SessionConfigError> =>
  Either.gen(function*() {
    if (csrf === false) return Option.none()
    const options: CsrfOptions = csrf === true ? {} : csrf
    if (typeof options !== "object" || options === null) {
      return yield* invalid("csrf", "must be a boolean or an object")
    }
    const trustedOrigins = yield* stringList(
      "csrf.trustedOrigins",
      options.trustedOrigins,
      isOrigin,
      `an origin ("https://app.example.com": scheme, host and port only, lower case)`
    )
    const exempt = yield* stringList(
      "csrf.exempt",
      options.exempt,
      (path) => cookie.isValidPath(path) && !path.includes("?") && !path.includes("#"),
      `a path ("/webhooks/stripe": matched exactly, no query)`
    )
    const requireOrigin = options.requireOrigin ?? false
    if (!isBoolean(requireOrigin)) return yield* invalid("csrf.requireOrigin", "must be a boolean")
    const token = options.token ?? false
    if (!isBoolean(token)) return yield* invalid("csrf.token", "must be a boolean")
    return Option.some({ trustedOrigins, exempt, requireOrigin, token })
  })

const validateClearSiteData = (
  clear: boolean | ReadonlyArray<string>
): Either.Either<Option.Option<string>, SessionConfigError> => {
  if (clear === false) return Either.right(Option.none())
  if (clear !== true && !Array.isArray(clear)) {
    return invalid("clearSiteData", "must be a boolean or a list of directives")
  }
  const directives: ReadonlyArray<string> = clear === true ? clearSiteDataAll : clear
  const unknown = directives.find((directive) => !clearSiteDataDirectives.includes(directive))
  if (directives.length === 0 || unknown !== undefined) {
    return invalid(
      "clearSiteData",
      `directives must be among ${clearSiteDataDirectives.join(", ")}, got ${JSON.stringify(unknown ?? [])}`
    )
  }
  return Either.right(Option.some(directives.map((directive) => `"${directive}"`).join(", ")))
}

/** Validates options and fills in defaults. @internal */
export const validate = (options: Options = {}): Either.Either<Settings, SessionConfigError> =>
  Either.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid("options", "must be an object")
    const trustProxy = options.trustProxy ?? defaults.trustProxy
    if (!isBoolean(trustProxy)) return yield* invalid("trustProxy", "must be a boolean")
    const cookieSettings = yield* validateCookie(options.cookie ?? {})
    const open = yield* oneOf("open", options.open ?? defaults.open, ["lazy", "eager"] as const)
    const csrf = yield* validateCsrf(options.csrf ?? defaults.csrf)
    const onInvalid = yield* oneOf(
      "onInvalid",
      options.onInvalid ?? defaults.onInvalid,
      [
        "anonymous",
        "unauthorized"
      ] as const
    )
    const loginUrl = options.loginUrl
    if (loginUrl !== undefined && (typeof loginUrl !== "string" || !cookie.isValidRedirect(loginUrl))) {
      return yield* invalid(
        "loginUrl",
        `${JSON.stringify(loginUrl)} must be a same-origin path ("/login") or an absolute http(s) URL`
      )
    }
    const rolling = options.rolling ?? defaults.rolling
    if (!isBoolean(rolling)) return yield* invalid("rolling", "must be a boolean")
    const clearSiteData = yield* validateClearSiteData(options.clearSiteData ?? defaults.clearSiteData)
    return {
      cookie: cookieSettings,
      open,
      csrf,
      onInvalid,
      loginUrl: Option.fromNullable(loginUrl),
      rolling,
      clearSiteData,
      trustProxy
    }
  })
