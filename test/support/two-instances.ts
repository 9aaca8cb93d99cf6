/**
 * Two managers ("instances") in one process over one shared store, each with its own mock auth
 * manager (users alice and bob) and its own reproducible token generator, for the races between
 * instances: `store()` builds each instance's store layer (the same memory store twice, or one
 * Redis client each).
 */
import { HttpServerRequest } from "@effect/platform"
import { expect } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import type { Session, SessionStore } from "effect-session"
import { AuthManager, SessionManager, SessionToken } from "effect-session"

export const twoInstances = <E>(store: () => Layer.Layer<SessionStore.SessionStore, E>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const instance = (seed: string) =>
      Layer.buildWithScope(
        SessionManager.layer({ sweepInterval: "off" }).pipe(
          Layer.provideMerge(store()),
          Layer.provideMerge(AuthManager.layerMock({ users: { alice: {}, bob: {} } })),
          Layer.provide(SessionToken.layerDeterministic(seed))
        ),
        scope
      )
    const a = yield* instance("instance-a")
    const b = yield* instance("instance-b")
    return {
      a: Context.get(a, SessionManager.SessionManager),
      b: Context.get(b, SessionManager.SessionManager),
      /** The keys both instances' auth managers released, in order. */
      released: Effect.map(
        Effect.all([
          Context.get(a, AuthManager.MockAuthManager).released,
          Context.get(b, AuthManager.MockAuthManager).released
        ]),
        ([ra, rb]) => [...ra, ...rb]
      ),
      scope
    }
  })

type Instances = Effect.Effect.Success<ReturnType<typeof twoInstances>>

/**
 * The race of issue 10: instance B rotates alice's four sessions in a loop (`rounds` rotations
 * each, as a validateSession that refreshes by replacement would) while instance A, after `wait`,
 * revokes her. Then checks that nothing survived: every token ever handed out for alice is
 * refused by both instances, neither lists a session of hers, each of the four was released
 * exactly once (after both instances' sweeps, for a store that revokes by marking), and bob's
 * session is untouched. Answers A's report.
 */
export const revokeWhileRotating = (
  { a, b, released }: Instances,
  options: { readonly rounds: number; readonly wait: Effect.Effect<void>; readonly between: Effect.Effect<void> }
) =>
  Effect.gen(function*() {
    const request = (user: string) =>
      HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: { "x-user": user } }))
    const anonymous = HttpServerRequest.fromWeb(new Request("http://localhost/"))
    const opened = yield* Effect.forEach([1, 2, 3, 4], () => b.openSession(request("alice")))
    const bob = yield* b.openSession(request("bob"))
    const seen: Array<Session.Session> = [...opened]
    const rotating = yield* Effect.forEach(opened, (first) =>
      Effect.gen(function*() {
        let current = first
        for (let round = 0; round < options.rounds; round++) {
          const next = yield* Effect.exit(b.rotateSession(current))
          if (Exit.isFailure(next)) return
          current = next.value
          seen.push(current)
          yield* options.between
        }
      }).pipe(Effect.fork))
    yield* options.wait
    const report = yield* a.closeAllOf("alice")
    yield* Fiber.joinAll(rotating)
    for (const session of seen) {
      for (const instance of [a, b]) {
        const error = yield* Effect.flip(instance.getSession(anonymous, session.token!))
        expect(error._tag).toBe("InvalidSession")
      }
    }
    expect(yield* a.sessionsOf("alice")).toEqual([])
    expect(yield* b.sessionsOf("alice")).toEqual([])
    yield* a.cleanSessions
    yield* b.cleanSessions
    const keys = yield* released
    expect(keys).toHaveLength(4)
    expect(new Set(keys).size).toBe(4)
    yield* a.getSession(anonymous, bob.token!)
    return report
  })
