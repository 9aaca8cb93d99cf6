/**
 * The race (I4, I5): 2000 fibers open, get, rotate, log in, write, close and revoke sessions at
 * the same time, while the background sweeper runs and the TestClock moves; at the end (a final
 * sweep, then shutdown), every session that was ever opened has been released exactly once, under
 * the key it had last, and nothing else was released. The caps hold throughout.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schema, Scope, TestClock } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as SessionModule, SessionManager, SessionStore, SessionToken } from "effect-session"
import { describeExit, mockUsers, request } from "./support.js"

const FIBERS = 2_000
const USERS = 40
const caps = { maxSessions: 600, maxAnonymousSessions: 300, maxSessionsPerPrincipal: 5 }

/** A small seeded PRNG (mulberry32): every run races the same programs. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const Visits = SessionModule.dataKey("visits", Schema.Number)

const users = Object.fromEntries(Array.from({ length: USERS }, (_, i) => [`user${i}`, {}]))

const setup = SessionManager.layer({
  sweepInterval: "1 second",
  idleTimeout: "5 seconds",
  cleanupAnonymousSessionTime: "2 seconds",
  absoluteLifetime: "20 seconds",
  // beyond the test's time span: each call would otherwise leave a timer for TestClock to wake
  authTimeout: "100 days",
  releaseTimeout: "100 days",
  ...caps
}).pipe(
  Layer.provide(SessionToken.layerDeterministic("race")),
  Layer.provideMerge(SessionStore.layerMemory),
  Layer.provideMerge(AuthManager.layerMock({ users: { ...mockUsers, ...users } }))
)

describe("the race", () => {
  it.effect(
    `${FIBERS} fibers racing with the sweeper and a moving clock: each session released exactly once`,
    () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(setup, scope)
        const manager = Context.get(context, SessionManager.SessionManager)
        const mock = Context.get(context, AuthManager.MockAuthManager)
        const store = Context.get(context, SessionStore.SessionStore)

        // lineage: every opened session by its first key, and each key's successor after a rotation
        const opened: Array<string> = []
        const successor = new Map<string, string>()
        const shared: Array<Session.Session> = []
        const answers = new Map<string, number>()
        const note = (answer: string) => {
          const kind = answer.split(":").slice(0, 2).join(":")
          answers.set(kind, (answers.get(kind) ?? 0) + 1)
        }
        // programs wait for clock ticks: each tick releases every waiting fiber at the same instant
        let tick = yield* Deferred.make<void>()
        const waitTicks = (n: number) =>
          Effect.gen(function*() {
            for (let i = 0; i < n; i++) yield* Effect.suspend(() => Deferred.await(tick))
          })
        let running = FIBERS
        let overCap = 0

        const program = (id: number) =>
          Effect.gen(function*() {
            const random = prng(id)
            const pick = <A>(items: ReadonlyArray<A>) => items[Math.floor(random() * items.length)]
            const mine: Array<Session.Session> = []
            const some = () => mine.length > 0 && random() < 0.7 ? pick(mine) : pick(shared)
            const steps = 3 + Math.floor(random() * 5)
            for (let step = 0; step < steps; step++) {
              const roll = random()
              if (roll < 0.3 || mine.length === 0) {
                const user = random() < 0.5 ? undefined : `user${Math.floor(random() * USERS)}`
                const exit = yield* Effect.exit(manager.openSession(request(user)))
                note(describeExit(exit))
                if (Exit.isSuccess(exit)) {
                  opened.push(exit.value.key)
                  mine.push(exit.value)
                  if (random() < 0.2) shared.push(exit.value)
                }
                continue
              }
              const session = some()
              if (session === undefined) continue
              if (roll < 0.5) {
                note(describeExit(yield* Effect.exit(manager.getSession(request(), session.token!))))
              } else if (roll < 0.62) {
                const login = random() < 0.5
                const exit = yield* Effect.exit(
                  manager.rotateSession(
                    session,
                    login ? { principal: { id: `user${Math.floor(random() * USERS)}`, anonymous: false } } : undefined
                  )
                )
                note(describeExit(exit))
                if (Exit.isSuccess(exit)) {
                  successor.set(session.key, exit.value.key)
                  mine.push(exit.value)
                }
              } else if (roll < 0.75) {
                note(
                  describeExit(
                    yield* Effect.exit(manager.updateData(session, Visits, (n) => Option.getOrElse(n, () => 0) + 1))
                  )
                )
              } else if (roll < 0.9) {
                note(describeExit(yield* Effect.exit(manager.closeSession(session))))
              } else if (roll < 0.97) {
                note(describeExit(yield* Effect.exit(manager.closeAllOf(`user${Math.floor(random() * USERS)}`))))
              } else {
                note(describeExit(yield* Effect.exit(manager.cleanSessions)))
              }
              // pause: a yield, or up to 3 s of clock (anonymous sessions idle out after 2 s)
              const pause = random()
              if (pause < 0.3) yield* Effect.yieldNow()
              else if (pause < 0.8) yield* waitTicks(1 + Math.floor(random() * 30))
            }
          }).pipe(Effect.ensuring(Effect.sync(() => running--)))

        // the clock moves 100 ms at a time (the sweeper runs every second) while the fibers race
        const clock = yield* Effect.fork(
          Effect.gen(function*() {
            for (let step = 0; step < 1_000 && running > 0; step++) {
              const current = tick
              tick = yield* Deferred.make<void>()
              yield* Deferred.succeed(current, undefined)
              yield* TestClock.adjust("100 millis")
              const count = yield* store.count
              if (
                count.anonymous + count.authenticated > caps.maxSessions ||
                count.anonymous > caps.maxAnonymousSessions
              ) overCap++
            }
          })
        )
        yield* Effect.all(Array.from({ length: FIBERS }, (_, i) => program(i + 1)), {
          concurrency: "unbounded",
          discard: true
        })
        yield* Fiber.join(clock)
        expect(running).toBe(0)
        yield* manager.cleanSessions
        yield* Scope.close(scope, Exit.void)

        // every session that was opened was released once, under its last key; nothing else was
        const last = (key: string) => {
          let current = key
          for (let next = successor.get(current); next !== undefined; next = successor.get(current)) current = next
          return current
        }
        const expected = opened.map(last).sort()
        const released = [...(yield* mock.released)].sort()
        expect(new Set(released).size).toBe(released.length)
        expect(released).toEqual(expected)
        expect(overCap).toBe(0)
        // the race was a race: sessions were opened, rotated, refused, expired and closed
        expect(opened.length).toBeGreaterThan(FIBERS)
        expect(successor.size).toBeGreaterThan(100)
        for (const answer of ["ok", "InvalidSession:Unknown", "InvalidSession:Expired"]) {
          expect(answers.get(answer) ?? 0).toBeGreaterThan(0)
        }
        expect([...answers.keys()].filter((answer) => answer.startsWith("DEFECT"))).toEqual([])
      }),
    60_000
  )
})
