/**
 * The `HttpApi` security middleware: the same rules as the HTTP middleware (CSRF on the cookie
 * transport, lazy reads, the cookie writer), with failures typed for the API and without causes
 * or session ids.
 *
 * @internal
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import type { Current, Failure, Service } from "../../HttpSession.js"
import { crossOrigin, needsToken, tokenAccepted } from "./middleware.js"
import { current, persist } from "./session.js"
import * as State from "./state.js"

/**
 * The effect the security middleware runs per request: it sets the request's state and hands
 * back `CurrentSession`'s one value. `refuse` builds the API's 403.
 *
 * @internal
 */
export const handler = <R>(
  http: Service,
  transport: State.Transport,
  refuse: (reason: "CrossOrigin" | "Token") => R
): Effect.Effect<Current, Failure | R> =>
  Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    const existing = fiber.getFiberRef(State.ref)
    if (State.belongsTo(existing, request) && existing.transport === transport) return Effect.succeed(current)
    if (crossOrigin(http.settings, transport, request)) return Effect.fail(refuse("CrossOrigin"))
    const state = State.make(http, request, transport, { sanitize: true, inline: false })
    let ready: Effect.Effect<Current, Failure | R> = Effect.succeed(current)
    if (http.settings.open === "eager") ready = Effect.as(persist(state), current)
    if (needsToken(state)) {
      const next = ready
      ready = Effect.flatMap(
        tokenAccepted(state),
        (accepted) => accepted ? next : Effect.fail(refuse("Token"))
      )
    }
    return Effect.zipRight(FiberRef.set(State.ref, state), ready)
  })
