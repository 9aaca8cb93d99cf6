/**
 * Diagnostic: OURS as in ours.ts with `rolling: false`: the cookie is written only when the token
 * changes, not on every response (express-session's default).
 */
import { startOurs } from "./ours.js"

export const start = (port: number) => startOurs(port, { rolling: false })
