/**
 * The manager's session operations: authenticate, open, look up (with `validateSession` and its
 * replacements), rotate, close, revoke, list. Data operations are in `data.ts`.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { acceptSession } from "../../AuthManager.js"
import type * as Session from "../../Session.js"
import {
  type AuthManagerError,
  InvalidSession,
  SessionDataError,
  type SessionLimitError,
  SessionStoreError
} from "../../SessionError.js"
import type { CloseReport, Lookup, Service } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as SessionToken from "../../SessionToken.js"
import * as authGuard from "../authGuard.js"
import * as expiry from "../expiry.js"
import * as json from "../json.js"
import { type Context, gone, Handed, logDebug, publish, withFreshToken } from "./context.js"
import * as metrics from "./metrics.js"
import { failuresOf } from "./release.js"

const EMPTY: Session.Data = Object.freeze({})

// One refusal shared by every malformed token: it carries nothing of the request, and building an
// error (its stack) per junk cookie would make a flood of them cost more than real lookups.
const MALFORMED = new InvalidSession({ reason: "Malformed" }, true)

/** @internal */
export type Operations = Pick<
  Service,
  | "authenticate"
  | "openSession"
  | "openSessionFor"
  | "lookupSession"
  | "getSession"
  | "closeSession"
  | "rotateSession"
  | "currentSessions"
  | "sessionsOf"
  | "closeAllOf"
  | "hasExpired"
>

const lookedUp = (session: Session.Session, touched: boolean): Lookup => ({ session, touched })
const sessionOnly = (session: Session.Session): Session.Session => session

const samePrincipal = (a: Session.Principal, b: Session.Principal) => a.id === b.id && a.anonymous === b.anonymous

/** @internal */
export const make = (context: Context): Operations => {
  const { auth, clock, policy, releases, settings, store, traced } = context
  const limits = settings.limits
  // a store that answers without I/O lets a lookup run in one synchronous step (SessionStore.Touch)
  const touchSync = store.touch.sync
  // the default validateSession accepts every session: nothing to run per lookup
  const accepts = auth.validateSession === acceptSession
  const malformed = Effect.zipRight(metrics.countInvalid("Malformed"), Effect.fail(MALFORMED))

  const authenticate: Service["authenticate"] = (request) => authGuard.authenticate(auth, settings.authTimeout, request)

  // Stores a new session; the Opened event and metric fire once the store has it.
  const open = (
    principal: Session.Principal,
    data: Session.Data
  ): Effect.Effect<Session.Session, SessionStoreError | SessionLimitError> =>
    Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      return withFreshToken(context, (token, key) => {
        const record: Session.Record = {
          key,
          principal,
          createdAt: now,
          lastUsedAt: now,
          expiresAt: expiry.expiresAtFrom(policy, now),
          data
        }
        // Uninterruptible from the store call to the start of the evicted sessions' releases: an
        // interruption in between would lose sessions the store already removed.
        return Effect.uninterruptible(
          Effect.flatMap(store.insert(record, limits), (evicted) => releases.evicted(evicted, now))
        ).pipe(
          Effect.as(new Handed(record, token))
        )
      })
    }).pipe(Effect.tap((session) => {
      const sessionId = SessionToken.shortId(session.key)
      return Effect.all([
        metrics.countOpened(metrics.kindOf(session)),
        publish(context, { _tag: "Opened", sessionId, principalId: principal.id, anonymous: principal.anonymous }),
        context.tracing ? Effect.annotateCurrentSpan("session.id", sessionId) : Effect.void,
        logDebug("session opened", { session: sessionId })
      ], { discard: true })
    }))

  const openSession: Service["openSession"] = (request) =>
    Effect.flatMap(authenticate(request), (principal) => open(principal, EMPTY)).pipe(
      traced("SessionManager.openSession")
    )

  const openSessionFor: Service["openSessionFor"] = (principal, options) => {
    const checked = json.checkedPrincipal(principal)
    if (checked === json.notJson) {
      return Effect.fail(new SessionDataError({ key: "principal", reason: "NotJson" }, true))
    }
    const data = options?.data === undefined ? EMPTY : json.checkedData(options.data)
    if (data instanceof json.Invalid) {
      return Effect.fail(new SessionDataError({ key: data.name, reason: "NotJson" }, true))
    }
    return open(checked, data).pipe(traced("SessionManager.openSessionFor"))
  }

  // Moves a session to a fresh token (rotation, login, replacement), leaving a link from the old
  // key so that a logout racing it still closes what the session became.
  const rekey = (
    key: string,
    next: Omit<SessionStore.Rekey, "key" | "linkUntil">,
    cutoff: SessionStore.Cutoff
  ): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionLimitError> =>
    withFreshToken(context, (token, newKey) =>
      Effect.flatMap(
        // uninterruptible until the evicted sessions' releases have started (see open)
        Effect.uninterruptible(
          Effect.tap(
            store.rekey(key, { ...next, key: newKey, linkUntil: expiry.linkUntil(policy, cutoff.now) }, limits, cutoff),
            (result) => result._tag === "Rekeyed" ? releases.evicted(result.evicted, cutoff.now) : Effect.void
          )
        ),
        (result) => {
          if (result._tag !== "Rekeyed") return gone(context, key, cutoff.now, result)
          const { previous, record } = result
          const to = SessionToken.shortId(newKey)
          return Effect.all([
            metrics.countMoved(metrics.kindOf(previous), metrics.kindOf(record)),
            publish(context, {
              _tag: "Rotated",
              from: SessionToken.shortId(key),
              to,
              principalId: record.principal.id
            }),
            logDebug("session rotated", { session: to, from: SessionToken.shortId(key) })
          ], { discard: true }).pipe(Effect.as(new Handed(record, token)))
        }
      ), key)

  // validateSession's verdict: the session itself (accepted), a replacement (checked by the guard,
  // stored under a new token in the same step as the old key's removal), or a rejection (closed).
  const validated = (
    request: HttpServerRequest.HttpServerRequest,
    session: Session.Session,
    cutoff: SessionStore.Cutoff
  ): Effect.Effect<Session.Session, InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError> =>
    authGuard.validateSession(auth, settings.authTimeout, request, session).pipe(
      Effect.catchTag(
        "InvalidSession",
        (rejection) =>
          Effect.flatMap(releases.claim(session.key, "Rejected"), (outcome) =>
            Effect.zipRight(
              metrics.countInvalid("Rejected"),
              Effect.fail(
                new InvalidSession({
                  reason: "Rejected",
                  sessionId: SessionToken.shortId(session.key),
                  ...(outcome.failure === undefined ? {} : { closeError: outcome.failure }),
                  ...(rejection.cause === undefined ? {} : { cause: rejection.cause })
                }, true)
              )
            ))
      ),
      Effect.flatMap((verdict) =>
        verdict === session ? Effect.succeed(session) : rekey(session.key, {
          principal: verdict.principal,
          createdAt: verdict.createdAt,
          expiresAt: verdict.expiresAt,
          data: verdict.data
        }, cutoff)
      )
    )

  // What a lookup found: the live session (validated unless the default validateSession accepts
  // everything), or the typed failure of a record that is not there, expired or revoked.
  const found = <A>(
    request: HttpServerRequest.HttpServerRequest,
    token: string | Redacted.Redacted<string>,
    key: string,
    answer: (session: Session.Session, touched: boolean) => A,
    result: SessionStore.TouchResult,
    cutoff: SessionStore.Cutoff
  ): Effect.Effect<A, InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError> => {
    if (result._tag !== "Written" && result._tag !== "Read") return gone(context, key, cutoff.now, result)
    const session = new Handed(result.record, token)
    const touched = result._tag === "Written"
    if (accepts) return Effect.succeed(answer(session, touched))
    return Effect.map(
      validated(request, session, cutoff),
      (verdict) => verdict === session ? answer(session, touched) : answer(verdict, true)
    )
  }

  // The request path: format check, hash, one clock read and one store step (a plain function call
  // for the memory store) when nothing needs validating. `answer` shapes the success (getSession:
  // the session; lookupSession: the session and whether the lookup wrote). No closure is named
  // here: the path runs once per request.
  const lookup = <A>(
    request: HttpServerRequest.HttpServerRequest,
    token: string | Redacted.Redacted<string>,
    answer: (session: Session.Session, touched: boolean) => A
  ): Effect.Effect<A, InvalidSession | AuthManagerError | SessionStoreError | SessionLimitError> => {
    const raw = typeof token === "string" ? token : Redacted.value(token)
    // Format first: a malformed value never reaches the store, a log or a span.
    if (!SessionToken.isWellFormed(raw)) return malformed
    const key = SessionToken.hash(raw)
    const looked = Effect.suspend(() => {
      const cutoff = expiry.cutoffAt(policy, clock.unsafeCurrentTimeMillis())
      const before = expiry.touchBefore(policy, cutoff.now)
      return touchSync !== undefined
        ? found(request, token, key, answer, touchSync(key, cutoff, before), cutoff)
        : Effect.flatMap(
          store.touch(key, cutoff, before),
          (result) => found(request, token, key, answer, result, cutoff)
        )
    })
    return context.tracing ? traced("SessionManager.getSession", key)(looked) : looked
  }

  const lookupSession: Service["lookupSession"] = (request, token) => lookup(request, token, lookedUp)

  const getSession: Service["getSession"] = (request, token) => lookup(request, token, sessionOnly)

  const closeSession: Service["closeSession"] = (session) =>
    releases.claim(session.key, "Logout", { followRotations: true }).pipe(
      Effect.flatMap((outcome) => outcome.failure === undefined ? Effect.void : Effect.fail(outcome.failure)),
      traced("SessionManager.closeSession", session.key)
    )

  const rotateSession: Service["rotateSession"] = (session, options) =>
    Effect.suspend(() => {
      const cutoff = expiry.cutoffAt(policy, clock.unsafeCurrentTimeMillis())
      const principal = options?.principal
      if (principal === undefined) return rekey(session.key, {}, cutoff)
      const checked = json.checkedPrincipal(principal)
      if (checked === json.notJson) {
        return Effect.fail(new SessionStoreError({ reason: "Corrupt", operation: "rotateSession" }, true))
      }
      return Effect.flatMap(store.get(session.key), (current) => {
        // A change of principal is a login: the lifetime starts now, and the data starts empty
        // except what the caller keeps (data never crosses principals unless named).
        const login = Option.isSome(current) && !samePrincipal(current.value.principal, checked)
        return rekey(
          session.key,
          login
            ? {
              principal: checked,
              createdAt: cutoff.now,
              expiresAt: expiry.expiresAtFrom(policy, cutoff.now),
              keep: options?.keep ?? []
            }
            : { principal: checked },
          cutoff
        )
      })
    }).pipe(traced("SessionManager.rotateSession", session.key))

  const live = (records: ReadonlyArray<Session.Record>) =>
    Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      return Effect.succeed(records.filter((record) => expiry.limitOf(record, policy, now) === undefined))
    })

  const currentSessions: Service["currentSessions"] = Effect.flatMap(store.list, live).pipe(
    traced("SessionManager.currentSessions")
  )

  const sessionsOf: Service["sessionsOf"] = (principalId) =>
    Effect.flatMap(store.listByPrincipal(principalId), live).pipe(traced("SessionManager.sessionsOf"))

  // One store step revokes the principal's sessions (SessionStore.revoke: complete, whatever
  // rotates concurrently). The records it removed are released before this answers; those a store
  // could only mark are already unusable, and are released by the sweep or by the next request
  // that presents them.
  const closeAllOf: Service["closeAllOf"] = (principalId, options) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        store.revoke(principalId, options?.except === undefined ? undefined : { except: options.except.key }),
        (result) =>
          Effect.flatMap(releases.startAll(result.removed, () => "Revoked"), (started) =>
            restore(Effect.map(failuresOf(started), (failures): CloseReport => ({
              closed: result.removed.length + result.marked,
              failures
            }))))
      )
    ).pipe(traced("SessionManager.closeAllOf"))

  const hasExpired: Service["hasExpired"] = (session) =>
    Effect.suspend(() => Effect.succeed(expiry.limitOf(session, policy, clock.unsafeCurrentTimeMillis()) !== undefined))

  return {
    authenticate,
    openSession,
    openSessionFor,
    lookupSession,
    getSession,
    closeSession,
    rotateSession,
    currentSessions,
    sessionsOf,
    closeAllOf,
    hasExpired
  }
}
