/**
 * Huge and hostile session data (I6): a 10 MB value, 100k keys, nesting 100k levels deep, cycles,
 * values that are not JSON. Each is a typed outcome (stored, or `SessionDataError`), never a crash;
 * the store and the session are left as they were on refusal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Schema } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as SessionModule, SessionManager, SessionStore } from "effect-session"
import { describeExit, heapAfterGc, request } from "./support.js"

const MB = 1024 * 1024

const setup = () =>
  SessionManager.layer({ sweepInterval: "off" }).pipe(
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provideMerge(AuthManager.layer({ authenticate: () => Effect.succeed(AuthManager.anonymous) }))
  )
const anonymousRequest = request()

/** `n` levels of nesting: arrays or objects around a number. */
const nested = (n: number, kind: "array" | "object"): unknown => {
  let value: unknown = 1
  for (let i = 0; i < n; i++) value = kind === "array" ? [value] : { v: value }
  return value
}

describe("Session.encode and Session.decode bound nesting before any schema runs", () => {
  const Anything = SessionModule.dataKey("anything", SessionModule.Json)
  const encoded = (value: unknown) =>
    describeExit(Effect.runSyncExit(SessionModule.encode(Anything, value as Session.Json)))
  const decoded = (value: unknown) => describeExit(Effect.runSyncExit(SessionModule.decode(Anything, value)))

  it("64 levels are data; 65 are refused, from both sides, for arrays and objects", () => {
    for (const kind of ["array", "object"] as const) {
      expect(encoded(nested(64, kind))).toBe("ok")
      expect(encoded(nested(65, kind))).toBe("SessionDataError:NotJson")
      expect(decoded(nested(64, kind))).toBe("ok")
      expect(decoded(nested(65, kind))).toBe("SessionDataError:Decode")
    }
  })

  it("hostile depths (100k levels) and cycles are typed refusals, not stack overflows", () => {
    expect(encoded(nested(100_000, "array"))).toBe("SessionDataError:NotJson")
    expect(decoded(nested(100_000, "object"))).toBe("SessionDataError:Decode")
    const cyclic: { items: Array<unknown> } = { items: [] }
    cyclic.items.push(cyclic)
    expect(encoded(cyclic)).toBe("SessionDataError:NotJson")
    expect(decoded(cyclic)).toBe("SessionDataError:Decode")
  })

  it("a shared (not cyclic) sub-value is still data", () => {
    const shared = nested(40, "object")
    expect(encoded({ a: shared, b: [shared, shared] })).toBe("ok")
  })
})

describe("huge and hostile session data", () => {
  const Blob = SessionModule.dataKey("blob", Schema.String)
  const Anything = SessionModule.dataKey("anything", SessionModule.Json)

  it.live("a 10 MB value is stored and read back (a typed success), and its memory is returned on close", () => {
    return Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      const session = yield* manager.openSession(anonymousRequest)
      const before = heapAfterGc()
      const written = yield* Effect.exit(manager.setData(session, Blob, "x".repeat(10 * MB)))
      expect(describeExit(written)).toBe("ok")
      const read = yield* manager.getData(session, Blob)
      expect(Option.map(read, (value) => value.length)).toEqual(Option.some(10 * MB))
      const updated = yield* Effect.exit(
        manager.updateData(session, Blob, (value) => Option.getOrElse(value, () => "") + "y")
      )
      expect(describeExit(updated)).toBe("ok")
      yield* manager.closeSession(session)
      expect(heapAfterGc() - before).toBeLessThan(2 * MB)
    }).pipe(Effect.provide(setup()))
  }, 60_000)

  it.live("100k keys in one session's data: typed success", () => {
    return Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      const session = yield* manager.openSession(anonymousRequest)
      const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))
      expect(describeExit(yield* Effect.exit(manager.setData(session, Anything, wide)))).toBe("ok")
      const read = yield* manager.getData(session, Anything)
      expect(Object.keys(Option.getOrThrow(read) as object)).toHaveLength(100_000)
    }).pipe(Effect.provide(setup()))
  }, 60_000)

  for (
    const [name, make] of [
      ["100k levels of nested arrays", () => nested(100_000, "array")],
      ["100k levels of nested objects", () => nested(100_000, "object")],
      ["a cyclic object", () => {
        const value: { self?: unknown } = {}
        value.self = value
        return value
      }],
      ["a non-finite number", () => ({ n: Number.NaN })],
      ["a function", () => ({ f: () => 1 })]
    ] as const
  ) {
    it.live(`${name} is refused with a typed SessionDataError, never a crash`, () => {
      return Effect.gen(function*() {
        const manager = yield* SessionManager.SessionManager
        const session = yield* manager.openSession(anonymousRequest)
        const exit = yield* Effect.exit(manager.setData(session, Anything, make() as Session.Json))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(describeExit(exit)).toMatch(/^SessionDataError:(NotJson|Encode)$/)
        // the session is untouched and still works
        expect(yield* manager.getData(session, Anything)).toEqual(Option.none())
      }).pipe(Effect.provide(setup()))
    })
  }
})
