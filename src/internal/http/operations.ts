/**
 * What handlers do with the request's session: data, rotation, login, logout, flash values and
 * the synchronizer token. A session that is not stored yet is stored by its first write, a
 * rotation or a login; `login` authenticates through the manager's guard, once per request.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Failure } from "../../HttpSession.js"
import * as Session from "../../Session.js"
import type { InvalidSession } from "../../SessionError.js"
import { ExplicitLogin, type SessionDataError } from "../../SessionError.js"
import * as SessionToken from "../../SessionToken.js"
import * as csrf from "./csrf.js"
import {
  ambiguous,
  authenticate,
  failWith,
  guarded,
  keep,
  managed,
  persist,
  read,
  store,
  tokenOf,
  unstored
} from "./session.js"
import type { State } from "./state.js"
import * as writer from "./writer.js"

const hasOwn = (data: Session.Data, name: string) => Object.prototype.hasOwnProperty.call(data, name)

/** The session data with one value set, as a new object (a `__proto__` key stays an own key). */
const withValue = (data: Session.Data, name: string, value: Session.Json): Session.Data => {
  const next: { [key: string]: Session.Json } = { ...data }
  Object.defineProperty(next, name, { value, enumerable: true, writable: true, configurable: true })
  return next
}

const without = (data: Session.Data, names: ReadonlyArray<string>): Session.Data => {
  const next: { [key: string]: Session.Json } = {}
  for (const name of Object.keys(data)) {
    if (!names.includes(name)) {
      Object.defineProperty(next, name, { value: data[name], enumerable: true, writable: true, configurable: true })
    }
  }
  return next
}

/** @internal */
export const getData = <A, I extends Session.Json>(
  state: State,
  key: Session.DataKey<A, I>
): Effect.Effect<Option.Option<A>, Failure | SessionDataError> =>
  Effect.flatMap(read(state), (session) =>
    state.stored
      ? guarded(state, state.http.manager.getData(session, key))
      : Session.get(session, key))

/** @internal */
export const setData = <A, I extends Session.Json>(
  state: State,
  key: Session.DataKey<A, I>,
  value: A
): Effect.Effect<Session.Session, Failure | SessionDataError> =>
  Effect.flatMap(read(state), (session) =>
    state.stored
      ? managed(state, state.http.manager.setData(session, key, value))
      : Effect.flatMap(
        Session.encode(key, value),
        (json) => store(state, { ...session, data: withValue(session.data, key.name, json) })
      ))

/** @internal */
export const updateData = <A, I extends Session.Json>(
  state: State,
  key: Session.DataKey<A, I>,
  f: (current: Option.Option<A>) => A
): Effect.Effect<Session.Session, Failure | SessionDataError> =>
  Effect.flatMap(read(state), (session) =>
    state.stored
      ? managed(state, state.http.manager.updateData(session, key, f))
      : Effect.flatMap(
        Effect.flatMap(Session.get(session, key), (current) => Session.encode(key, f(current))),
        (json) => store(state, { ...session, data: withValue(session.data, key.name, json) })
      ))

/** @internal */
export const removeData = (
  state: State,
  names: ReadonlyArray<string>
): Effect.Effect<Session.Session, Failure> =>
  Effect.flatMap(read(state), (session) => {
    if (state.stored) return managed(state, state.http.manager.removeData(session, ...names))
    // nothing stored: nothing to store for a removal
    state.session = { ...session, data: without(session.data, names) }
    return Effect.succeed(state.session)
  })

/** A one-shot value: read once, removed as it is read (scs's `Pop`). @internal */
export const pop = <A, I extends Session.Json>(
  state: State,
  key: Session.DataKey<A, I>
): Effect.Effect<Option.Option<A>, Failure | SessionDataError> =>
  Effect.flatMap(read(state), (session) => {
    // the data read with the session this request: no store access when there is nothing to pop
    if (!hasOwn(session.data, key.name)) return Effect.succeedNone
    return Effect.flatMap(
      Session.decode(key, session.data[key.name]),
      (value) => Effect.as(removeData(state, [key.name]), Option.some(value))
    )
  })

/** @internal */
export const rotate = (state: State): Effect.Effect<Session.Session, Failure> =>
  Effect.flatMap(read(state), (session) =>
    state.stored
      ? managed(state, state.http.manager.rotateSession(session))
      : persist(state))

/** @internal */
export const adopt = (state: State, session: Session.Session): Effect.Effect<void> =>
  Effect.asVoid(keep(state, session))

const CsrfToken = Session.dataKey(csrf.TOKEN_KEY, Schema.String)

/** The session's synchronizer token, made (and the session stored) on first use. @internal */
export const csrfToken = (state: State): Effect.Effect<string, Failure | SessionDataError> =>
  Effect.flatMap(read(state), (session) => {
    const existing = session.data[csrf.TOKEN_KEY]
    if (typeof existing === "string" && SessionToken.isWellFormed(existing)) return Effect.succeed(existing)
    return Effect.flatMap(SessionToken.TokenGenerator, (generator) =>
      Effect.flatMap(generator.generate, (token) => {
        const value = Redacted.value(token)
        return Effect.as(setData(state, CsrfToken, value), value)
      }))
  })

/** Whether the token sent with the request (header or form field) is the session's. @internal */
export const verifyCsrfToken = (state: State): Effect.Effect<boolean, Failure> =>
  Effect.flatMap(read(state), (session) => {
    const expected = session.data[csrf.TOKEN_KEY]
    if (!state.stored || typeof expected !== "string") return Effect.succeed(false)
    const header = state.request.headers[csrf.TOKEN_HEADER]
    if (header !== undefined) return Effect.succeed(csrf.tokensEqual(expected, header))
    const type = state.request.headers["content-type"] ?? ""
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) return Effect.succeed(false)
    return Effect.match(state.request.urlParamsBody, {
      onFailure: () => false,
      onSuccess: (params) => {
        const given = params.find(([name]) => name === csrf.TOKEN_FIELD)?.[1]
        return given !== undefined && csrf.tokensEqual(expected, given)
      }
    })
  })

const samePrincipal = (a: Session.Principal, b: Session.Principal) => a.id === b.id && a.anonymous === b.anonymous

/**
 * Logs the request in: the principal from the request's one `authenticate` (through the manager's
 * guard), then the session the request names rotated to it (the old token dies), or a new one.
 * A rotation that loses to a concurrent one (a double-submitted form) opens a new session instead
 * of failing. Refused credentials leave the rest of the request to an anonymous visitor: a later
 * read of a request without a session gets an anonymous one without authenticating again.
 *
 * @internal
 */
export const login = (state: State): Effect.Effect<Session.Session, Failure> =>
  Effect.matchEffect(authenticate(state), {
    onFailure: (error) => {
      // refused credentials: the rest of the request is an anonymous visitor's (e.g. to flash why)
      if (error._tag === "ExplicitLogin") state.anonymous = true
      return failWith(state, error)
    },
    onSuccess: (principal): Effect.Effect<Session.Session, Failure> => {
      if (principal.anonymous) return failWith(state, new ExplicitLogin({ message: "credentials required" }))
      const live = state.session
      // opened from this request's own credentials (open: "eager"): nothing to rotate
      if (live !== undefined && state.stored && state.opened && samePrincipal(live.principal, principal)) {
        return Effect.succeed(live)
      }
      let rotated: string | undefined
      let token: string | undefined
      if (state.stored) {
        rotated = live!.key
      } else if (live === undefined && !state.loggedOut) {
        const found = tokenOf(state)
        if (found._tag === "Ambiguous") return ambiguous(state, found.count)
        if (found._tag === "Present" && SessionToken.isWellFormed(found.value)) {
          token = found.value
          rotated = SessionToken.hash(found.value)
        }
      }
      const opened = () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          state.opened = true
          return store(state, unstored(state, principal, now))
        })
      if (rotated === undefined) return opened()
      return Effect.matchEffect(state.http.manager.rotateSession({ key: rotated }, { principal }), {
        // gone meanwhile (a concurrent login rotated it, a logout closed it): a new session
        onFailure: (error) => error._tag === "InvalidSession" ? opened() : failWith(state, error),
        onSuccess: (session) => {
          if (token !== undefined) state.incoming = token
          state.opened = false
          state.rejected = undefined
          state.expire = "no"
          return keep(state, session)
        }
      })
    }
  })

/**
 * Logs the request out: closes the session it names (and what a concurrent rotation turned it
 * into) and expires the cookie. A later read gets a new anonymous session, stored if written to
 * (a flash message).
 *
 * @internal
 */
export const logout = (state: State): Effect.Effect<void, Failure> => {
  let key: string | undefined
  if (state.stored) {
    key = state.session!.key
  } else if (state.session === undefined && !state.loggedOut) {
    const found = tokenOf(state)
    if (found._tag === "Ambiguous") state.expire = "ambiguous"
    if (found._tag === "Present" && SessionToken.isWellFormed(found.value)) key = SessionToken.hash(found.value)
  }
  const closed = key === undefined ? Effect.void : state.http.manager.closeSession({ key }).pipe(
    Effect.catchTags({
      SessionCloseError: (error) =>
        Effect.logWarning("session closed, its release failed").pipe(
          Effect.annotateLogs({ session: error.sessionId, reason: error.reason })
        ),
      SessionStoreError: (error) => failWith(state, error)
    })
  )
  return Effect.zipRight(
    closed,
    Effect.suspend(() => {
      state.session = undefined
      state.stored = false
      state.failure = undefined
      state.loggedOut = true
      state.anonymous = true
      state.opened = false
      state.moved = false
      if (state.expire !== "ambiguous") state.expire = "logout"
      return writer.need(state) ?? Effect.void
    })
  )
}

/** Why the token the request came with was refused, if it was (after reading the session). @internal */
export const invalidated = (state: State): Effect.Effect<Option.Option<InvalidSession>, Failure> =>
  Effect.map(read(state), () => Option.fromNullable(state.rejected))
