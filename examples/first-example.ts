/**
 * The first example of the README, kept identical to it (npm run examples checks).
 *
 *   npx tsx examples/first-example.ts
 */
import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Option, Schema } from "effect"
import { AuthManager, Session, SessionLive, SessionManager } from "effect-session"

const Visits = Session.dataKey("visits", Schema.Number)

// Your authentication: turn a request into a principal, or ask for a login.
const AuthLive = AuthManager.layer({
  authenticate: (request) => {
    const user = request.headers["x-user"]
    return user === undefined
      ? Effect.succeed({ id: "anonymous", anonymous: true })
      : Effect.succeed({ id: user, anonymous: false })
  }
})

const handle = (request: HttpServerRequest.HttpServerRequest, token: string | undefined) =>
  Effect.gen(function*() {
    const session = token === undefined
      ? yield* SessionManager.openSession(request)
      : yield* SessionManager.getSession(request, token) // InvalidSession: Malformed | Unknown | Expired | Rejected
    const updated = yield* SessionManager.updateData(session, Visits, (n) => Option.getOrElse(n, () => 0) + 1)
    return `${updated.principal.id}: visit ${updated.data.visits}`
  })

const program = handle(HttpServerRequest.fromWeb(new Request("http://localhost/")), undefined)
Effect.runPromise(program.pipe(Effect.provide(SessionLive.pipe(Layer.provide(AuthLive))))).then(console.log)
// anonymous: visit 1
