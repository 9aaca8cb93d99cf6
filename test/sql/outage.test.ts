/**
 * PostgreSQL away, stopped or holding a lock: typed `SessionStoreError` (`Unavailable`, `Timeout`)
 * within the store's timeout, never `InvalidSession` for a live session, never a defect; then
 * service again, with the same sessions, without rebuilding the layer. Each test file owns its
 * server, so these may kill it.
 */
import { HttpServerRequest } from "@effect/platform"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Logger, Redacted, Schema } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as S, SessionManager } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import { lockKeys, namesOf } from "../../src/internal/store/sql/settings.js"
import { retrying } from "../support/retry.js"
import { freshPrefix, startPostgres } from "./postgres.js"

const server = await startPostgres()
afterAll(() => server?.stop())

const TIMEOUT = 1000
/** Any failing call ends within the timeout, the client's extra 500 ms, and scheduling slack. */
const BOUND = TIMEOUT + 500 + 1500

const Counter = S.dataKey("counter", Schema.Number)
const request = (user?: string) =>
  HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: user === undefined ? {} : { "x-user": user } }))
const tokenOf = (session: Session.Session) => Redacted.value(session.token!)

// the manager logs each failed sweep: expected here, and kept out of the test output
const managerOn = (prefix: string, options: SessionManager.Options = {}) =>
  SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
    Layer.provideMerge(PgStore.layer({ url: server!.url(), prefix, timeout: TIMEOUT, poolSize: 4 })),
    Layer.provideMerge(AuthManager.layerMock({ users: { alice: {} } })),
    Layer.provide(Logger.remove(Logger.defaultLogger))
  )

/** What an exit says, for assertions: a value, a typed failure (tag and reason), or a defect. */
const outcome = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return `defect: ${Cause.pretty(exit.cause)}`
  const error = failure.value as { readonly _tag: string; readonly reason?: string }
  return `${error._tag}${error.reason === undefined ? "" : `:${error.reason}`}`
}

/** Runs every operation of the manager once; answers how each ended and how long the slowest took. */
const everyOperation = (session: Session.Session) =>
  Effect.gen(function*() {
    const ops = {
      openSession: SessionManager.openSession(request("alice")),
      getSession: SessionManager.getSession(request(), tokenOf(session)),
      setData: SessionManager.setData(session, Counter, 1),
      getData: SessionManager.getData(session, Counter),
      rotateSession: SessionManager.rotateSession(session),
      closeSession: SessionManager.closeSession(session),
      closeAllOf: SessionManager.closeAllOf("alice"),
      currentSessions: SessionManager.currentSessions,
      sessionsOf: SessionManager.sessionsOf("alice"),
      cleanSessions: SessionManager.cleanSessions
    }
    const outcomes: Record<string, string> = {}
    let slowest = 0
    for (const [name, op] of Object.entries(ops)) {
      const start = Date.now()
      outcomes[name] = outcome(yield* Effect.exit(op as Effect.Effect<unknown, unknown, SessionManager.SessionManager>))
      slowest = Math.max(slowest, Date.now() - start)
    }
    return { outcomes, slowest }
  })

/** Retries `op` every 100 ms until it succeeds, for at most about 20 seconds. */
describe.skipIf(server === undefined)("PostgreSQL outages", () => {
  it.live(
    "killed while traffic runs, then restarted: typed failures in bounded time, then the same sessions again",
    () =>
      Effect.gen(function*() {
        const sessions = yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request("alice")))
        yield* SessionManager.setData(sessions[0], Counter, 41)
        // traffic on live sessions (lookups and openings) until told to stop, bounded in count
        let stop = false
        const exits: Array<{ readonly outcome: string; readonly ms: number }> = []
        const traffic = yield* Effect.fork(Effect.gen(function*() {
          for (let i = 0; i < 5000 && !stop; i++) {
            const start = Date.now()
            const exit = i % 4 === 3
              ? yield* Effect.exit(SessionManager.openSession(request()))
              : yield* Effect.exit(SessionManager.getSession(request(), tokenOf(sessions[i % 3])))
            exits.push({ outcome: outcome(exit), ms: Date.now() - start })
            yield* Effect.sleep("5 millis")
          }
        }))
        yield* Effect.sleep("300 millis")
        yield* Effect.promise(() => server!.kill())
        yield* Effect.sleep("500 millis")

        const down = yield* everyOperation(sessions[1])
        for (const [name, result] of Object.entries(down.outcomes)) {
          expect(["SessionStoreError:Unavailable", "SessionStoreError:Timeout"], name).toContain(result)
        }
        expect(down.slowest).toBeLessThan(BOUND)

        yield* Effect.promise(() => server!.start())
        // the same layer serves again: the sessions opened before the crash are there, with their data
        const back = yield* retrying(SessionManager.getSession(request(), tokenOf(sessions[0])))
        expect(back.data).toEqual({ counter: 41 })
        yield* Effect.sleep("200 millis")
        stop = true
        yield* traffic.await

        const outcomes = exits.map((e) => e.outcome)
        expect(outcomes).toContain("ok")
        expect(outcomes.some((o) => o.startsWith("SessionStoreError"))).toBe(true)
        // never "not logged in" for a live session, never a defect; every failure in bounded time
        for (const e of exits) {
          expect(["ok", "SessionStoreError:Unavailable", "SessionStoreError:Timeout"]).toContain(e.outcome)
          expect(e.ms).toBeLessThan(BOUND)
        }
        // traffic after the restart succeeded (the last lookups)
        expect(exits.at(-1)?.outcome).toBe("ok")
      }).pipe(Effect.provide(managerOn(freshPrefix("killed"))), Effect.scoped),
    120_000
  )

  it.live(
    "a stopped server (SIGSTOP): Timeout within the timeout; service again once it resumes",
    () =>
      Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        yield* Effect.acquireUseRelease(
          Effect.promise(() => server!.pause()),
          () =>
            Effect.gen(function*() {
              const start = Date.now()
              const exit = yield* Effect.exit(SessionManager.getSession(request(), tokenOf(session)))
              expect(outcome(exit)).toBe("SessionStoreError:Timeout")
              expect(Date.now() - start).toBeLessThan(BOUND)
            }),
          () => Effect.promise(() => server!.resume())
        )
        const again = yield* retrying(SessionManager.getSession(request(), tokenOf(session)))
        expect(again.key).toBe(session.key)
      }).pipe(Effect.provide(managerOn(freshPrefix("stopped"))), Effect.scoped),
    60_000
  )

  it.live("the store's write lock held elsewhere: openings and logouts time out typed, then proceed", () => {
    const prefix = freshPrefix("locked")
    const [classId, objectId] = lockKeys(namesOf(prefix))
    return Effect.gen(function*() {
      const session = yield* SessionManager.openSession(request("alice"))
      // another connection holds the store's advisory lock (as a stuck transaction would)
      const holder = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const pg = await import("pg")
          const client = new pg.Client({ connectionString: server!.url() })
          await client.connect()
          await client.query("SELECT pg_advisory_lock($1, $2)", [classId, objectId])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      for (const op of [SessionManager.openSession(request()), SessionManager.closeSession(session)]) {
        const start = Date.now()
        expect(outcome(yield* Effect.exit(op as Effect.Effect<unknown, unknown, SessionManager.SessionManager>))).toBe(
          "SessionStoreError:Timeout"
        )
        expect(Date.now() - start).toBeLessThan(BOUND)
      }
      // lookups never wait for it
      expect((yield* SessionManager.getSession(request(), tokenOf(session))).key).toBe(session.key)
      yield* Effect.promise(() => holder.query("SELECT pg_advisory_unlock($1, $2)", [classId, objectId]))
      yield* SessionManager.closeSession(session)
      expect(outcome(yield* Effect.exit(SessionManager.getSession(request(), tokenOf(session))))).toBe(
        "InvalidSession:Unknown"
      )
    }).pipe(Effect.provide(managerOn(prefix)), Effect.scoped)
  }, 60_000)

  it.live(
    "killed while a transaction waits on the store's lock: a typed failure, never an uncaught connection error",
    () => {
      const prefix = freshPrefix("killedlock")
      const [classId, objectId] = lockKeys(namesOf(prefix))
      return Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request("alice"))
        // another connection holds the lock, so the opening below waits inside its transaction, on
        // a connection the store has checked out of its pool
        yield* Effect.promise(async () => {
          const pg = await import("pg")
          const holder = new pg.Client({ connectionString: server!.url() })
          holder.on("error", () => {}) // the holder's own connection dies with the server too
          await holder.connect()
          await holder.query("SELECT pg_advisory_lock($1, $2)", [classId, objectId])
        })
        const opening = yield* Effect.fork(Effect.exit(SessionManager.openSession(request())))
        yield* Effect.sleep("200 millis")
        yield* Effect.promise(() => server!.kill())
        // an 'error' event of a checked-out connection with no listener would end the process here
        const exit = yield* opening.await.pipe(Effect.flatten)
        expect(["SessionStoreError:Unavailable", "SessionStoreError:Timeout"]).toContain(outcome(exit))
        yield* Effect.promise(() => server!.start())
        // the same layer serves again
        expect((yield* retrying(SessionManager.getSession(request(), tokenOf(session)))).key).toBe(session.key)
      }).pipe(Effect.provide(managerOn(prefix)), Effect.scoped)
    },
    60_000
  )

  it.live(
    "the background sweep survives an outage and releases expired sessions after it",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() => server!.kill())
        yield* Effect.sleep("500 millis") // several sweeps fail meanwhile
        yield* Effect.promise(() => server!.start())
        const session = yield* retrying(SessionManager.openSession(request()))
        const released = yield* retrying(
          Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released).pipe(
            Effect.filterOrFail((keys) => keys.includes(session.key), () => "not yet")
          )
        )
        expect(released.filter((key) => key === session.key)).toHaveLength(1)
      }).pipe(
        Effect.provide(
          managerOn(freshPrefix("sweep"), { cleanupAnonymousSessionTime: "300 millis", sweepInterval: "100 millis" })
        ),
        Effect.scoped
      ),
    60_000
  )

  it.live(
    "down when the layer is built: SessionStoreError within the timeout, not a hang or a defect",
    () =>
      Effect.gen(function*() {
        yield* Effect.promise(() => server!.kill())
        const start = Date.now()
        const exit = yield* Effect.exit(Layer.build(PgStore.layer({ url: server!.url(), timeout: TIMEOUT })))
        expect(outcome(exit)).toBe("SessionStoreError:Unavailable")
        expect(Date.now() - start).toBeLessThan(BOUND)
        yield* Effect.promise(() => server!.start())
      }).pipe(Effect.scoped),
    60_000
  )
})
