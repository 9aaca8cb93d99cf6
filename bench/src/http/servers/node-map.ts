/**
 * Plain `node:http` with a `Map` of sessions: the floor of what a session costs.
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"

interface Entry {
  counter: number
  lastUsedAt: number
}

const IDLE_MS = 30 * 60_000

export const start = (port: number) => {
  const sessions = new Map<string, Entry>()
  createServer((req, res) => {
    const header = req.headers.cookie ?? ""
    const match = /(?:^|;\s*)sid=([^;]*)/.exec(header)
    const now = Date.now()
    let sid = match?.[1]
    let entry = sid === undefined ? undefined : sessions.get(sid)
    if (entry !== undefined && entry.lastUsedAt <= now - IDLE_MS) {
      sessions.delete(sid!)
      entry = undefined
    }
    if (entry === undefined) {
      sid = randomBytes(32).toString("base64url")
      entry = { counter: 0, lastUsedAt: now }
      sessions.set(sid, entry)
      res.setHeader("set-cookie", `sid=${sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age=1800`)
    }
    entry.lastUsedAt = now
    entry.counter++
    res.setHeader("content-type", "text/plain")
    res.end(String(entry.counter))
  }).listen(port, "127.0.0.1")
}
