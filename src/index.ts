/**
 * Server-side web sessions for Effect: every module of the library as a namespace, and the
 * `SessionLive` layer. Each module is also its own entry point (`effect-session/SessionManager`).
 *
 * @since 0.1.0
 */

/**
 * Who a request is: the authentication manager service, its layers and a mock for tests.
 *
 * @since 0.1.0
 */
export * as AuthManager from "./AuthManager.js"

/**
 * Sessions over `@effect/platform` HTTP: the middleware, the session cookie, login and logout.
 *
 * @since 0.1.0
 */
export * as HttpSession from "./HttpSession.js"

/**
 * The session model, its principal and typed session data keys.
 *
 * @since 0.1.0
 */
export * as Session from "./Session.js"

/**
 * The typed errors of the library, with their HTTP statuses.
 *
 * @since 0.1.0
 */
export * as SessionError from "./SessionError.js"

/**
 * Open, look up, rotate, close and sweep sessions; options, events and metrics.
 *
 * @since 0.1.0
 */
export * as SessionManager from "./SessionManager.js"

/**
 * The store contract and the in-memory store.
 *
 * @since 0.1.0
 */
export * as SessionStore from "./SessionStore.js"

/**
 * Session tokens: generation, format check and the hashed store key.
 *
 * @since 0.1.0
 */
export * as SessionToken from "./SessionToken.js"

export {
  /**
   * The session manager with its defaults on the in-memory store; needs only an `AuthManager`.
   *
   * @since 0.1.0
   * @category layers
   */
  SessionLive
} from "./SessionLive.js"
