import { HttpServerRequest } from "@effect/platform"
import { Effect, Layer, Ref } from "effect"
import { AuthManager, SessionManager, SessionStore } from "effect-session"

/** A request, optionally as a user of the mock auth manager (`x-user` header). */
export const request = (user?: string, headers: Record<string, string> = {}) =>
  HttpServerRequest.fromWeb(
    new Request("http://localhost/", { headers: user === undefined ? headers : { ...headers, "x-user": user } })
  )

export const users = { alice: {}, bob: {}, carol: { password: "secret" } }

/** Counts calls per store operation, to prove which paths reach the store. */
export class StoreCalls extends Effect.Service<StoreCalls>()("test/StoreCalls", {
  effect: Ref.make<Record<string, number>>({})
}) {}

export const countingStore = Layer.effect(
  SessionStore.SessionStore,
  Effect.gen(function*() {
    const inner = yield* SessionStore.makeMemory
    const calls = yield* StoreCalls
    const count = (name: string) => Ref.update(calls, (all) => ({ ...all, [name]: (all[name] ?? 0) + 1 }))
    const wrap =
      <Args extends Array<any>, A, E>(name: string, f: (...args: Args) => Effect.Effect<A, E>) => (...args: Args) =>
        Effect.zipRight(count(name), f(...args))
    return {
      ...inner,
      insert: wrap("insert", inner.insert),
      get: wrap("get", inner.get),
      touch: wrap("touch", inner.touch),
      update: wrap("update", inner.update),
      rekey: wrap("rekey", inner.rekey),
      remove: wrap("remove", inner.remove),
      revoke: wrap("revoke", inner.revoke),
      listByPrincipal: wrap("listByPrincipal", inner.listByPrincipal),
      claimExpired: wrap("claimExpired", inner.claimExpired)
    }
  })
).pipe(Layer.provideMerge(StoreCalls.Default))

/**
 * A manager on a memory store with the mock auth manager (users alice, bob, carol/secret), the
 * sweeper off unless asked for, and the store and mock exposed to the test.
 */
export const managerLayer = (
  options: SessionManager.Options = {},
  mock: AuthManager.MockOptions = {}
) =>
  SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provideMerge(AuthManager.layerMock({ users, ...mock }))
  )

/** Lets forked fibers run up to their next real suspension (e.g. a TestClock sleep). */
export const settle = Effect.repeatN(Effect.yieldNow(), 20)

/** Waits (in yields, bounded) until a condition holds, for work the library runs in the background. */
export const eventually = (condition: Effect.Effect<boolean>, attempts = 1000): Effect.Effect<void> =>
  Effect.flatMap(condition, (holds) =>
    holds
      ? Effect.void
      : attempts <= 0
      ? Effect.die(new Error("condition never held"))
      : Effect.zipRight(Effect.yieldNow(), eventually(condition, attempts - 1)))

/** A manager on a memory store with the given auth manager, the sweeper off. */
export const managerWith = (auth: Layer.Layer<AuthManager.AuthManager>) =>
  SessionManager.layer({ sweepInterval: "off" }).pipe(Layer.provide(SessionStore.layerMemory), Layer.provide(auth))
