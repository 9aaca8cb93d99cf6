/**
 * Bare `@effect/platform-node`: `HttpRouter` + `NodeHttpServer`, no session. The reference the
 * session layers are measured against.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createServer } from "node:http"

let counter = 0

export const start = (port: number) => {
  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/", Effect.sync(() => HttpServerResponse.text(String(++counter))))
  )
  const app = router.pipe(
    HttpServer.serve(),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  Effect.runFork(Layer.launch(app))
}
