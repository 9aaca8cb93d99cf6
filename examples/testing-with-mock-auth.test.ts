/**
 * How to test your own code that uses sessions: provide `SessionLive` with the mock auth manager,
 * drive time with `TestClock`, assert on typed errors with `Effect.flip`, and inspect what the
 * auth manager was asked with `MockAuthManager`.
 */
import { HttpServerRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Schema, TestClock } from "effect"
import { AuthManager, Session, SessionLive, SessionManager } from "effect-session"

// --- the code under test: a shopping cart kept in the session -------------------------------
const Cart = Session.dataKey("cart", Schema.Array(Schema.Struct({ sku: Schema.String, qty: Schema.Int })))

const addToCart = (token: string, sku: string) =>
  Effect.gen(function*() {
    const request = HttpServerRequest.fromWeb(new Request("http://shop.test/cart"))
    const session = yield* SessionManager.getSession(request, token)
    const updated = yield* SessionManager.updateData(session, Cart, (cart) => [
      ...Option.getOrElse(cart, () => []),
      { sku, qty: 1 }
    ])
    return updated.data.cart
  })

// --- the tests --------------------------------------------------------------------------------
// The token is Redacted (it prints as "<redacted>"); unwrap it only where a cookie would carry it.
const tokenOf = (session: Session.Session) => Redacted.value(session.token!)

const login = (user: string, password: string) =>
  SessionManager.openSession(
    HttpServerRequest.fromWeb(
      new Request("http://shop.test/login", { headers: { authorization: `Basic ${btoa(`${user}:${password}`)}` } })
    )
  )

const TestLayer = SessionLive.pipe(
  Layer.provideMerge(AuthManager.layerMock({ users: { alice: { password: "wonderland" } }, allowAnonymous: false }))
)

describe("a cart in the session", () => {
  it.effect("keeps items across requests", () =>
    Effect.gen(function*() {
      const session = yield* login("alice", "wonderland")
      yield* addToCart(tokenOf(session), "book")
      const cart = yield* addToCart(tokenOf(session), "pen")
      expect(cart).toEqual([{ sku: "book", qty: 1 }, { sku: "pen", qty: 1 }])
    }).pipe(Effect.provide(TestLayer)))

  it.effect("a wrong password is an ExplicitLogin, and nothing is stored", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(login("alice", "guess"))
      expect(error._tag).toBe("ExplicitLogin")
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(TestLayer)))

  it.effect("the cart is gone after 30 idle minutes (TestClock, not a real wait)", () =>
    Effect.gen(function*() {
      const session = yield* login("alice", "wonderland")
      yield* TestClock.adjust("30 minutes")
      const error = yield* Effect.flip(addToCart(tokenOf(session), "book"))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Expired", limit: "Idle" })
      const mock = yield* AuthManager.MockAuthManager
      expect(yield* mock.released).toEqual([session.key])
    }).pipe(Effect.provide(TestLayer)))

  it.effect("a session your auth manager rejects is closed", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const session = yield* login("alice", "wonderland")
      yield* mock.setRejectSession(() => true)
      const error = yield* Effect.flip(addToCart(tokenOf(session), "book"))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Rejected" })
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(TestLayer)))
})
