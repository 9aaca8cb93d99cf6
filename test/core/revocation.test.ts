/**
 * Revocation without exceptions (I8): `closeAllOf` against another instance rotating the same
 * sessions, its answer after every release has run, sessions a store could only mark, and a logout
 * racing a rotation of the same token.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Redacted, Scope, TestClock } from "effect"
import type { Session } from "effect-session"
import { AuthManager, SessionManager, SessionStore } from "effect-session"
import { revokeWhileRotating, twoInstances } from "../support/two-instances.js"
import { managerLayer, request, users } from "./support.js"

const tokenOf = (session: Session.Session) => Redacted.value(session.token!)

/** Two managers ("instances") over one memory store. */
const twoInstancesOnMemory = Effect.flatMap(
  SessionStore.makeMemory,
  (store) => twoInstances(() => Layer.succeed(SessionStore.SessionStore, store))
)

describe("closeAllOf against a rotating instance", () => {
  // Instance B rotates alice's four sessions in a loop (as a validateSession that refreshes by
  // replacement would in ordinary traffic); instance A revokes her at a different point of the
  // loop in each round. Whatever the interleaving, once closeAllOf has answered no session of
  // hers, nor anything it was rotated into, is served again, and each is released exactly once.
  for (const revokeAfter of [0, 1, 3, 7, 15]) {
    it.effect(`no session survives, revoked after ${revokeAfter} yields`, () =>
      Effect.gen(function*() {
        const instances = yield* twoInstancesOnMemory
        const report = yield* revokeWhileRotating(instances, {
          rounds: 50,
          wait: Effect.repeatN(Effect.yieldNow(), revokeAfter),
          between: Effect.yieldNow()
        })
        // one store step: every release has run when closeAllOf answers
        expect(report).toEqual({ closed: 4, failures: [] })
        yield* Scope.close(instances.scope, Exit.void)
      }))
  }
})

describe("closeAllOf", () => {
  it.effect("answers once every release has run", () => {
    const releases: Array<string> = []
    const slow = AuthManager.layer({
      authenticate: () => Effect.succeed({ id: "alice", anonymous: false }),
      release: (session) =>
        Effect.sleep("1 second").pipe(Effect.zipRight(Effect.sync(() => releases.push(session.key))))
    })
    return Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request()))
      const fiber = yield* Effect.fork(SessionManager.closeAllOf("alice"))
      yield* TestClock.adjust("500 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("600 millis")
      expect(yield* Fiber.join(fiber)).toEqual({ closed: 3, failures: [] })
      expect(releases).toHaveLength(3)
    }).pipe(
      Effect.provide(
        SessionManager.layer({ sweepInterval: "off" }).pipe(
          Layer.provide(SessionStore.layerMemory),
          Layer.provide(slow)
        )
      )
    )
  })

  it.effect("with except keeps exactly that session, and what it is rotated into", () =>
    Effect.gen(function*() {
      const mine = yield* SessionManager.openSession(request("alice"))
      const others = yield* Effect.forEach([1, 2], () => SessionManager.openSession(request("alice")))
      expect(yield* SessionManager.closeAllOf("alice", { except: mine })).toEqual({ closed: 2, failures: [] })
      const rotated = yield* SessionManager.rotateSession(mine)
      yield* SessionManager.getSession(request(), rotated.token!)
      for (const other of others) {
        expect((yield* Effect.flip(SessionManager.getSession(request(), other.token!)))._tag).toBe("InvalidSession")
      }
    }).pipe(Effect.provide(managerLayer())))
})

/**
 * A store that revokes by marking (as one that cannot remove a principal's sessions in one step
 * would): marked records are never served (`Revoked`), and `claimExpired` hands them out.
 */
const markingStore = Layer.effect(
  SessionStore.SessionStore,
  Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => {
    const marked = new Set<string>()
    const revokedOr = <A>(key: string, otherwise: Effect.Effect<A, any>) =>
      marked.has(key)
        ? Effect.map(inner.get(key), (record) => ({ _tag: "Revoked", record: Option.getOrThrow(record) }) as const)
        : otherwise
    return {
      ...inner,
      touch: (key, cutoff, touchBefore) => revokedOr(key, inner.touch(key, cutoff, touchBefore)),
      update: (key, patch, cutoff) => revokedOr(key, inner.update(key, patch, cutoff)),
      rekey: (key, next, limits, cutoff) => revokedOr(key, inner.rekey(key, next, limits, cutoff)),
      remove: (key, options) => Effect.tap(inner.remove(key, options), () => Effect.sync(() => marked.delete(key))),
      revoke: (principalId, options) =>
        Effect.map(inner.listByPrincipal(principalId), (records) => {
          const covered = records.filter((record) => record.key !== options?.except && !marked.has(record.key))
          for (const record of covered) marked.add(record.key)
          return { removed: [], marked: covered.length }
        }),
      list: Effect.map(inner.list, (records) => records.filter((record) => !marked.has(record.key))),
      listByPrincipal: (id) =>
        Effect.map(inner.listByPrincipal(id), (records) => records.filter((record) => !marked.has(record.key))),
      claimExpired: (cutoff, max) =>
        Effect.flatMap(
          Effect.forEach([...marked].slice(0, max), (key) => {
            marked.delete(key)
            return inner.remove(key)
          }),
          (claimed) =>
            Effect.map(
              inner.claimExpired(cutoff, max - claimed.length),
              (expired) => [...claimed.flatMap(Option.toArray), ...expired]
            )
        )
    }
  })
)

describe("a store that revokes by marking", () => {
  it.effect("marked sessions are never served; the next request or the sweep releases each once, as Revoked", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const [first, ...rest] = yield* Effect.forEach([1, 2, 3], () => SessionManager.openSession(request("alice")))
      // marked, not removed: closeAllOf counts them; their releases come later
      expect(yield* SessionManager.closeAllOf("alice")).toEqual({ closed: 3, failures: [] })
      expect(yield* SessionManager.sessionsOf("alice")).toEqual([])
      expect(yield* mock.released).toEqual([])
      const error = yield* Effect.flip(SessionManager.getSession(request(), first.token!))
      expect(error._tag === "InvalidSession" && error.reason).toBe("Revoked")
      expect(yield* mock.released).toEqual([first.key])
      const rotated = yield* Effect.flip(SessionManager.rotateSession(rest[0]))
      expect(rotated._tag === "InvalidSession" && rotated.reason).toBe("Revoked")
      const swept = yield* SessionManager.cleanSessions
      expect(swept).toMatchObject({ closed: 1, remaining: 0 })
      expect([...(yield* mock.released)].sort()).toEqual([first, ...rest].map((s) => s.key).sort())
      const again = yield* Effect.flip(SessionManager.getSession(request(), first.token!))
      expect(again._tag === "InvalidSession" && again.reason).toBe("Unknown")
    }).pipe(Effect.provide(
      SessionManager.layer({ sweepInterval: "off" }).pipe(
        Layer.provideMerge(markingStore),
        Layer.provideMerge(AuthManager.layerMock({ users }))
      )
    )))
})

describe("a logout racing a rotation of the same token", () => {
  // Whichever runs first, the logout closes the session: either before the rotation (which then
  // finds nothing) or after it, through the link the rotation left from the old key.
  for (const [logoutYields, rotateYields] of [[0, 0], [0, 1], [1, 0], [2, 0], [0, 3]]) {
    it.effect(`neither token works afterwards (logout after ${logoutYields}, rotation after ${rotateYields} yields)`, () =>
      Effect.gen(function*() {
        const mock = yield* AuthManager.MockAuthManager
        const opened = yield* SessionManager.openSession(request("alice"))
        const stale = { key: opened.key }
        const [logout, rotation] = yield* Effect.all([
          Effect.exit(
            Effect.zipRight(Effect.repeatN(Effect.yieldNow(), logoutYields), SessionManager.closeSession(stale))
          ),
          Effect.exit(
            Effect.zipRight(Effect.repeatN(Effect.yieldNow(), rotateYields), SessionManager.rotateSession(stale))
          )
        ], { concurrency: "unbounded" })
        expect(Exit.isSuccess(logout)).toBe(true)
        const tokens = [tokenOf(opened), ...(Exit.isSuccess(rotation) ? [tokenOf(rotation.value)] : [])]
        for (const token of tokens) {
          expect((yield* Effect.flip(SessionManager.getSession(request(), token)))._tag).toBe("InvalidSession")
        }
        expect(yield* SessionManager.currentSessions).toEqual([])
        expect(yield* mock.released).toHaveLength(1)
      }).pipe(Effect.provide(managerLayer())))
  }

  it.effect("a logout presented with a token rotated away twice closes the current session", () =>
    Effect.gen(function*() {
      const mock = yield* AuthManager.MockAuthManager
      const opened = yield* SessionManager.openSession(request())
      const once = yield* SessionManager.rotateSession(opened)
      const twice = yield* SessionManager.rotateSession(once, { principal: { id: "bob", anonymous: false } })
      yield* SessionManager.closeSession({ key: opened.key })
      expect((yield* Effect.flip(SessionManager.getSession(request(), twice.token!)))._tag).toBe("InvalidSession")
      expect(yield* mock.released).toEqual([twice.key])
      // getSession never resolves an old token to its successor
      const fresh = yield* SessionManager.openSession(request())
      const rotated = yield* SessionManager.rotateSession(fresh)
      const old = yield* Effect.flip(SessionManager.getSession(request(), fresh.token!))
      expect(old._tag === "InvalidSession" && old.reason).toBe("Unknown")
      yield* SessionManager.getSession(request(), rotated.token!)
    }).pipe(Effect.provide(managerLayer())))
})
