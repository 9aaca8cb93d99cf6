/**
 * Data rules everywhere, and immutability: what the auth manager answers (a principal, a
 * `validateSession` replacement) and what `openSessionFor` is given are held to the rules of
 * `setData` before any store sees them; a violation is a typed failure, never a defect, and the
 * stored session is left as it was. Sessions handed out are frozen: mutating one throws and never
 * changes the store or its indexes. (The model-based suite checks replacements on every store.)
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import { AuthManager, Session, SessionManager, SessionStore } from "effect-session"
import { managerLayer, request } from "./support.js"

const Visits = Session.dataKey("visits", Schema.Number)

const cyclic = () => {
  const value: { self?: unknown } = {}
  value.self = value
  return value
}
let deep: unknown = 1
for (let i = 0; i < 100_000; i++) deep = [deep]

const notJson: ReadonlyArray<readonly [string, () => unknown]> = [
  ["a BigInt", () => BigInt(1)],
  ["a Date", () => new Date(0)],
  ["a function", () => () => 1],
  ["NaN", () => Number.NaN],
  ["a Map", () => new Map()],
  ["a cycle", cyclic],
  ["100k levels of nesting", () => deep]
]

describe("validateSession replacements are held to the data rules", () => {
  for (const [name, make] of notJson) {
    it.effect(`a replacement whose data holds ${name} fails typed; the session is left as it was`, () =>
      Effect.gen(function*() {
        const mock = yield* AuthManager.MockAuthManager
        const opened = yield* SessionManager.openSession(request("alice"))
        yield* SessionManager.setData(opened, Visits, 1)
        yield* mock.setReplaceSession((session) => ({ ...session, data: { ...session.data, bad: make() as never } }))
        const exit = yield* Effect.exit(SessionManager.getSession(request(), opened.token!))
        expect(exit).toMatchObject({
          _tag: "Failure",
          cause: { error: { _tag: "AuthManagerError", operation: "validateSession", reason: "Invalid" } }
        })
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        expect(JSON.stringify(error)).toContain("bad")
        yield* mock.setReplaceSession(() => undefined)
        const still = yield* SessionManager.getSession(request(), opened.token!)
        expect(still.data).toEqual({ visits: 1 })
        expect(yield* SessionManager.currentSessions).toHaveLength(1)
      }).pipe(Effect.provide(managerLayer())))
  }

  it.effect("a replacement whose principal holds something that is not JSON fails the same way", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* mock.setReplaceSession((session) => ({
        ...session,
        principal: { id: "alice", anonymous: false, attributes: { since: new Date(0) as never } }
      }))
      const error = yield* Effect.flip(SessionManager.getSession(request(), opened.token!))
      expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "validateSession", reason: "Invalid" })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a valid replacement is copied and frozen: the auth manager's object stays its own", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request("alice"))
      const given = { list: [1] }
      yield* mock.setReplaceSession((session) => ({ ...session, data: { given } }))
      const replaced = yield* SessionManager.getSession(request(), opened.token!)
      yield* mock.setReplaceSession(() => undefined)
      given.list.push(2)
      const read = yield* SessionManager.getSession(request(), replaced.token!)
      expect(read.data).toEqual({ given: { list: [1] } })
    }).pipe(Effect.provide(managerLayer())))
})

describe("what the auth manager and the caller hand in is checked", () => {
  it.effect("authenticate answering a principal that is not JSON: AuthManagerError Invalid, nothing stored", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SessionManager.openSession(request()))
      expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "authenticate", reason: "Invalid" })
      expect(yield* SessionManager.currentSessions).toEqual([])
    }).pipe(Effect.provide(
      SessionManager.layer({ sweepInterval: "off" }).pipe(
        Layer.provide(SessionStore.layerMemory),
        Layer.provide(AuthManager.layer({
          authenticate: () => Effect.succeed({ id: "alice", anonymous: false, attributes: { n: BigInt(1) as never } })
        }))
      )
    )))

  it.effect("openSessionFor: initial data and principals held to the rules (SessionDataError NotJson)", () =>
    Effect.gen(function*() {
      const data = yield* Effect.flip(
        SessionManager.openSessionFor({ id: "alice", anonymous: false }, { data: { when: new Date(0) as never } })
      )
      expect(data).toMatchObject({ _tag: "SessionDataError", key: "when", reason: "NotJson" })
      const principal = yield* Effect.flip(
        SessionManager.openSessionFor({ id: "alice", anonymous: false, attributes: { f: (() => 1) as never } })
      )
      expect(principal).toMatchObject({ _tag: "SessionDataError", key: "principal", reason: "NotJson" })
      expect(yield* SessionManager.currentSessions).toEqual([])
      const opened = yield* SessionManager.openSessionFor({ id: "alice", anonymous: false }, { data: { visits: 2 } })
      expect(yield* SessionManager.getData(opened, Visits)).toEqual(Option.some(2))
    }).pipe(Effect.provide(managerLayer())))

  it.effect("rotateSession to a principal that is not JSON: a typed failure before any store access", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const error = yield* Effect.flip(
        SessionManager.rotateSession(opened, { principal: { id: 1 as never, anonymous: false } })
      )
      expect(error).toMatchObject({ _tag: "SessionStoreError", reason: "Corrupt", operation: "rotateSession" })
      yield* SessionManager.getSession(request(), opened.token!)
    }).pipe(Effect.provide(managerLayer())))
})

describe("sessions handed out are immutable", () => {
  const attempts = (session: Session.Session) => [
    () => {
      ;(session as { key: string }).key = "other"
    },
    () => {
      ;(session.principal as { id: string }).id = "mallory"
    },
    () => {
      ;(session.data as { [key: string]: unknown }).visits = 99
    },
    () => {
      ;(session.data as { cart: Array<string> }).cart.push("stolen")
    }
  ]

  it.effect("every session the manager hands out is frozen; the store and its indexes are unchanged", () =>
    Effect.gen(function*() {
      const Cart = Session.dataKey("cart", Schema.Array(Schema.String))
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* SessionManager.setData(opened, Visits, 1)
      const written = yield* SessionManager.setData(opened, Cart, ["book"])
      const read = yield* SessionManager.getSession(request(), opened.token!)
      const { session: looked } = yield* SessionManager.lookupSession(request(), opened.token!)
      const [listed] = yield* SessionManager.sessionsOf("alice")
      const [current] = yield* SessionManager.currentSessions
      for (const session of [written, read, looked, listed, current]) {
        for (const attempt of attempts(session)) expect(attempt).toThrow(TypeError)
      }
      const fresh = yield* SessionManager.openSession(request("bob"))
      expect(attempts(fresh)[0]).toThrow(TypeError)
      expect(attempts(fresh)[1]).toThrow(TypeError)
      const after = yield* SessionManager.getSession(request(), opened.token!)
      expect(after).toMatchObject({ key: opened.key, principal: { id: "alice" }, data: { visits: 1, cart: ["book"] } })
      // the principal index still works: listing and revocation
      expect((yield* SessionManager.sessionsOf("alice")).map((s) => s.key)).toEqual([opened.key])
      expect(yield* SessionManager.sessionsOf("mallory")).toEqual([])
      expect(yield* SessionManager.closeAllOf("alice")).toEqual({ closed: 1, failures: [] })
    }).pipe(Effect.provide(managerLayer())))

  it.effect("a session looked up carries the token presented: the same Redacted, or one made from the string", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      const read = yield* SessionManager.getSession(request(), opened.token!)
      expect(read.token).toBe(opened.token)
      const byString = yield* SessionManager.getSession(request(), Redacted.value(opened.token!))
      expect(Redacted.value(byString.token!)).toBe(Redacted.value(opened.token!))
      expect(String(byString.token)).toBe("<redacted>")
    }).pipe(Effect.provide(managerLayer())))
})
