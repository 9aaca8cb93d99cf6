/**
 * Data never crosses principals (I9): a rotation that changes the principal starts with empty data
 * unless the caller names what to carry; a rotation that keeps it keeps every key.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Session, SessionManager } from "effect-session"
import { managerLayer, request } from "./support.js"

const Visits = Session.dataKey("visits", Schema.Number)
const Cart = Session.dataKey("cart", Schema.Array(Schema.String))
const MfaPassed = Session.dataKey("mfaPassed", Schema.Boolean)

const alice: Session.Principal = { id: "alice", anonymous: false }
const bob: Session.Principal = { id: "bob", anonymous: false }

// A session holding a visit count, a cart and a flag that must never carry over to someone else.
const withData = (user?: string) =>
  Effect.gen(function*() {
    const opened = yield* SessionManager.openSession(request(user))
    yield* SessionManager.setData(opened, Visits, 3)
    yield* SessionManager.setData(opened, Cart, ["book"])
    return yield* SessionManager.setData(opened, MfaPassed, true)
  })

describe("a change of principal starts clean", () => {
  it.effect("anonymous to signed in, without keep: nothing carries over", () =>
    Effect.gen(function*() {
      const before = yield* withData()
      const after = yield* SessionManager.rotateSession(before, { principal: alice })
      expect(after.data).toEqual({})
      expect(yield* SessionManager.getData(after, Visits)).toEqual(Option.none())
    }).pipe(Effect.provide(managerLayer())))

  it.effect("with keep: exactly the named keys carry over (names it does not hold are ignored)", () =>
    Effect.gen(function*() {
      const before = yield* withData()
      const after = yield* SessionManager.rotateSession(before, { principal: alice, keep: ["cart", "absent"] })
      expect(after.data).toEqual({ cart: ["book"] })
      const read = yield* SessionManager.getSession(request(), after.token!)
      expect(read.data).toEqual({ cart: ["book"] })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("one user to another (Alice's browser, Bob logs in): Alice's data never reaches Bob", () =>
    Effect.gen(function*() {
      const alices = yield* withData("alice")
      const bobs = yield* SessionManager.rotateSession(alices, { principal: bob })
      expect(bobs.principal.id).toBe("bob")
      expect(bobs.data).toEqual({})
      expect(yield* SessionManager.getData(bobs, MfaPassed)).toEqual(Option.none())
    }).pipe(Effect.provide(managerLayer())))

  it.effect("signed in to anonymous (a logout that keeps the session) starts clean too", () =>
    Effect.gen(function*() {
      const alices = yield* withData("alice")
      const anonymous = yield* SessionManager.rotateSession(alices, { principal: { id: "anonymous", anonymous: true } })
      expect(anonymous.data).toEqual({})
    }).pipe(Effect.provide(managerLayer())))

  it.effect("the same principal (a rotation, or a login as who already holds the session) keeps every key", () =>
    Effect.gen(function*() {
      const alices = yield* withData("alice")
      const rotated = yield* SessionManager.rotateSession(alices)
      expect(rotated.data).toEqual({ visits: 3, cart: ["book"], mfaPassed: true })
      // keep only matters when the principal changes
      const again = yield* SessionManager.rotateSession(rotated, { principal: alice, keep: [] })
      expect(again.data).toEqual({ visits: 3, cart: ["book"], mfaPassed: true })
      expect(again.createdAt).toBe(alices.createdAt)
    }).pipe(Effect.provide(managerLayer())))

  it.effect("keep is read in the same step as the rotation: a write racing the login is kept or dropped whole", () =>
    Effect.gen(function*() {
      const before = yield* withData()
      const [, after] = yield* Effect.all([
        Effect.exit(SessionManager.setData(before, Cart, ["book", "pen"])),
        SessionManager.rotateSession(before, { principal: alice, keep: ["cart"] })
      ], { concurrency: "unbounded" })
      const cart = (after.data as { readonly cart: ReadonlyArray<string> }).cart
      expect([["book"], ["book", "pen"]]).toContainEqual(cart)
      expect(Object.keys(after.data)).toEqual(["cart"])
    }).pipe(Effect.provide(managerLayer())))
})
