/**
 * The session of a request, on demand: nothing is read until a handler asks, and a visitor
 * without a session gets one that is stored only when something is written to it.
 *
 * - `read`: the first call reads the token (strict cookie reader, or `Authorization: Bearer`),
 *   looks it up (touched only when due), or authenticates a visitor without one and hands back a
 *   session that is not stored yet. Later calls, concurrent ones included, get the same answer.
 * - `persist`: stores a session that is not stored yet (`SessionManager.openSessionFor`), except on
 *   a cross-site request without a live cookie, whose response must not set one (I10).
 *
 * @internal
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { anonymous } from "../../AuthManager.js"
import type { Current, Failure, Service } from "../../HttpSession.js"
import type * as Session from "../../Session.js"
import {
  AuthManagerError,
  ExplicitLogin,
  InvalidSession,
  SessionLimitError,
  SessionStoreError
} from "../../SessionError.js"
import * as SessionToken from "../../SessionToken.js"
import * as cookie from "./cookie.js"
import * as csrf from "./csrf.js"
import * as State from "./state.js"
import * as writer from "./writer.js"

/** The failures the HTTP layer answers itself. @internal */
export const isFailure = (u: unknown): u is Failure =>
  u instanceof ExplicitLogin || u instanceof InvalidSession || u instanceof AuthManagerError ||
  u instanceof SessionStoreError || u instanceof SessionLimitError

/** @internal */
export const isUnavailable = (error: Failure): boolean =>
  error._tag === "SessionStoreError" || error._tag === "SessionLimitError" || error._tag === "AuthManagerError"

/** A failure without its cause or session id, for a response body. @internal */
export const sanitize = (error: Failure): Failure => {
  switch (error._tag) {
    case "ExplicitLogin":
      return new ExplicitLogin({ message: error.message })
    case "InvalidSession":
      return new InvalidSession({ reason: error.reason })
    case "AuthManagerError":
      return new AuthManagerError({ operation: error.operation, reason: error.reason })
    case "SessionStoreError":
      return new SessionStoreError({ reason: error.reason, operation: error.operation })
    case "SessionLimitError":
      return new SessionLimitError({ limit: error.limit, max: error.max })
  }
}

/** Fails with `error`, noting a 503 (the cookie is then left alone). @internal */
export const failWith = <E>(state: State.State, error: E): Effect.Effect<never, E> => {
  if (!isFailure(error)) return Effect.fail(error)
  if (isUnavailable(error)) state.unavailable = true
  return Effect.fail((state.sanitize ? sanitize(error) : error) as E)
}

// ---------------------------------------------------------------------------------------------
// The state of the running request
// ---------------------------------------------------------------------------------------------

/**
 * Runs `f` with the state of the request being handled: the one the middleware set, or a new one
 * for a route mounted without it (`login` / `logout` outside the middleware).
 *
 * @internal
 */
export const withState = <A, E, R>(f: (state: State.State) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const state = fiber.getFiberRef(State.ref)
    const context = fiber.currentContext
    const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
    if (State.belongsTo(state, request)) return f(state)
    const http: Service | undefined = context.unsafeMap.get(State.SERVICE_KEY)
    if (http === undefined) return Effect.dieMessage("HttpSession: the HttpSession layer is not provided")
    const created = State.make(http, request, "cookie", { sanitize: false, inline: false })
    return Effect.zipRight(FiberRef.set(State.ref, created), f(created))
  })

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

const BEARER = /^bearer +([^\s,]+) *$/i

/** The request's token, strictly: the session cookie, or `Authorization: Bearer <token>`. @internal */
export const tokenOf = (state: State.State): cookie.Lookup => {
  const headers = state.request.headers
  if (state.transport === "cookie") return cookie.lookup(headers["cookie"], state.http.settings.cookie.name)
  const authorization = headers["authorization"]
  if (authorization === undefined) return cookie.missing
  if (authorization.length > 1024) return { _tag: "Oversized", length: authorization.length }
  const match = BEARER.exec(authorization)
  // another scheme (e.g. Basic credentials for a login) is no session token
  return match === null ? cookie.missing : { _tag: "Present", value: match[1] }
}

/** The answer of the request's one `authenticate` call. @internal */
export const authenticate = (
  state: State.State
): Effect.Effect<Session.Principal, ExplicitLogin | AuthManagerError> => {
  if (state.principal !== undefined) return state.principal
  return Effect.flatMap(Effect.exit(state.http.manager.authenticate(state.request)), (exit) => {
    state.principal = exit
    return exit
  })
}

// After logout or a refused login: the anonymous principal this request authenticated as, else
// the standard one.
const anonymousPrincipal = (state: State.State): Session.Principal =>
  state.principal !== undefined && Exit.isSuccess(state.principal) && state.principal.value.anonymous
    ? state.principal.value
    : anonymous

/** A session for `principal`, born `now`, not stored. @internal */
export const unstored = (state: State.State, principal: Session.Principal, now: number): Session.Session => {
  const absolute = state.http.manager.settings.policy.absolute
  return {
    key: "",
    principal,
    createdAt: now,
    lastUsedAt: now,
    expiresAt: absolute === Infinity ? null : now + absolute,
    data: {}
  }
}

/** A session for a visitor without one: not stored until something is written to it. */
const fresh = (state: State.State): Effect.Effect<Session.Session, Failure> => {
  const principal = state.anonymous ? Effect.succeed(anonymousPrincipal(state)) : authenticate(state)
  return Effect.matchEffect(principal, {
    onFailure: (error) => failWith(state, error),
    onSuccess: (principal) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const session = unstored(state, principal, now)
        state.session = session
        state.stored = false
        state.opened = true
        return session
      })
  })
}

/** The token came but names no live session: a new one, or a 401 with `onInvalid: "unauthorized"`. */
const refused = (state: State.State, error: InvalidSession): Effect.Effect<Session.Session, Failure> => {
  state.rejected = error
  state.expire = "dead"
  const log = Effect.logDebug("session token refused").pipe(
    Effect.annotateLogs({ reason: error.reason, session: error.sessionId ?? "" })
  )
  const registration = writer.need(state)
  return Effect.zipRight(
    registration === undefined ? log : Effect.zipRight(log, registration),
    state.http.settings.onInvalid === "unauthorized" ? failWith(state, error) : fresh(state)
  )
}

/** Marks the cookie as coming twice and fails: nothing is guessed, every copy is expired. @internal */
export const ambiguous = (state: State.State, count: number): Effect.Effect<never, Failure> => {
  state.expire = "ambiguous"
  const log = Effect.logDebug("session cookie refused: sent more than once").pipe(Effect.annotateLogs({ count }))
  const registration = writer.need(state)
  return Effect.zipRight(
    registration === undefined ? log : Effect.zipRight(log, registration),
    failWith(state, new InvalidSession({ reason: "Ambiguous" }))
  )
}

// The end of a read: later reads get its answer, concurrent ones are woken up.
const settle = (state: State.State, exit: Exit.Exit<Session.Session, Failure>) => {
  state.loader = undefined
  if (Exit.isFailure(exit) && exit.cause._tag === "Fail") state.failure = exit.cause.error
  const waiters = state.waiters
  if (waiters !== undefined) {
    state.waiters = undefined
    Deferred.unsafeDone(waiters, exit)
  }
}

const settled = (state: State.State) => ({
  onFailure: (error: Failure) => {
    const exit = Exit.fail(error)
    settle(state, exit)
    return exit
  },
  onSuccess: (session: Session.Session) => {
    const exit = Exit.succeed(session)
    settle(state, exit)
    return exit
  }
})

const load = (state: State.State): Effect.Effect<Session.Session, Failure> => {
  const found = state.loggedOut ? cookie.missing : tokenOf(state)
  switch (found._tag) {
    case "Missing":
      return Effect.matchEffect(fresh(state), settled(state))
    case "Ambiguous":
      return Effect.matchEffect(ambiguous(state, found.count), settled(state))
    case "Oversized":
      return Effect.matchEffect(refused(state, new InvalidSession({ reason: "Malformed" })), settled(state))
    case "Present": {
      // format first: a malformed value never reaches the store, a log or a span
      if (!SessionToken.isWellFormed(found.value)) {
        return Effect.matchEffect(refused(state, new InvalidSession({ reason: "Malformed" })), settled(state))
      }
      const token = found.value
      return Effect.matchEffect(state.http.manager.lookupSession(state.request, token), {
        onFailure: (error) =>
          Effect.matchEffect(
            error._tag === "InvalidSession" ? refused(state, error) : failWith(state, error),
            settled(state)
          ),
        onSuccess: ({ session, touched }) => {
          state.session = session
          state.stored = true
          state.incoming = token
          settle(state, Exit.succeed(session))
          if (!touched) return Effect.succeed(session)
          // the idle deadline moved (or validateSession replaced the session under a new token)
          state.moved = true
          return writer.noted(state, session)
        }
      })
    }
  }
}

/**
 * The session of the request, read on first use; every later read gets the same answer, and a
 * read concurrent with the first waits for it (or reads again if the first was interrupted).
 *
 * @internal
 */
export const read = (state: State.State): Effect.Effect<Session.Session, Failure> => {
  if (state.session !== undefined) return Effect.succeed(state.session)
  if (state.failure !== undefined) return Effect.fail(state.failure)
  const loader = state.loader
  if (loader !== undefined && loader.unsafePoll() === null) {
    const waiters = state.waiters ??= Deferred.unsafeMake<Session.Session, Failure>(FiberId.none)
    // the first reader was interrupted if its fiber ends before answering: read again
    return Effect.raceFirst(
      Deferred.await(waiters),
      Effect.zipRight(Fiber.await(loader), Effect.suspend(() => read(state)))
    )
  }
  state.loader = Option.getOrUndefined(Fiber.getCurrentFiber())
  return load(state)
}

// ---------------------------------------------------------------------------------------------
// Storing
// ---------------------------------------------------------------------------------------------

/**
 * Makes `session` (not stored yet) the request's session and stores it, with its data. On a
 * cross-site request that came without a live cookie it stays unstored: its response cannot set
 * a cookie without replacing the user's (I10).
 *
 * @internal
 */
export const store = (
  state: State.State,
  session: Session.Session
): Effect.Effect<Session.Session, Failure> => {
  if (state.transport === "cookie" && csrf.isCrossSite(state.request, state.http.settings)) {
    state.session = session
    state.stored = false
    return Effect.succeed(session)
  }
  const opened = Object.keys(session.data).length === 0
    ? state.http.manager.openSessionFor(session.principal)
    : state.http.manager.openSessionFor(session.principal, { data: session.data })
  return Effect.matchEffect(opened, {
    // data came through Session.encode: a SessionDataError cannot happen, but is typed
    onFailure: (error) => error._tag === "SessionDataError" ? Effect.die(error) : failWith(state, error),
    onSuccess: (stored) => {
      state.session = stored
      state.stored = true
      state.loggedOut = false
      return writer.noted(state, stored)
    }
  })
}

/** The request's session, stored (see `store`). @internal */
export const persist = (state: State.State): Effect.Effect<Session.Session, Failure> =>
  Effect.flatMap(read(state), (session) => state.stored ? Effect.succeed(session) : store(state, session))

/**
 * Takes a session a manager operation returned as the request's session: a value of the same
 * session without its token (a listing) keeps the live token; a later `lastUsedAt` moves the
 * rolling deadline.
 *
 * @internal
 */
export const keep = (state: State.State, session: Session.Session): Effect.Effect<Session.Session> => {
  const live = state.session
  // tokens are compared by their keys (reading a session's `token` may build a Redacted)
  const next = !("token" in session) && live !== undefined && live.key === session.key && "token" in live
    ? { ...session, token: live.token }
    : session
  const changed = live === undefined || live.key !== next.key || next.lastUsedAt > live.lastUsedAt
  if (live !== undefined && next.lastUsedAt > live.lastUsedAt) state.moved = true
  state.session = next
  state.stored = true
  state.loggedOut = false
  return changed ? writer.noted(state, next) : Effect.succeed(next)
}

// A failure of an operation on the stored session: an `InvalidSession` naming it (closed under
// the request) expires the cookie.
const failed = (state: State.State) => <E>(error: E): Effect.Effect<never, E> => {
  if (
    error instanceof InvalidSession && state.session !== undefined &&
    error.sessionId === SessionToken.shortId(state.session.key)
  ) {
    state.expire = "dead"
    state.stored = false
    const registration = writer.need(state)
    return registration === undefined
      ? failWith(state, error)
      : Effect.zipRight(registration, failWith(state, error))
  }
  return failWith(state, error)
}

/** Runs a manager operation on the stored session, its failures noted (see `failed`). @internal */
export const guarded = <A, E>(state: State.State, operation: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.catchAll(operation, failed(state))

/** Runs a manager operation on the stored session; its result becomes the request's session. @internal */
export const managed = <E>(
  state: State.State,
  operation: Effect.Effect<Session.Session, E>
): Effect.Effect<Session.Session, E> =>
  Effect.matchEffect(operation, { onFailure: failed(state), onSuccess: (session) => keep(state, session) })

/**
 * The `CurrentSession` service: one value, provided once by the layer; it reads the state of the
 * request being handled from the fiber.
 *
 * @internal
 */
export const current: Current = {
  get: withState(read),
  get opened() {
    const fiber = Option.getOrUndefined(Fiber.getCurrentFiber())
    return fiber?.getFiberRef(State.ref)?.opened ?? false
  }
}
