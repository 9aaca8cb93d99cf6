/**
 * Diagnostic: OURS with the handler only reading the session (`HttpSession.current`), no data
 * write: the cost of the middleware alone (getSession, cookie, headers).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"
import * as AuthManager from "../../../../src/AuthManager.js"
import * as HttpSession from "../../../../src/HttpSession.js"
import { SessionLive } from "../../../../src/SessionLive.js"

let counter = 0

export const start = (port: number) => {
  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/",
      // the counter lives outside the session here: the session is only read
      Effect.map(HttpSession.current, (session) => HttpServerResponse.text(`${++counter} ${session.principal.id}`))
    ),
    HttpRouter.use(HttpSession.middleware)
  )
  const sessions = HttpSession.layer({ cookie: { secure: false } }).pipe(
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
