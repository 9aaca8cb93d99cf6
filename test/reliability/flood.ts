/**
 * Shared pieces of the flood suites: a counting auth manager, the manager on a memory store, and
 * sequential openings tallied by outcome. They run on the live clock.
 */
import { Effect, Layer } from "effect"
import type { Session } from "effect-session"
import { AuthManager, SessionManager, SessionStore } from "effect-session"
import { describeExit, request } from "./support.js"

/** A lightweight auth manager: `x-user` names the principal; releases are counted (the mock keeps a log). */
export const counting = () => {
  const stats = { releases: 0 }
  const layer = AuthManager.layer({
    authenticate: (req) => {
      const user = req.headers["x-user"]
      return Effect.succeed<Session.Principal>(
        user === undefined ? AuthManager.anonymous : { id: user, anonymous: false }
      )
    },
    release: () =>
      Effect.sync(() => {
        stats.releases++
      })
  })
  return { stats, layer }
}

export const setup = (options: SessionManager.Options, auth: Layer.Layer<AuthManager.AuthManager>) =>
  SessionManager.layer({ sweepInterval: "off", ...options }).pipe(
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provideMerge(auth)
  )

export const count = Effect.flatMap(SessionStore.SessionStore, (store) => store.count)
export const anonymousRequest = request()

/** Opens `n` sessions one after the other; counts outcomes by description. */
export const openMany = (n: number, req = anonymousRequest) =>
  Effect.gen(function*() {
    const manager = yield* SessionManager.SessionManager
    const outcomes = new Map<string, number>()
    for (let i = 0; i < n; i++) {
      const outcome = describeExit(yield* Effect.exit(manager.openSession(req)))
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    }
    return Object.fromEntries(outcomes)
  })

/** Waits (real time, bounded) until `predicate` holds: background releases of evicted sessions. */
export const eventually = (predicate: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500 && !predicate(); i++) yield* Effect.sleep("10 millis")
  })
