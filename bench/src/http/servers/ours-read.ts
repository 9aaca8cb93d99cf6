/**
 * Diagnostic: OURS with the handler only reading the session (`HttpSession.current`), no data
 * write: the cost of the middleware alone (getSession, cookie, headers).
 */
import { startOurs } from "./ours.js"

export const start = (port: number) => startOurs(port, { readOnly: true })
