/**
 * Touches that do not write, under `TestClock`: a lookup writes `lastUsedAt` only once the touch
 * interval has passed since the stored value; idle expiry is then never late and at most one
 * interval early; `"always"` writes on every lookup.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref, TestClock } from "effect"
import type { Session } from "effect-session"
import { AuthManager, SessionManager } from "effect-session"
import { countingStore, managerLayer, request, StoreCalls, users } from "./support.js"

const SECOND = 1_000
const MINUTE = 60 * SECOND

const lookup = (session: Session.Session) => SessionManager.lookupSession(request(), session.token!)
const isLive = (session: Session.Session) =>
  Effect.map(SessionManager.currentSessions, (live) => live.some((s) => s.key === session.key))

// idle limit 10 minutes for everyone; the default interval is then 1 minute
const tenMinutes = { idleTimeout: "10 minutes", cleanupAnonymousSessionTime: "off" } as const

describe("touch interval", () => {
  it.effect("the default is the shorter of 1 minute and a tenth of the shortest idle limit", () =>
    Effect.gen(function*() {
      const interval = (options: SessionManager.Options) =>
        Effect.map(SessionManager.validateOptions(options), (settings) => settings.policy.touchInterval)
      // defaults: idle 30 minutes, anonymous 2 minutes: a tenth of 2 minutes
      expect(yield* interval({})).toBe(12 * SECOND)
      expect(yield* interval({ cleanupAnonymousSessionTime: "off" })).toBe(MINUTE)
      expect(yield* interval({ touchInterval: "always" })).toBe(0)
      expect(yield* interval({ touchInterval: "5 seconds" })).toBe(5 * SECOND)
    }))

  it.effect("a lookup within the interval reads, writes nothing, and says so; past it, it writes", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(MINUTE - 1)
      const early = yield* lookup(opened)
      expect(early.touched).toBe(false)
      expect(early.session.lastUsedAt).toBe(0)
      yield* TestClock.adjust(1)
      const due = yield* lookup(opened)
      expect(due.touched).toBe(true)
      expect(due.session.lastUsedAt).toBe(MINUTE)
      yield* TestClock.adjust(30 * SECOND)
      expect((yield* lookup(opened)).touched).toBe(false)
    }).pipe(Effect.provide(managerLayer(tenMinutes))))

  it.effect("every lookup is one store call, written or not", () =>
    Effect.gen(function*() {
      const calls = yield* StoreCalls
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* Ref.set(calls, {})
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust(20 * SECOND)
        yield* SessionManager.getSession(request(), opened.token!)
      }
      expect(yield* Ref.get(calls)).toEqual({ touch: 5 })
    }).pipe(Effect.provide(
      SessionManager.layer({ ...tenMinutes, sweepInterval: "off" }).pipe(
        Layer.provideMerge(countingStore),
        Layer.provideMerge(AuthManager.layerMock({ users }))
      )
    )))

  it.effect("idle expiry may come up to one interval early: last used at 59.999 s, expired at 10 minutes", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(MINUTE - 1)
      expect((yield* lookup(opened)).touched).toBe(false)
      yield* TestClock.setTime(10 * MINUTE - 1)
      expect(yield* isLive(opened)).toBe(true)
      yield* TestClock.setTime(10 * MINUTE)
      expect(yield* Effect.flip(lookup(opened))).toMatchObject({ reason: "Expired", limit: "Idle" })
      // 59.999 s before last use + idle: less than one interval early
    }).pipe(Effect.provide(managerLayer(tenMinutes))))

  it.effect("idle expiry is never late: a lookup that wrote moves the deadline to exactly its time + idle", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.setTime(MINUTE)
      expect((yield* lookup(opened)).touched).toBe(true)
      yield* TestClock.setTime(MINUTE + 10 * MINUTE - 1)
      expect(yield* isLive(opened)).toBe(true)
      yield* TestClock.setTime(MINUTE + 10 * MINUTE)
      expect(yield* isLive(opened)).toBe(false)
      expect(yield* Effect.flip(lookup(opened))).toMatchObject({ reason: "Expired", limit: "Idle" })
    }).pipe(Effect.provide(managerLayer(tenMinutes))))

  it.effect("\"always\" writes on every lookup (0.1.0's behaviour): idle expiry is exact", () =>
    Effect.gen(function*() {
      const opened = yield* SessionManager.openSession(request("alice"))
      yield* TestClock.adjust(1)
      expect(yield* lookup(opened)).toMatchObject({ touched: true, session: { lastUsedAt: 1 } })
      yield* TestClock.setTime(10 * MINUTE)
      expect(yield* lookup(opened)).toMatchObject({ touched: true, session: { lastUsedAt: 10 * MINUTE } })
      yield* TestClock.setTime(20 * MINUTE)
      expect(yield* Effect.flip(lookup(opened))).toMatchObject({ reason: "Expired", limit: "Idle" })
    }).pipe(Effect.provide(managerLayer({ ...tenMinutes, touchInterval: "always" }))))
})
