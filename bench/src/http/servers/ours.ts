/**
 * OURS: `HttpSession.middleware` on the router, `SessionLive` (default options, memory store,
 * sessions opened on demand), an auth manager that makes everyone anonymous; the handler bumps a
 * typed counter in the session (its first write stores the session and sets the cookie).
 * The diagnostic variants (ours-*.ts) start this same server with one thing changed.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthManager from "effect-session/AuthManager"
import * as HttpSession from "effect-session/HttpSession"
import * as Session from "effect-session/Session"
import { SessionLive } from "effect-session/SessionLive"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createServer } from "node:http"

const Counter = Session.dataKey("counter", Schema.Number)

export interface Variant {
  /** `rolling: false`: the cookie is written only when the token changes. */
  readonly rolling?: boolean
  /** `false`: the tracer is disabled for the whole server (no HTTP span, none of ours). */
  readonly traced?: boolean
  /** The handler only reads the session; its counter lives outside the session. */
  readonly readOnly?: boolean
}

let outside = 0

const bump = Effect.map(
  HttpSession.updateData(Counter, (n) => Option.getOrElse(n, () => 0) + 1),
  (session) => HttpServerResponse.text(String(session.data.counter))
)
// sessions are stored on demand: a visitor without one (the harness' first request) gets it saved,
// so that the measured requests carry a valid cookie and only read
const read = Effect.map(
  Effect.flatMap(
    HttpSession.current,
    (session) => session.token === undefined ? HttpSession.save : Effect.succeed(session)
  ),
  (session) => HttpServerResponse.text(`${++outside} ${session.principal.id}`)
)

export const startOurs = (port: number, variant: Variant) => {
  const router = HttpRouter.empty.pipe(
    HttpRouter.get("/", variant.readOnly === true ? read : bump),
    HttpRouter.use(HttpSession.middleware)
  )
  const sessions = HttpSession.layer({
    cookie: { secure: false },
    ...(variant.rolling === undefined ? {} : { rolling: variant.rolling })
  }).pipe(
    Layer.provideMerge(SessionLive),
    Layer.provide(AuthManager.layer({ authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true }) }))
  )
  const app = router.pipe(
    HttpServer.serve(),
    Layer.provide(sessions),
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )
  const launch = Layer.launch(app)
  Effect.runFork(variant.traced === false ? Effect.withTracerEnabled(launch, false) : launch)
}

export const start = (port: number) => startOurs(port, {})
