/**
 * Diagnostic: bare @effect/platform-node with the tracer disabled for the whole server (no HTTP
 * span): how much of the platform's own cost is its per-request span.
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
  Effect.runFork(Layer.launch(app).pipe(Effect.withTracerEnabled(false)))
}
