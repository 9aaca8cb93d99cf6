/**
 * Diagnostic: OURS exactly as in ours.ts, with the tracer disabled for the whole server: no HTTP
 * span and none of the library's spans.
 */
import { startOurs } from "./ours.js"

export const start = (port: number) => startOurs(port, { traced: false })
