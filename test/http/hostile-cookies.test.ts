/**
 * Hostile `Cookie` headers as a property (I2, I6), through the real middleware on a real server on
 * loopback (`test/http/support.ts`): random bytes, thousands of pairs, huge values up to Node's
 * header limit, near-miss and prototype names, duplicates. Every request gets a typed outcome and
 * the server never crashes:
 *
 * - 200 with a new session, never stored for a read (the hostile value never names a live
 *   session: I2); the only Set-Cookie is the expiry of a bad session cookie;
 * - 401 when the session cookie appears more than once (cookie tossing, as the reader decides),
 *   with only expiries in Set-Cookie;
 * - 400 or 431 from Node's own parser (bytes or sizes it refuses) before any application code;
 * - never a 5xx, and the live session of a well-behaved client is never served to a hostile one.
 *
 * The reader's linear time is checked once, on the reader itself (`cookie.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import { SessionToken } from "effect-session"
import * as cookie from "../../src/internal/http/cookie.js"
import { cookieValue, json, rawGet, type Reply, serve, serverPort } from "./support.js"

const names = ["sid", "SID", "sid ", " sid", "__proto__", "constructor", "toString", "sid\u00a0", "s\u0130d", "a", "x"]

/** Header values, each under Node's 16 KiB header limit or (on purpose) over it. */
const hostileHeader: fc.Arbitrary<string> = fc.oneof(
  // arbitrary bytes, as latin1 (controls, DEL, high bytes, separators, quotes, percent signs)
  fc.uint8Array({ minLength: 0, maxLength: 2_000 }).map((bytes) =>
    Buffer.from(bytes).toString("latin1").replace(/[\r\n]/g, " ")
  ),
  // many pairs with near-miss, prototype and real names, and values of every shape
  fc.array(
    fc.tuple(
      fc.constantFrom(...names),
      fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.constantFrom("", "\"quoted\"", "%zz%00%", "A".repeat(43), "=", "==", ";"),
        fc.nat().map((n) => SessionToken.hash(String(n)))
      )
    ),
    { minLength: 1, maxLength: 1_500 }
  ).map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join("; ").replace(/[\r\n]/g, " ")),
  // one huge value, up to and beyond the limit
  fc.tuple(fc.constantFrom(...names), fc.integer({ min: 1_000, max: 17_000 }), fc.constantFrom("A", "=", ";", "%", " "))
    .map(([name, size, char]) => `${name}=${char.repeat(size)}`),
  // separators only
  fc.tuple(fc.constantFrom(";", "=", "; ", "=;", " \t"), fc.integer({ min: 1, max: 8_000 })).map(([unit, n]) =>
    unit.repeat(n)
  )
)

/** Every Set-Cookie line of the reply expires the session cookie (none sets a token). */
const onlyExpiries = (reply: Reply) =>
  reply.setCookies.every((line) => line.startsWith("sid=;") && line.includes("Max-Age=0"))

describe("hostile Cookie headers through the real middleware", () => {
  it.effect(
    "every header gets a typed outcome; no crash, no 5xx, no live session served",
    () =>
      Effect.gen(function*() {
        const port = yield* serverPort
        // a well-behaved client's live session
        const first = yield* rawGet(port, "/save", undefined)
        const live = cookieValue(first)!
        expect(SessionToken.isWellFormed(live)).toBe(true)
        const liveId = json<{ id: string }>(first).id
        const outcomes = new Map<number, number>()
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(hostileHeader, async (header) => {
              const reply = await Effect.runPromise(rawGet(port, "/", header))
              outcomes.set(reply.status, (outcomes.get(reply.status) ?? 0) + 1)
              const read = cookie.lookup(header, "sid")
              switch (reply.status) {
                case 200: {
                  const body = json<{ id: string; opened: boolean; stored: boolean }>(reply)
                  // a new session every time, not stored: nothing hostile is ever adopted or served
                  if (!body.opened || body.stored || body.id === liveId) return false
                  return onlyExpiries(reply) && read._tag !== "Ambiguous"
                }
                case 401:
                  // only for a duplicated session cookie, whose addressable copy is expired
                  return read._tag === "Ambiguous" && reply.setCookies.length === 1 && onlyExpiries(reply)
                case 400:
                case 431:
                  // refused by Node's HTTP parser (invalid bytes, or over its header size limit)
                  return true
                default:
                  return false
              }
            }),
            { numRuns: 150 }
          )
        )
        // the server is still up, and the live session still works
        const again = yield* rawGet(port, "/", `sid=${live}`)
        expect(again.status).toBe(200)
        expect(json<{ id: string; opened: boolean }>(again)).toMatchObject({ id: liveId, opened: false })
        // the property met each family of outcome at least once
        expect(outcomes.get(200) ?? 0).toBeGreaterThan(0)
        expect((outcomes.get(400) ?? 0) + (outcomes.get(431) ?? 0)).toBeGreaterThan(0)
      }).pipe(Effect.provide(serve())),
    60_000
  )

  it.effect(
    "duplicates, prototype names and near misses around a live token never serve it wrongly",
    () =>
      Effect.gen(function*() {
        const port = yield* serverPort
        const first = yield* rawGet(port, "/save", undefined)
        const live = cookieValue(first)!
        const liveId = json<{ id: string }>(first).id
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(fc.tuple(fc.constantFrom(...names), fc.boolean()), { minLength: 1, maxLength: 30 }),
              async (pairs) => {
                const header = pairs.map(([name, real]) => `${name}=${real ? live : "junk"}`).join("; ")
                const reply = await Effect.runPromise(rawGet(port, "/", header))
                // RFC 6265: only SP and HTAB around a name are whitespace (not NBSP, not case)
                const exact = pairs.filter(([name]) => name.replace(/^[ \t]+|[ \t]+$/g, "") === "sid")
                if (exact.length > 1) return reply.status === 401 && onlyExpiries(reply)
                const servedLive = reply.status === 200 && json<{ id: string }>(reply).id === liveId
                // served as the live session exactly when the session cookie appears once, with the live token
                return reply.status === 200 && servedLive === (exact.length === 1 && exact[0][1])
              }
            ),
            { numRuns: 100 }
          )
        )
      }).pipe(Effect.provide(serve())),
    60_000
  )
})
