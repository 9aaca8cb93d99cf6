/**
 * The one guard around user auth code (`AuthManager.authenticate` and `validateSession`), used by
 * the manager and, through `SessionManager.authenticate`, by the HTTP layer:
 *
 * - bounded in time: still running after `authTimeout`, it fails with `AuthManagerError`
 *   (`Timeout`); `Effect.disconnect` answers the caller at the deadline even if the call ignores
 *   interruption (it is then interrupted in the background and its late answer discarded);
 * - an exception thrown while building the effect, and a defect while running it, fail with
 *   `AuthManagerError` (`Defect`);
 * - an answer that breaks the data rules (a principal or a replacement session holding something
 *   that is not JSON, or times that are not numbers) fails with `AuthManagerError` (`Invalid`),
 *   identical on every store: nothing reaches a store unchecked;
 * - an answer that is already complete (`Effect.succeed`, `Effect.fail`) is settled inline, with
 *   no fiber and no timer.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as AuthManager from "../AuthManager.js"
import type * as Session from "../Session.js"
import { AuthManagerError, type ExplicitLogin, type InvalidSession, SessionDataError } from "../SessionError.js"
import * as json from "./json.js"

type Operation = AuthManagerError["operation"]

/** Builds user code into an effect: one that throws instead of returning an effect is a defect. @internal */
export const build = <A, E>(effect: () => Effect.Effect<A, E>): Effect.Effect<A, E> => {
  try {
    return effect()
  } catch (defect) {
    return Effect.die(defect)
  }
}

const guarded = <A, E>(
  operation: Operation,
  timeout: Duration.Duration,
  effect: () => Effect.Effect<A, E>,
  check: (answer: A) => A | AuthManagerError
): Effect.Effect<A, E | AuthManagerError> => {
  const checked = (answer: A): Effect.Effect<A, AuthManagerError> => {
    const result = check(answer)
    return result instanceof AuthManagerError ? Effect.fail(result) : Effect.succeed(result)
  }
  const built = build(effect)
  // Already complete (Effect.succeed, Effect.fail, ...): nothing to bound, no fiber or timer.
  if (Exit.isExit(built)) {
    const exit = built as Exit.Exit<A, E>
    if (Exit.isSuccess(exit)) return checked(exit.value)
    return Cause.isDie(exit.cause)
      ? Effect.fail(new AuthManagerError({ operation, reason: "Defect", cause: exit.cause }, true))
      : exit
  }
  return built.pipe(
    Effect.disconnect,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new AuthManagerError({ operation, reason: "Timeout" }, true)
    }),
    Effect.catchAllDefect((cause) => Effect.fail(new AuthManagerError({ operation, reason: "Defect", cause }, true))),
    Effect.flatMap(checked)
  )
}

const invalid = (operation: Operation, key: string) =>
  new AuthManagerError({
    operation,
    reason: "Invalid",
    cause: new SessionDataError({ key, reason: "NotJson" }, true)
  }, true)

/** A principal from the auth manager, checked and frozen (`principal` names the failing part). */
const principalOf = (operation: Operation, principal: Session.Principal): Session.Principal | AuthManagerError => {
  const checked = typeof principal === "object" && principal !== null ? json.checkedPrincipal(principal) : json.notJson
  return checked === json.notJson ? invalid(operation, "principal") : checked
}

const isTime = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

/**
 * A replacement session from `validateSession`, checked by the rules of `setData` (data), of a
 * principal, and of times (finite numbers; `expiresAt` may be `null`), with principal and data
 * copied and frozen.
 */
const replacementOf = (session: Session.Session): Session.Session | AuthManagerError => {
  if (typeof session !== "object" || session === null) return invalid("validateSession", "session")
  const principal = principalOf("validateSession", session.principal)
  if (principal instanceof AuthManagerError) return principal
  const data = json.checkedData(session.data)
  if (data instanceof json.Invalid) return invalid("validateSession", data.name === "" ? "data" : data.name)
  if (!isTime(session.createdAt) || !(session.expiresAt === null || isTime(session.expiresAt))) {
    return invalid("validateSession", "times")
  }
  return { ...session, principal, data }
}

/** Runs the auth manager's `authenticate` under the guard; the principal comes back checked and frozen. @internal */
export const authenticate = (
  auth: AuthManager.Service,
  timeout: Duration.Duration,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Session.Principal, ExplicitLogin | AuthManagerError> =>
  guarded(
    "authenticate",
    timeout,
    () => auth.authenticate(request),
    (principal) => principalOf("authenticate", principal)
  )

/**
 * Runs the auth manager's `validateSession` under the guard. The answer is the session given
 * (accepted), or a replacement checked as above (the same object when nothing was wrong).
 *
 * @internal
 */
export const validateSession = (
  auth: AuthManager.Service,
  timeout: Duration.Duration,
  request: HttpServerRequest.HttpServerRequest,
  session: Session.Session
): Effect.Effect<Session.Session, InvalidSession | AuthManagerError> =>
  guarded(
    "validateSession",
    timeout,
    () => auth.validateSession(request, session),
    (answer) => answer === session ? answer : replacementOf(answer)
  )
