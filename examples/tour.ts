/**
 * A tour of effect-session on the in-memory store: open, look up, expire and close sessions,
 * about 24 hours of sessions' lives driven by `TestClock`.
 *
 *   npm run tour
 */
import { HttpServerRequest } from "@effect/platform"
import { Console, Effect, Layer, Option, Redacted, Schema, TestClock, TestContext } from "effect"
import { AuthManager, Session, SessionLive, SessionManager } from "effect-session"

// Who is asking: the mock auth manager reads `x-user` (or HTTP Basic) and knows two users.
const requestAs = (user?: string) =>
  HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: user === undefined ? {} : { "x-user": user } }))

// Typed session data: a schema per key, checked on the way in and on the way out.
const Visits = Session.dataKey("visits", Schema.Number)

const tour = Effect.gen(function*() {
  // 1. Open: the auth manager decides who it is; the token is 256 random bits, the store keeps its SHA-256.
  const alice = yield* SessionManager.openSession(requestAs("alice"))
  yield* Console.log(`opened ${Session.shortId(alice)} for ${alice.principal.id} (token: ${alice.token})`)

  // 2. Use: every lookup validates and touches the session (sliding idle timeout).
  for (let day = 0; day < 3; day++) {
    yield* TestClock.adjust("20 minutes")
    const session = yield* SessionManager.getSession(requestAs(), alice.token!)
    const updated = yield* SessionManager.updateData(session, Visits, (n) => Option.getOrElse(n, () => 0) + 1)
    yield* Console.log(`visit ${updated.data.visits} at +${(updated.lastUsedAt - alice.createdAt) / 60_000} min`)
  }

  // 3. Log in from an anonymous session: rotate the token to the new principal (no fixation).
  const anonymous = yield* SessionManager.openSession(requestAs())
  const bob = yield* SessionManager.rotateSession(anonymous, { principal: { id: "bob", anonymous: false } })
  const old = yield* Effect.flip(SessionManager.getSession(requestAs(), anonymous.token!))
  yield* Console.log(`bob logged in as ${Session.shortId(bob)}; the anonymous token now fails: ${old._tag}`)

  // 4. Expire: 30 idle minutes later bob's session is gone, and the reason is a value.
  yield* TestClock.adjust("29 minutes")
  yield* SessionManager.getSession(requestAs(), alice.token!)
  yield* TestClock.adjust("2 minutes")
  const expired = yield* Effect.flip(SessionManager.getSession(requestAs(), bob.token!))
  yield* Console.log(`bob after 31 idle minutes: ${expired.message}`)

  // 5. Even an active session ends at its absolute lifetime (24 hours by default).
  const lifetime = yield* SessionManager.getSession(requestAs(), Redacted.value(alice.token!)).pipe(
    Effect.zipLeft(Effect.repeatN(
      Effect.zipRight(TestClock.adjust("25 minutes"), SessionManager.getSession(requestAs(), alice.token!)),
      60
    )),
    Effect.flip
  )
  yield* Console.log(`alice, active all day: ${lifetime.message}`)

  // 6. Close is idempotent; the background sweep (every minute by default) removes idle visitors.
  const carol = yield* SessionManager.openSession(requestAs("carol"))
  yield* SessionManager.closeSession(carol)
  yield* SessionManager.closeSession(carol)
  yield* SessionManager.openSession(requestAs())
  yield* TestClock.adjust("3 minutes")
  yield* Console.log(`live sessions after the sweep: ${(yield* SessionManager.currentSessions).length}`)

  // What the auth manager saw: every session released exactly once, whoever closed it.
  const mock = yield* AuthManager.MockAuthManager
  yield* Console.log(`released: ${(yield* mock.released).length} sessions`)
})

const AppLayer = SessionLive.pipe(
  Layer.provideMerge(AuthManager.layerMock({ users: { alice: {}, bob: {}, carol: {} } }))
)

Effect.runPromise(tour.pipe(Effect.provide(AppLayer), Effect.provide(TestContext.TestContext))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
