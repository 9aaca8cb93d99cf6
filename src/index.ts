/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AuthManager from "./AuthManager.js"

/**
 * @since 0.1.0
 */
export * as HttpSession from "./HttpSession.js"

/**
 * @since 0.1.0
 */
export * as Session from "./Session.js"

/**
 * @since 0.1.0
 */
export * as SessionError from "./SessionError.js"

/**
 * @since 0.1.0
 */
export * as SessionManager from "./SessionManager.js"

/**
 * @since 0.1.0
 */
export * as SessionStore from "./SessionStore.js"

/**
 * @since 0.1.0
 */
export * as SessionToken from "./SessionToken.js"

/**
 * @since 0.1.0
 */
export { SessionLive } from "./SessionLive.js"
