/**
 * One application instance for the SQL multi-process tests: a session manager over a SQL store
 * chosen by the environment, as the demo chooses it (`DATABASE_URL` with `SESSION_SQL_PREFIX`:
 * PostgreSQL; `SESSION_SQLITE`: SQLite), read through the stores' `layerConfig`. Driven over stdin
 * and stdout with JSON lines (`{ id, op, ... }` in, `{ id, ok, value | error | defect }` out);
 * `MANAGER_OPTIONS` is JSON of `SessionManager.Options`. Logs go to stderr.
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Redacted } from "effect"
import { AuthManager, Session, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { managerRuntime, serve } from "../support/worker.js"

const runtime = managerRuntime(
  process.env.SESSION_SQLITE !== undefined ? SqliteStore.layerConfig() : PgStore.layerConfig()
)

type Command = Partial<Record<"user" | "token", string>> & { readonly op: string; readonly value?: Session.Json }

const Note = Session.dataKey("note", Session.Json)
const ref = (token: string) => ({ key: SessionToken.hash(token), token: Redacted.make(token) })
const shown = (session: Session.Session) => ({
  key: session.key,
  token: session.token === undefined ? undefined : Redacted.value(session.token),
  principal: session.principal.id,
  data: session.data
})

const handle = (command: Command): Effect.Effect<unknown, unknown, any> => {
  const token = command.token ?? ""
  switch (command.op) {
    case "open":
      return Effect.map(
        SessionManager.openSession(
          HttpServerRequest.fromWeb(
            new Request("http://localhost/", { headers: command.user === undefined ? {} : { "x-user": command.user } })
          )
        ),
        shown
      )
    case "get":
      return Effect.map(
        SessionManager.getSession(HttpServerRequest.fromWeb(new Request("http://localhost/")), token),
        shown
      )
    case "setNote":
      return Effect.map(SessionManager.setData(ref(token), Note, command.value ?? null), shown)
    case "rotate":
      return Effect.map(SessionManager.rotateSession(ref(token)), shown)
    case "close":
      return SessionManager.closeSession(ref(token))
    case "closeAllOf":
      return SessionManager.closeAllOf(command.user ?? "")
    case "released":
      return Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released)
    case "count":
      return Effect.flatMap(SessionStore.SessionStore, (s) => s.count)
    default:
      return Effect.die(new Error(`unknown op ${command.op}`))
  }
}

serve(runtime, (command) => handle(command as Command))
