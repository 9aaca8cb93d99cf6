/**
 * The auth manager is user code: its typed failures, defects (returned or thrown), hangs and late
 * answers must each come out of `SessionManager` as a distinct typed outcome, never open a session
 * behind the caller's back, and never log anybody out (I3, I5, I6).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import type { Session } from "effect-session"
import { AuthManager, SessionError, SessionManager, SessionStore, SessionToken } from "effect-session"
import { request } from "./support.js"

type Behaviour = "ok" | "fail" | "die" | "throw" | "hang" | "late" | "lateInterruptible"

const alice: Session.Principal = { id: "alice", anonymous: false }

/** An auth manager whose `authenticate` and `validateSession` behave as told, counting what it did. */
const controllable = () => {
  const state = {
    authenticate: "ok" as Behaviour,
    validate: "ok" as Behaviour,
    authCalls: 0,
    validateCalls: 0,
    lateCompletions: 0,
    released: [] as Array<string>
  }
  const behave = <A, E>(behaviour: Behaviour, value: A, failure: E) => {
    switch (behaviour) {
      case "ok":
        return Effect.succeed(value)
      case "fail":
        return Effect.fail(failure)
      case "die":
        return Effect.die(new Error("auth backend bug"))
      case "throw":
        // thrown while building the effect, as a careless implementation would
        throw new Error("thrown synchronously")
      case "hang":
        return Effect.never
      case "late":
        // ignores interruption, answers after 30 s
        return Effect.uninterruptible(
          Effect.sleep("30 seconds").pipe(Effect.tap(() => state.lateCompletions++), Effect.as(value))
        )
      case "lateInterruptible":
        return Effect.sleep("30 seconds").pipe(Effect.tap(() => state.lateCompletions++), Effect.as(value))
    }
  }
  const layer = AuthManager.layer({
    authenticate: () => {
      state.authCalls++
      return behave(state.authenticate, alice, new SessionError.ExplicitLogin({ message: "who are you?" }))
    },
    validateSession: (_request, session) => {
      state.validateCalls++
      return behave(state.validate, session, new SessionError.InvalidSession({ reason: "Rejected" }))
    },
    release: (session) => Effect.sync(() => void state.released.push(session.key))
  })
  return { state, layer }
}

const setup = (auth: Layer.Layer<AuthManager.AuthManager>) =>
  SessionManager.layer({ sweepInterval: "off", authTimeout: "10 seconds" }).pipe(
    Layer.provide(SessionToken.layerDeterministic("auth-failures")),
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provideMerge(auth)
  )

const stored = Effect.flatMap(SessionStore.SessionStore, (store) => store.count)
const nothingStored = Effect.map(stored, (count) => expect(count).toEqual({ anonymous: 0, authenticated: 0 }))

describe("auth manager failures: authenticate", () => {
  it.effect("a typed failure is ExplicitLogin, unchanged, and nothing is stored", () => {
    const { layer, state } = controllable()
    state.authenticate = "fail"
    return Effect.gen(function*() {
      const error = yield* Effect.flip(SessionManager.openSession(request()))
      expect(error).toBeInstanceOf(SessionError.ExplicitLogin)
      expect(error._tag === "ExplicitLogin" && error.message).toBe("who are you?")
      yield* nothingStored
      expect(state.released).toEqual([])
    }).pipe(Effect.provide(setup(layer)))
  })

  for (const behaviour of ["die", "throw"] as const) {
    it.effect(`a defect (${behaviour}) is AuthManagerError Defect, and nothing is stored`, () => {
      const { layer, state } = controllable()
      state.authenticate = behaviour
      return Effect.gen(function*() {
        const error = yield* Effect.flip(SessionManager.openSession(request()))
        expect(error).toBeInstanceOf(SessionError.AuthManagerError)
        expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "authenticate", reason: "Defect" })
        yield* nothingStored
        expect(state.released).toEqual([])
      }).pipe(Effect.provide(setup(layer)))
    })
  }

  it.effect("a hang is AuthManagerError Timeout exactly at authTimeout, and nothing is stored", () => {
    const { layer, state } = controllable()
    state.authenticate = "hang"
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.flip(SessionManager.openSession(request())))
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "authenticate", reason: "Timeout" })
      yield* nothingStored
    }).pipe(Effect.provide(setup(layer)))
  })

  for (const behaviour of ["late", "lateInterruptible"] as const) {
    it.effect(`a late answer (${behaviour}) times out at authTimeout and never opens a session`, () => {
      const { layer, state } = controllable()
      state.authenticate = behaviour
      return Effect.gen(function*() {
        // a daemon: if the deadline were not kept, the test fails here instead of hanging on cleanup
        const fiber = yield* Effect.forkDaemon(Effect.flip(SessionManager.openSession(request())))
        yield* TestClock.adjust("10 seconds")
        // answered at the deadline, even though the auth manager ignores interruption
        const answered = yield* Fiber.poll(fiber)
        expect(Option.isSome(answered)).toBe(true)
        const error = yield* Fiber.join(fiber)
        expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "authenticate", reason: "Timeout" })
        // the late answer comes (or is interrupted) and changes nothing
        yield* TestClock.adjust("60 seconds")
        expect(state.lateCompletions).toBe(behaviour === "late" ? 1 : 0)
        yield* nothingStored
        expect(state.released).toEqual([])
        expect(yield* SessionManager.currentSessions).toEqual([])
      }).pipe(Effect.provide(setup(layer)))
    })
  }
})

describe("auth manager failures: validateSession", () => {
  // opens a session with a well-behaved auth manager, then switches validateSession to `behaviour`
  const openThen = (behaviour: Behaviour) => {
    const { layer, state } = controllable()
    return {
      state,
      layer,
      opened: Effect.gen(function*() {
        const session = yield* SessionManager.openSession(request())
        state.validate = behaviour
        return session
      })
    }
  }

  const stillThere = (session: Session.Session) =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      expect(Option.isSome(yield* store.get(session.key))).toBe(true)
    })

  it.effect("a typed rejection closes the session and releases it once (the contrast)", () => {
    const { layer, opened, state } = openThen("fail")
    return Effect.gen(function*() {
      const session = yield* opened
      const error = yield* Effect.flip(SessionManager.getSession(request(), session.token!))
      expect(error).toMatchObject({ _tag: "InvalidSession", reason: "Rejected" })
      yield* nothingStored
      expect(state.released).toEqual([session.key])
    }).pipe(Effect.provide(setup(layer)))
  })

  for (const behaviour of ["die", "throw"] as const) {
    it.effect(`a defect (${behaviour}) is AuthManagerError Defect and keeps the session`, () => {
      const { layer, opened, state } = openThen(behaviour)
      return Effect.gen(function*() {
        const session = yield* opened
        const error = yield* Effect.flip(SessionManager.getSession(request(), session.token!))
        expect(error).toMatchObject({ _tag: "AuthManagerError", operation: "validateSession", reason: "Defect" })
        yield* stillThere(session)
        expect(state.released).toEqual([])
        // once the auth manager recovers, the same token works: nobody was logged out
        state.validate = "ok"
        const again = yield* SessionManager.getSession(request(), session.token!)
        expect(again.key).toBe(session.key)
      }).pipe(Effect.provide(setup(layer)))
    })
  }

  it.effect("a hang is AuthManagerError Timeout at authTimeout and keeps the session", () => {
    const { layer, opened, state } = openThen("hang")
    return Effect.gen(function*() {
      const session = yield* opened
      const fiber = yield* Effect.fork(Effect.flip(SessionManager.getSession(request(), session.token!)))
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toMatchObject({
        _tag: "AuthManagerError",
        operation: "validateSession",
        reason: "Timeout"
      })
      yield* stillThere(session)
      expect(state.released).toEqual([])
    }).pipe(Effect.provide(setup(layer)))
  })

  it.effect("a late answer times out at authTimeout; the session is kept and its late answer discarded", () => {
    const { layer, opened, state } = openThen("late")
    return Effect.gen(function*() {
      const session = yield* opened
      const fiber = yield* Effect.forkDaemon(Effect.flip(SessionManager.getSession(request(), session.token!)))
      yield* TestClock.adjust("10 seconds")
      expect(Option.isSome(yield* Fiber.poll(fiber))).toBe(true)
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "AuthManagerError", reason: "Timeout" })
      yield* TestClock.adjust("60 seconds")
      expect(state.lateCompletions).toBe(1)
      // the store holds exactly the one session, under its original key, never released
      const store = yield* SessionStore.SessionStore
      expect((yield* store.list).map((record) => record.key)).toEqual([session.key])
      expect(state.released).toEqual([])
    }).pipe(Effect.provide(setup(layer)))
  })
})
