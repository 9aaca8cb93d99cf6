/**
 * Login floods, bounded in time (I4, I5): 10k logins of one principal against
 * `maxSessionsPerPrincipal`, by opening and by rotating anonymous sessions, with eviction and with
 * refusal. The per-principal cap holds, the most recent sessions are the ones kept, every evicted
 * session is released, and refusals are typed.
 *
 * These run on the live clock (no timing rule is under test; TestClock would keep one timer record
 * per auth and release call, which would itself grow the heap).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Session } from "effect-session"
import { SessionManager } from "effect-session"
import { anonymousRequest, count, counting, eventually, openMany, setup } from "./flood.js"
import { request } from "./support.js"

describe("login floods", () => {
  it.live("10k logins of one principal with maxSessionsPerPrincipal 5: five remain, the most recent", () => {
    const { layer, stats } = counting()
    return Effect.gen(function*() {
      const manager = yield* SessionManager.SessionManager
      const sessions: Array<Session.Session> = []
      for (let i = 0; i < 10_000; i++) sessions.push(yield* manager.openSession(request("alice")))
      const kept = (yield* manager.sessionsOf("alice")).map((s) => s.key).sort()
      expect(kept).toEqual(sessions.slice(-5).map((s) => s.key).sort())
      yield* eventually(() => stats.releases === 9_995)
      expect(stats.releases).toBe(9_995)
      // the same through logins of anonymous sessions (rotation to the principal)
      for (let i = 0; i < 2_000; i++) {
        const anonymous = yield* manager.openSession(anonymousRequest)
        yield* manager.rotateSession(anonymous, { principal: { id: "bob", anonymous: false } })
      }
      expect((yield* manager.sessionsOf("bob")).length).toBe(5)
      expect(yield* count).toEqual({ anonymous: 0, authenticated: 10 })
    }).pipe(Effect.provide(setup({ maxSessionsPerPrincipal: 5 }, layer)))
  }, 60_000)
  it.live("10k logins of one principal with the refuse policy: 5 succeed, the rest get SessionLimitError", () => {
    const { layer } = counting()
    return Effect.gen(function*() {
      expect(yield* openMany(10_000, request("alice"))).toEqual({
        ok: 5,
        "SessionLimitError:maxSessionsPerPrincipal": 9_995
      })
      expect(yield* count).toEqual({ anonymous: 0, authenticated: 5 })
    }).pipe(Effect.provide(setup({ maxSessionsPerPrincipal: 5, onLimit: "refuse" }, layer)))
  }, 60_000)
})
