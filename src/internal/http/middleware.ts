/**
 * The HTTP middleware, and the responses it gives to session failures.
 *
 * Per request it refuses a cross-origin unsafe request before anything else (403, no session
 * work, no cookie), sets the request's state in the fiber (one `FiberRef.set`), answers the
 * session failures the app raises, and applies the cookie writer to the response that leaves when
 * the request has something to write (or registers it as a pre-response handler when the request
 * ends in an error response the platform builds). Reading and storing happen when the app asks.
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type { Current, Failure, Service } from "../../HttpSession.js"
import * as cookie from "./cookie.js"
import * as csrf from "./csrf.js"
import { verifyCsrfToken } from "./operations.js"
import { current, isFailure, persist } from "./session.js"
import * as State from "./state.js"
import * as writer from "./writer.js"

const text = (body: string, status: number, headers?: Record<string, string>) =>
  HttpServerResponse.text(body, { status, ...(headers === undefined ? {} : { headers }) })

const bearerChallenge = (error: string | undefined) => ({
  "www-authenticate": error === undefined ? `Bearer realm="session"` : `Bearer realm="session", error="${error}"`
})

/** The response for a session failure; the state's flags were set where the failure arose. @internal */
export const failureResponse = (state: State.State, error: Failure): HttpServerResponse.HttpServerResponse => {
  const bearer = state.transport === "bearer"
  switch (error._tag) {
    case "ExplicitLogin": {
      if (bearer) return text("Login required", 401, bearerChallenge(undefined))
      const loginUrl = state.http.settings.loginUrl
      const request = state.request
      const isLoginPage = Option.isSome(loginUrl) &&
        (request.method === "GET" || request.method === "HEAD") &&
        cookie.requestPath(request.url) === cookie.pathOf(loginUrl.value)
      return Option.isSome(loginUrl) && !isLoginPage
        ? HttpServerResponse.redirect(loginUrl.value, { status: 303 })
        : text("Login required", 401)
    }
    case "InvalidSession":
      if (bearer) return text("Invalid session", 401, bearerChallenge("invalid_token"))
      return error.reason === "Ambiguous"
        ? text(
          "The session cookie was sent more than once (one may have been set by another site under this domain). " +
            "The copies this site can reach were cleared: reload the page to continue.",
          401
        )
        : text("Invalid session", 401)
    case "AuthManagerError":
      return text("Authentication unavailable, try again later", 503)
    case "SessionStoreError":
      return text("Session store unavailable, try again later", 503)
    case "SessionLimitError":
      return text("Too many sessions, try again later", 503)
  }
}

/** The 403 of a refused cross-origin request: no session work, no cookie. @internal */
export const forbidden = (reason: "CrossOrigin" | "Token") =>
  text(reason === "CrossOrigin" ? "Cross-origin request refused" : "Missing or invalid CSRF token", 403)

const logRefused = (request: HttpServerRequest.HttpServerRequest, reason: "CrossOrigin" | "Token") =>
  Effect.logDebug("request refused (CSRF)").pipe(
    Effect.annotateLogs({
      reason,
      method: request.method,
      path: cookie.requestPath(request.url),
      origin: request.headers["origin"] ?? "",
      site: request.headers["sec-fetch-site"] ?? ""
    })
  )

/** Whether the request must be refused as cross-origin (CSRF on, cookie transport, unsafe, not exempt). @internal */
export const crossOrigin = (
  settings: Service["settings"],
  transport: State.Transport,
  request: HttpServerRequest.HttpServerRequest
): boolean =>
  transport === "cookie" && Option.isSome(settings.csrf) && csrf.mustCheck(request, settings.csrf.value) &&
  csrf.isCrossOrigin(request, settings.csrf.value, settings.trustProxy)

/** Whether the request must carry the session's synchronizer token. @internal */
export const needsToken = (state: State.State): boolean =>
  state.transport === "cookie" && Option.isSome(state.http.settings.csrf) && state.http.settings.csrf.value.token &&
  csrf.mustCheck(state.request, state.http.settings.csrf.value)

/** Checks the synchronizer token; a wrong one marks the request refused. @internal */
export const tokenAccepted = (state: State.State): Effect.Effect<boolean, Failure> =>
  Effect.map(verifyCsrfToken(state), (accepted) => {
    if (!accepted) state.refused = true
    return accepted
  })

const CurrentTag = Context.GenericTag<Current>(State.CURRENT_KEY)

// Session failures become responses; the writer goes with whatever response leaves: applied here
// to a response the app returned, registered as a pre-response handler for an error response the
// platform builds (a defect after a rotation still sends the new cookie).
const answered = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  state: State.State,
  write: boolean
): Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R> =>
  Effect.matchCauseEffect(app, {
    onFailure: (cause) => {
      if (cause._tag === "Fail" && isFailure(cause.error)) {
        const response = failureResponse(state, cause.error)
        return Effect.succeed(write && state.writing ? writer.apply(state, state.request, response) : response)
      }
      return write && state.writing
        ? Effect.zipRight(writer.register(state), Effect.failCause(cause))
        : Effect.failCause(cause)
    },
    onSuccess: (response) =>
      Effect.succeed(write && state.writing ? writer.apply(state, state.request, response) : response)
  })

/** The middleware for one transport. @internal */
export const make =
  (transport: State.Transport) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<unknown, unknown> =>
    Effect.withFiberRuntime((fiber) => {
      const context = fiber.currentContext
      const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
      const existing = fiber.getFiberRef(State.ref)
      // applied twice (a router and a sub-router): the outer one did the work and writes the cookie
      if (State.belongsTo(existing, request) && existing.transport === transport) return answered(app, existing, false)
      const http: Service | undefined = context.unsafeMap.get(State.SERVICE_KEY)
      if (http === undefined) return Effect.dieMessage("HttpSession.middleware: the HttpSession layer is not provided")
      if (crossOrigin(http.settings, transport, request)) {
        return Effect.as(logRefused(request, "CrossOrigin"), forbidden("CrossOrigin"))
      }
      const state = State.make(http, request, transport, { sanitize: false, inline: true })
      let run: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, unknown> = app
      if (http.settings.open === "eager") run = Effect.zipRight(persist(state), run)
      if (needsToken(state)) {
        const checked = run
        run = Effect.flatMap(
          tokenAccepted(state),
          (accepted) => accepted ? checked : Effect.as(logRefused(request, "Token"), forbidden("Token"))
        )
      }
      run = answered(run, state, true)
      // the layer provides CurrentSession once; a hand-made HttpSession service does not
      if (!context.unsafeMap.has(State.CURRENT_KEY)) run = Effect.provideService(run, CurrentTag, current)
      return Effect.zipRight(FiberRef.set(State.ref, state), run)
    })
