/**
 * Diagnostic: OURS without HttpSession: a hand-written middleware on `SessionManager` (cookie read
 * from the header, getSession or openSession, updateData, Set-Cookie only for a new session). The
 * difference with `ours` is what HttpSession adds.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthManager from "effect-session/AuthManager"
import * as Session from "effect-session/Session"
import { SessionLive } from "effect-session/SessionLive"
import { SessionManager } from "effect-session/SessionManager"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"

const Counter = Session.dataKey("counter", Schema.Number)

export const start = (port: number) => {
  const handler = Effect.gen(function*() {
    const manager = yield* SessionManager
    const request = yield* HttpServerRequest.HttpServerRequest
    const token = /(?:^|;\s*)sid=([^;]*)/.exec(request.headers["cookie"] ?? "")?.[1]
    const found = token === undefined
      ? Option.none<Session.Session>()
      : Option.getRight(yield* Effect.either(manager.getSession(request, token)))
    const session = Option.isSome(found) ? found.value : yield* manager.openSession(request)
    const updated = yield* manager.updateData(session, Counter, (n) => Option.getOrElse(n, () => 0) + 1)
    const response = HttpServerResponse.text(String(updated.data.counter))
    return Option.isSome(found) ? response : HttpServerResponse.unsafeSetCookie(
      response,
      "sid",
      Redacted.value(session.token!),
      { path: "/", httpOnly: true, sameSite: "lax", maxAge: "30 minutes" }
    )
  }).pipe(Effect.orDie)
  const router = HttpRouter.empty.pipe(HttpRouter.get("/", handler))
  const app = router.pipe(
    HttpServer.serve(),
    Layer.provide(
      SessionLive.pipe(
        Layer.provide(AuthManager.layer({ authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true }) }))
      )
    ),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  Effect.runFork(Layer.launch(app))
}
