/**
 * `SessionLive`: the session manager with its defaults and the in-memory store, ready to provide.
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import type { AuthManager } from "./AuthManager.js"
import * as SessionManager from "./SessionManager.js"
import * as SessionStore from "./SessionStore.js"

/**
 * The session manager with default options on the in-memory store; needs only an `AuthManager`.
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 * import { AuthManager, SessionLive, SessionManager } from "effect-session"
 *
 * const AppLayer = SessionLive.pipe(Layer.provide(AuthManager.layerMock()))
 * const program = Effect.gen(function*() {
 *   const session = yield* SessionManager.openSession(HttpServerRequest.fromWeb(new Request("http://localhost/")))
 *   return session.principal.anonymous
 * })
 * Effect.runPromise(Effect.provide(program, AppLayer)).then(console.log) // true
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const SessionLive: Layer.Layer<SessionManager.SessionManager, never, AuthManager> = SessionManager.layer().pipe(
  Layer.provide(SessionStore.layerMemory),
  // the defaults are valid by construction: this build cannot fail
  Layer.orDie
)
