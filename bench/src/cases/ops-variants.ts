/**
 * The variants of the operation-count case: one `@effect/platform` app each, run in process
 * through `HttpApp.toWebHandlerLayer` (no sockets). To measure another way of serving sessions
 * (a lazy session, a bearer token...), add one entry to `variants` and run
 * `npm run bench -- --only ops --update-baseline` to record its count in bench/baseline/ops.json.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthManager from "effect-session/AuthManager"
import * as HttpSession from "effect-session/HttpSession"
import * as Session from "effect-session/Session"
import { SessionLive } from "effect-session/SessionLive"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"

export interface OpsVariant {
  /** Its key in bench/baseline/ops.json. */
  readonly name: string
  readonly label: string
  /** Builds the app and the layer it needs; called once for the counted handler, once for the timed one. */
  readonly make: () => {
    readonly app: HttpApp.Default<unknown, any>
    readonly layer: Layer.Layer<never, unknown>
  }
  /** The path of the first request (default `/`, the measured route), e.g. one that opens a session. */
  readonly firstPath?: string
  /**
   * The headers of every measured request, from the answer to a first request sent without any
   * (default: its `Set-Cookie` sent back as `Cookie`, i.e. a valid session cookie).
   */
  readonly headers?: (first: Response) => Record<string, string>
  /**
   * What the measured responses must show, so that a variant whose session does not persist
   * fails instead of counting the "new session" path: `"same"` (every body equal, the default),
   * `"counter"` (each body one more than the previous one).
   */
  readonly body?: "same" | "counter"
  /** The reference the others are compared against (exactly one variant). */
  readonly bare?: boolean
  /** The hand-written floor that effect-session's ratios are given against (exactly one variant). */
  readonly floor?: boolean
}

/** The session cookie of a response, as a `Cookie` header (none: no header). */
export const cookieFrom = (response: Response): Record<string, string> => {
  const cookies = response.headers.getSetCookie().map((line) => line.split(";")[0])
  return cookies.length === 0 ? {} : { cookie: cookies.join("; ") }
}

const text = (body: string) => HttpServerResponse.text(body)

// ---------------------------------------------------------------------------------------------
// The floor: a hand-written session middleware over a native Map
// ---------------------------------------------------------------------------------------------

interface MapEntry {
  readonly id: string
  lastUsedAt: number
}

class MapSession extends Context.Tag("bench/MapSession")<MapSession, MapEntry>() {}

const IDLE_MS = 30 * 60_000

/** The value of cookie `name` in a `Cookie` header, by a plain scan. */
const scanCookie = (header: string | undefined, name: string): string | undefined => {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const eq = part.indexOf("=")
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** Cookie scan, Map lookup, touch, `provideService`, `Set-Cookie` only for a new session. */
const mapMiddleware = (sessions: Map<string, MapEntry>) =>
  HttpMiddleware.make((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const sid = scanCookie(request.headers.cookie, "sid")
        const found = sid === undefined ? undefined : sessions.get(sid)
        if (found !== undefined && found.lastUsedAt > now - IDLE_MS) {
          found.lastUsedAt = now
          return Effect.provideService(app, MapSession, found)
        }
        if (sid !== undefined) sessions.delete(sid)
        const entry: MapEntry = { id: randomBytes(32).toString("base64url"), lastUsedAt: now }
        sessions.set(entry.id, entry)
        return Effect.map(
          Effect.provideService(app, MapSession, entry),
          (response) =>
            HttpServerResponse.unsafeSetCookie(response, "sid", entry.id, {
              path: "/",
              httpOnly: true,
              sameSite: "lax",
              maxAge: "30 minutes"
            })
        )
      }))
  )

// ---------------------------------------------------------------------------------------------
// effect-session
// ---------------------------------------------------------------------------------------------

const Counter = Session.dataKey("counter", Schema.Number)

/** `HttpSession.middleware` on the defaults (memory store), everyone anonymous, cookies over plain http. */
const oursLayer = (options: HttpSession.Options = {}) =>
  HttpSession.layer({ cookie: { secure: false }, ...options }).pipe(
    Layer.provideMerge(SessionLive),
    Layer.provide(AuthManager.layer({ authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true }) }))
  )

/**
 * The measured route `/` behind the middleware, and `/mint`, which stores a session (a first
 * request there gives the measured requests a valid session cookie, or token in `x-token`).
 */
const ours = (
  handler: HttpRouter.Route.Handler<unknown, any>,
  options: HttpSession.Options = {},
  transport: "cookie" | "bearer" = "cookie"
) =>
() => ({
  app: HttpRouter.empty.pipe(
    HttpRouter.get("/", handler),
    HttpRouter.get(
      "/mint",
      Effect.map(HttpSession.save, (session) =>
        HttpServerResponse.text("minted", {
          headers: { "x-token": session.token === undefined ? "" : Redacted.value(session.token) }
        }))
    ),
    HttpRouter.use(HttpSession.makeMiddleware({ transport }))
  ),
  layer: oursLayer(options)
})

const read = Effect.map(HttpSession.current, (session) => text(`${session.principal.id} ${Session.shortId(session)}`))

// ---------------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------------

export const variants: ReadonlyArray<OpsVariant> = [
  {
    name: "bare",
    label: "bare @effect/platform router (no session)",
    bare: true,
    make: () => ({ app: HttpRouter.empty.pipe(HttpRouter.get("/", Effect.sync(() => text("ok")))), layer: Layer.empty })
  },
  {
    name: "map-floor",
    label: "hand-written Map middleware, route reads the session",
    floor: true,
    make: () => ({
      app: HttpRouter.empty.pipe(
        HttpRouter.get("/", Effect.map(MapSession, (entry) => text(entry.id))),
        HttpRouter.use(mapMiddleware(new Map()))
      ),
      layer: Layer.empty
    })
  },
  {
    name: "ours-untouched",
    label: "OURS HttpSession.middleware, valid cookie, route never touches the session",
    firstPath: "/mint",
    make: ours(Effect.sync(() => text("ok")))
  },
  {
    name: "ours-read",
    label: "OURS, valid cookie, route reads it (HttpSession.current)",
    firstPath: "/mint",
    make: ours(read)
  },
  {
    name: "ours-counter",
    label: "OURS, valid cookie, route increments a counter (HttpSession.updateData)",
    firstPath: "/mint",
    body: "counter",
    make: ours(
      Effect.map(
        HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1),
        (session) => text(String(session.data.counter))
      )
    )
  },
  {
    name: "ours-read-new",
    label: "OURS, no cookie, route reads (lazy: authenticate, nothing stored, no Set-Cookie)",
    headers: () => ({}),
    make: ours(read)
  },
  {
    name: "ours-eager-read",
    label: "OURS with open: \"eager\", valid cookie, route reads",
    firstPath: "/mint",
    make: ours(read, { open: "eager" })
  },
  {
    name: "ours-bearer-read",
    label: "OURS bearer transport, valid token, route reads",
    firstPath: "/mint",
    headers: (first) => ({ authorization: `Bearer ${first.headers.get("x-token")}` }),
    make: ours(read, {}, "bearer")
  }
]
