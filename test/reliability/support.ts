/** Helpers shared by the reliability suites. */
import { HttpServerRequest } from "@effect/platform"
import { Cause, Effect, Exit, Layer, Logger, Option } from "effect"
import { AuthManager, SessionManager, SessionStore, SessionToken } from "effect-session"
import * as v8 from "node:v8"
import * as vm from "node:vm"

/** A request, as a user of the mock auth manager (`x-user` header) or anonymous. */
export const request = (user?: string) =>
  HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: user === undefined ? {} : { "x-user": user } }))

/** A well-formed token that no generator ever minted, and a malformed one. */
export const forgedToken = "A".repeat(43)
export const malformedToken = "not-a-token"

/** Users known to the mock used by these suites. */
export const mockUsers = { alice: {}, bob: {}, carol: {} }

/**
 * The session manager over a given store layer, with the mock auth manager and deterministic
 * tokens; exposes the manager, the store, `AuthManager` and `MockAuthManager`.
 */
export const managerLayer = <E, R>(
  options: SessionManager.Options,
  store: Layer.Layer<SessionStore.SessionStore, E, R> = SessionStore.layerMemory as Layer.Layer<
    SessionStore.SessionStore,
    E,
    R
  >,
  auth: Layer.Layer<AuthManager.AuthManager | AuthManager.MockAuthManager> = AuthManager.layerMock({
    users: mockUsers
  }),
  seed = "reliability"
) =>
  SessionManager.layer(options).pipe(
    Layer.provide(SessionToken.layerDeterministic(seed)),
    Layer.provideMerge(store),
    Layer.provideMerge(auth)
  )

/** A one-line description of an operation's outcome: `ok...`, `<ErrorTag>:<reason>...`, or `DEFECT...`. */
export const describeExit = <A>(exit: Exit.Exit<A, unknown>, onSuccess: (value: A) => string = () => "ok"): string => {
  if (Exit.isSuccess(exit)) return onSuccess(exit.value)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    return Cause.isInterruptedOnly(exit.cause) ? "INTERRUPTED" : `DEFECT:${Cause.pretty(exit.cause)}`
  }
  const error = failure.value as { readonly _tag?: string; readonly [key: string]: unknown }
  switch (error._tag) {
    case "InvalidSession":
      return `InvalidSession:${error.reason}${error.limit === undefined ? "" : `:${error.limit}`}`
    case "SessionLimitError":
      return `SessionLimitError:${error.limit}`
    case "SessionCloseError":
    case "SessionStoreError":
    case "SessionDataError":
      return `${error._tag}:${error.reason}`
    case "AuthManagerError":
      return `AuthManagerError:${error.operation}:${error.reason}`
    case "ExplicitLogin":
      return "ExplicitLogin"
    default:
      return `UNTYPED:${String(error)}`
  }
}

/** Collects log lines (level and message) into an array. */
export const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) as Layer.Layer<never> }
}

/**
 * Yields until `done` holds (checked after each yield), at most `max` times: lets daemon fibers
 * (releases of evicted sessions) finish without depending on time.
 */
export const settle = <E, R>(done: Effect.Effect<boolean, E, R>, max = 2000): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < max; i++) {
      if (yield* done) return
      yield* Effect.yieldNow()
    }
  })

/**
 * A forced garbage collection: `global.gc` when Node runs with `--expose-gc`, else the same
 * function obtained at run time (`v8.setFlagsFromString` + a fresh context), as Jest's leak
 * detector does. Throws if neither works, so heap assertions never silently pass.
 */
export const forceGc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === "function") return exposed
  v8.setFlagsFromString("--expose-gc")
  const gc = vm.runInNewContext("gc") as unknown
  if (typeof gc !== "function") throw new Error("cannot obtain a gc function")
  return gc as () => void
})()

/** Heap in use after a full collection (several passes, so that weak and finalizable objects go). */
export const heapAfterGc = (): number => {
  for (let i = 0; i < 3; i++) forceGc()
  return process.memoryUsage().heapUsed
}
