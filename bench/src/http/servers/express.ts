/**
 * express 4 + express-session with its default `MemoryStore`.
 */
import express from "express"
import session from "express-session"

declare module "express-session" {
  interface SessionData {
    counter: number
  }
}

export const start = (port: number) => {
  const app = express()
  app.use(
    session({
      secret: "a secret with minimum length of 32 characters",
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 30 * 60_000, sameSite: "lax" }
    })
  )
  app.get("/", (req, res) => {
    req.session.counter = (req.session.counter ?? 0) + 1
    res.type("text/plain").send(String(req.session.counter))
  })
  app.listen(port, "127.0.0.1")
}
