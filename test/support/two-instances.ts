/**
 * Two managers ("instances") in one process over one shared store, each with its own mock auth
 * manager (users alice and bob) and its own reproducible token generator, for the races between
 * instances: `store()` builds each instance's store layer (the same memory store twice, or one
 * Redis client each).
 */
import { Context, Effect, Layer, Scope } from "effect"
import type { SessionStore } from "effect-session"
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
