/**
 * Diagnostic: OURS as in ours.ts with `rolling: false`: the cookie is written only when the token
 * changes, not on every response (express-session's default).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"
import * as AuthManager from "../../../../src/AuthManager.js"
import * as HttpSession from "../../../../src/HttpSession.js"
import * as Session from "../../../../src/Session.js"
import { SessionLive } from "../../../../src/SessionLive.js"

const Counter = Session.dataKey("counter", Schema.Number)

export const start = (port: number) => {
  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/",
      Effect.map(
        HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1),
        (session) => HttpServerResponse.text(String(session.data.counter))
      )
    ),
    HttpRouter.use(HttpSession.middleware)
  )
  const sessions = HttpSession.layer({ cookie: { secure: false }, rolling: false }).pipe(
    Layer.provideMerge(SessionLive),
    Layer.provide(AuthManager.layer({ authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true }) }))
  )
  const app = router.pipe(
    HttpServer.serve(),
    Layer.provide(sessions),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  Effect.runFork(Layer.launch(app))
}
