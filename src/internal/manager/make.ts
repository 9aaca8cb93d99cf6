/**
 * Builds a session manager: validates the options (and the store's view of the policy), decides
 * tracing once, assembles the operations, starts the background sweeper, and at shutdown waits for
 * releases in flight and releases what a non-persistent store held.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { AuthManager } from "../../AuthManager.js"
import type { SessionConfigError } from "../../SessionError.js"
import type { Options, Service, SessionEvent } from "../../SessionManager.js"
import { SessionStore } from "../../SessionStore.js"
import * as SessionToken from "../../SessionToken.js"
import * as expiry from "../expiry.js"
import type { Context } from "./context.js"
import * as data from "./data.js"
import * as operations from "./operations.js"
import * as options from "./options.js"
import * as release from "./release.js"
import * as sweeper from "./sweeper.js"

// Effect's built-in tracer exports nothing, yet each span captures a stack trace and costs more
// than a whole session lookup: spans only when another tracer is installed.
const builtInTracer = Effect.runSync(Effect.tracer)

const identity = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => self

/** @internal */
export const make = (given: Options = {}): Effect.Effect<
  Service,
  SessionConfigError,
  AuthManager | SessionStore | Scope.Scope
> =>
  Effect.gen(function*() {
    const settings = yield* options.validate(given)
    const auth = yield* AuthManager
    const store = yield* SessionStore
    const generator = yield* SessionToken.TokenGenerator
    const policy = settings.policy
    // a store with its own safety nets (TTLs) refuses a policy they would contradict
    if (store.validatePolicy !== undefined) yield* store.validatePolicy(policy)
    const events = yield* Effect.acquireRelease(PubSub.sliding<SessionEvent>(1024), PubSub.shutdown)
    const tracing = (yield* Effect.tracer) !== builtInTracer
    const context: Context = {
      settings,
      clock: yield* Effect.clock,
      policy,
      store,
      auth,
      generator,
      events,
      releases: release.make({ auth, store, policy, releaseTimeout: settings.releaseTimeout, events }),
      tracing,
      traced: tracing
        ? (name, key) => (self) =>
          Effect.withSpan(
            self,
            name,
            key === undefined ? {} : { attributes: { "session.id": SessionToken.shortId(key) } }
          )
        : () => identity
    }

    // At shutdown: wait for releases in flight; a non-persistent store's sessions die with the
    // process, so release them (a persistent store keeps them for the next process).
    yield* Effect.addFinalizer(() =>
      Effect.forEach(context.releases.inFlight(), Deferred.await, { discard: true }).pipe(
        Effect.zipRight(store.persistent ? Effect.void : sweeper.sweep(context, expiry.everything, "Shutdown")),
        Effect.catchAllCause((cause) => Effect.logError("session shutdown incomplete", cause))
      )
    )
    if (Option.isSome(settings.sweepInterval)) yield* sweeper.start(context, settings.sweepInterval.value)

    return {
      settings,
      ...operations.make(context),
      ...data.make(context),
      cleanSessions: sweeper.clean(context).pipe(context.traced("SessionManager.cleanSessions")),
      events: Stream.fromPubSub(events)
    }
  })
