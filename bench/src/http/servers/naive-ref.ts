/**
 * The session middleware one writes in ten minutes on @effect/platform: a `Ref<HashMap>` of
 * sessions, the cookie read from the header, a random id for newcomers.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"

interface Entry {
  readonly counter: number
  readonly lastUsedAt: number
}

const IDLE_MS = 30 * 60_000

export const start = (port: number) => {
  const sessions = Effect.runSync(Ref.make(HashMap.empty<string, Entry>()))
  const handler = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const now = yield* Clock.currentTimeMillis
    const sid = request.cookies["sid"]
    const found = sid === undefined ? Option.none() : HashMap.get(yield* Ref.get(sessions), sid)
    const live = Option.filter(found, (entry) => entry.lastUsedAt > now - IDLE_MS)
    const id = Option.isSome(live) ? sid! : randomBytes(32).toString("base64url")
    const counter = Option.match(live, { onNone: () => 1, onSome: (entry) => entry.counter + 1 })
    yield* Ref.update(sessions, HashMap.set(id, { counter, lastUsedAt: now }))
    const response = HttpServerResponse.text(String(counter))
    return Option.isSome(live)
      ? response
      : HttpServerResponse.unsafeSetCookie(response, "sid", id, {
        path: "/",
        httpOnly: true,
        sameSite: "lax",
        maxAge: "30 minutes"
      })
  })
  const router = HttpRouter.empty.pipe(HttpRouter.get("/", handler))
  const app = router.pipe(
    HttpServer.serve(),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  Effect.runFork(Layer.launch(app))
}
