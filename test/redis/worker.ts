/**
 * One application instance for the multi-process tests: a session manager over the Redis store,
 * driven over stdin/stdout with JSON lines (`{ id, op, ... }` in, `{ id, ok, value | error }` out).
 * Run with `tsx test/redis/worker.ts`; configured by `REDIS_URL`, `SESSION_REDIS_PREFIX` and
 * `MANAGER_OPTIONS` (JSON of `SessionManager.Options`). Logs go to stderr.
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { AuthManager, Session, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { managerRuntime, serve } from "../support/worker.js"

const url = process.env.REDIS_URL ?? ""
const prefix = process.env.SESSION_REDIS_PREFIX ?? ""

const runtime = managerRuntime(RedisStore.layer({ url, prefix }))

interface Command {
  readonly id: number
  readonly op: string
  readonly user?: string
  readonly token?: string
  readonly name?: string
  readonly value?: Session.Json
}

const request = (user?: string) =>
  HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: user === undefined ? {} : { "x-user": user } }))

const ref = (token: string) => ({ key: SessionToken.hash(token), token: Redacted.make(token) })
const anyKey = (name: string) => Session.dataKey(name, Session.Json)
const described = (session: Session.Session) => ({
  key: session.key,
  token: session.token === undefined ? undefined : Redacted.value(session.token),
  principal: session.principal.id
})

const handle = (command: Command) =>
  Effect.gen(function*() {
    const token = command.token ?? ""
    switch (command.op) {
      case "ping":
        return "pong"
      case "open":
        return described(
          yield* SessionManager.openSession(request(command.user))
        )
      case "get":
        return described(yield* SessionManager.getSession(request(), token))
      case "close":
        return yield* SessionManager.closeSession(ref(token))
      case "rotate":
        return described(yield* SessionManager.rotateSession(ref(token)))
      case "setData":
        return described(yield* SessionManager.setData(ref(token), anyKey(command.name ?? ""), command.value ?? null))
      case "getData":
        return (yield* SessionManager.getData(ref(token), anyKey(command.name ?? ""))).pipe((o) =>
          o._tag === "Some" ? o.value : null
        )
      case "released":
        return yield* Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released)
      case "count":
        return yield* Effect.flatMap(SessionStore.SessionStore, (store) => store.count)
      case "clean":
        return yield* SessionManager.cleanSessions
      default:
        return yield* Effect.die(new Error(`unknown op ${command.op}`))
    }
  })

serve(runtime, (command) => handle(command as Command))
