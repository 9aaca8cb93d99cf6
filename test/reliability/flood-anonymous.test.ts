/**
 * Anonymous floods, bounded in time (I4, I5): 30k anonymous openings against a cap of 2k, the
 * global cap under anonymous pressure, the refuse policy. Caps hold, authenticated sessions survive,
 * every evicted session is released, the heap stays flat (measured after forced collections:
 * `forceGc` works with or without `--expose-gc`), and the limits answer with typed errors.
 * (An opening costs ~150-400 us of CPU on a loaded 2-core box: 100k would not fit the time budget.)
 *
 * These run on the live clock (no timing rule is under test; TestClock would keep one timer record
 * per auth and release call, which would itself grow the heap).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SessionManager } from "effect-session"
import { count, counting, eventually, openMany, setup } from "./flood.js"
import { heapAfterGc, request } from "./support.js"

const MB = 1024 * 1024

describe("anonymous floods", () => {
  it.live(
    "30k anonymous openings against a cap of 2k: the cap holds, authenticated sessions survive, heap flat",
    () => {
      const { layer, stats } = counting()
      return Effect.gen(function*() {
        const manager = yield* SessionManager.SessionManager
        const users = yield* Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) => manager.openSession(request(`user${i % 10}`))
        )
        const start = heapAfterGc()
        // reach the steady state (the cap is full and every opening evicts), then measure
        expect(yield* openMany(6_000)).toEqual({ ok: 6_000 })
        yield* eventually(() => stats.releases === 4_000)
        const steady = heapAfterGc()
        expect(yield* openMany(24_000)).toEqual({ ok: 24_000 })
        yield* eventually(() => stats.releases === 28_000)
        const end = heapAfterGc()
        expect(yield* count).toEqual({ anonymous: 2_000, authenticated: 100 })
        expect(stats.releases).toBe(28_000)
        // every authenticated session still works
        for (const session of users) {
          expect((yield* manager.getSession(request(), session.token!)).key).toBe(session.key)
        }
        // 24k more openings at the cap leave the heap where it was (under 100 bytes per opening, where
        // a leaked session would cost over 500); the 2k resident sessions cost a bounded amount
        expect(end - steady).toBeLessThan(24_000 * 100)
        expect(end - start).toBeLessThan(10 * MB)
      }).pipe(Effect.provide(setup({ maxAnonymousSessions: 2_000 }, layer)))
    },
    60_000
  )

  it.live(
    "maxSessions: anonymous pressure never evicts an authenticated session; with none left to evict it is refused",
    () => {
      const { layer, stats } = counting()
      return Effect.gen(function*() {
        const manager = yield* SessionManager.SessionManager
        yield* Effect.forEach(Array.from({ length: 600 }, (_, i) => i), (i) => manager.openSession(request(`u${i}`)))
        expect(yield* openMany(5_000)).toEqual({ ok: 5_000 })
        expect(yield* count).toEqual({ anonymous: 400, authenticated: 600 })
        // fill the rest with authenticated sessions (they evict the anonymous ones), then flood again
        yield* Effect.forEach(Array.from({ length: 400 }, (_, i) => i), (i) => manager.openSession(request(`v${i}`)))
        expect(yield* count).toEqual({ anonymous: 0, authenticated: 1_000 })
        expect(yield* openMany(2_000)).toEqual({ "SessionLimitError:maxSessions": 2_000 })
        expect(yield* count).toEqual({ anonymous: 0, authenticated: 1_000 })
        yield* eventually(() => stats.releases === 5_000)
        expect(stats.releases).toBe(5_000)
      }).pipe(Effect.provide(setup({ maxSessions: 1_000 }, layer)))
    },
    60_000
  )

  it.live("with onLimit refuse, openings past the cap fail with SessionLimitError and nothing is evicted", () => {
    const { layer, stats } = counting()
    return Effect.gen(function*() {
      expect(yield* openMany(10_000)).toEqual({ ok: 5_000, "SessionLimitError:maxAnonymousSessions": 5_000 })
      expect(yield* count).toEqual({ anonymous: 5_000, authenticated: 0 })
      expect(stats.releases).toBe(0)
    }).pipe(Effect.provide(setup({ maxAnonymousSessions: 5_000, onLimit: "refuse" }, layer)))
  }, 60_000)
})
