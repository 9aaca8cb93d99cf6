/**
 * Per-request state of the HTTP session layer, without a registry: one plain object per request,
 * held in a `FiberRef` that the middleware sets once (`FiberRef.set` in the request's own fiber,
 * which child fibers inherit). `CurrentSession` is one service, provided once by the layer, whose
 * accessors read that `FiberRef`; no per-request `Effect.provideService`.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Deferred from "effect/Deferred"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as GlobalValue from "effect/GlobalValue"
import type { Failure, Service } from "../../HttpSession.js"
import type * as Session from "../../Session.js"
import type { ExplicitLogin, InvalidSession } from "../../SessionError.js"
import type { AuthManagerError } from "../../SessionError.js"

/** The key of the `HttpSession` service tag. @internal */
export const SERVICE_KEY = "effect-session/HttpSession"

/** The key of the `CurrentSession` service tag. @internal */
export const CURRENT_KEY = "effect-session/HttpSession/CurrentSession"

/** How the session token travels: the session cookie, or `Authorization: Bearer`. @internal */
export type Transport = "cookie" | "bearer"

/** What the cookie writer must do on the way out, besides setting a changed token. @internal */
export type Expire =
  /** nothing */
  | "no"
  /** logout: expire the cookie (and send Clear-Site-Data when configured) */
  | "logout"
  /** the cookie named no live session: expire it */
  | "dead"
  /** the cookie came more than once: expire every copy we can address */
  | "ambiguous"

/** @internal */
export interface State {
  readonly http: Service
  readonly request: HttpServerRequest.HttpServerRequest
  readonly transport: Transport
  /** Failures leave the HttpApi middleware's handlers without causes or session ids. */
  readonly sanitize: boolean
  /** The session of the request once known: stored (with its token) or not yet stored. */
  session: Session.Session | undefined
  /** Whether `session` is in the store. */
  stored: boolean
  /** The failure the first read ended with: later reads fail the same way. */
  failure: Failure | undefined
  /** The fiber reading the session, while it does: concurrent readers wait for it. */
  loader: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** Created by the second reader, completed by the first. */
  waiters: Deferred.Deferred<Session.Session, Failure> | undefined
  /** The token the request came with, when it named a live session. */
  incoming: string | undefined
  /** The answer of the request's one `authenticate` call. */
  principal: Exit.Exit<Session.Principal, ExplicitLogin | AuthManagerError> | undefined
  /** No valid token came: the session is new for this request. */
  opened: boolean
  /** Why the token that came was refused (then the request got a new session). */
  rejected: InvalidSession | undefined
  /** `logout` ran: a later read ignores the token that came. */
  loggedOut: boolean
  /**
   * A later read of a visitor without a session gets the anonymous principal without
   * authenticating: after `logout`, or a `login` whose credentials were refused.
   */
  anonymous: boolean
  expire: Expire
  /** The session's idle deadline moved (a touch or a write): a rolling cookie is re-sent. */
  moved: boolean
  /** A 503 is being answered: the cookie is not refreshed (only a changed token is sent). */
  unavailable: boolean
  /** The response must go through the cookie writer. */
  writing: boolean
  /** The router middleware applies the writer to the response itself. */
  readonly inline: boolean
  /** The writer is registered as a pre-response handler. */
  registered: boolean
  /** The request was refused (a wrong CSRF token): its response writes nothing. */
  refused: boolean
}

/** @internal */
export const make = (
  http: Service,
  request: HttpServerRequest.HttpServerRequest,
  transport: Transport,
  options: { readonly sanitize: boolean; readonly inline: boolean }
): State => ({
  http,
  request,
  transport,
  sanitize: options.sanitize,
  inline: options.inline,
  registered: false,
  session: undefined,
  stored: false,
  failure: undefined,
  loader: undefined,
  waiters: undefined,
  incoming: undefined,
  principal: undefined,
  opened: false,
  rejected: undefined,
  loggedOut: false,
  anonymous: false,
  expire: "no",
  moved: false,
  unavailable: false,
  writing: false,
  refused: false
})

/** The state of the request being handled, in its fiber. @internal */
export const ref: FiberRef.FiberRef<State | undefined> = GlobalValue.globalValue(
  Symbol.for("effect-session/HttpSession/state"),
  () => FiberRef.unsafeMake<State | undefined>(undefined)
)

/**
 * Whether a state belongs to this request. A router mounted under a prefix hands its handlers a
 * modified request object: the underlying source is the same.
 *
 * @internal
 */
export const belongsTo = (state: State | undefined, request: HttpServerRequest.HttpServerRequest): state is State =>
  state !== undefined && (state.request === request || state.request.source === request.source)
