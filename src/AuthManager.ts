/**
 * The authentication manager: turns a request into a principal, may validate or replace a
 * session on each use, and releases what a session holds when it closes.
 *
 * Supply one as a layer (`AuthManager.layer`), or use `AuthManager.layerMock` in tests.
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Session from "./Session.js"
import { ExplicitLogin, InvalidSession, SessionCloseError } from "./SessionError.js"

/**
 * What the session manager asks of authentication.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Decides who makes the request, or fails with `ExplicitLogin`. */
  readonly authenticate: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Session.Principal, ExplicitLogin>
  /**
   * Runs on every `getSession`. Return the session given to accept it, another session value to
   * replace it (it is stored under a new token, the old one dies), or fail to reject it.
   */
  readonly validateSession: (
    request: HttpServerRequest.HttpServerRequest,
    session: Session.Session
  ) => Effect.Effect<Session.Session, InvalidSession>
  /** Frees what a session holds; runs exactly once per session, whoever closes it. */
  readonly release: (session: Session.Session) => Effect.Effect<void, SessionCloseError>
}

/**
 * The authentication manager used by `SessionManager`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * const program = Effect.gen(function*() {
 *   const auth = yield* AuthManager.AuthManager
 *   return typeof auth.authenticate
 * })
 * console.log(Effect.runSync(Effect.provide(program, AuthManager.layerMock())))  // "function"
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class AuthManager extends Context.Tag("effect-session/AuthManager")<AuthManager, Service>() {}

/**
 * An authentication manager as users write it: only `authenticate` is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly authenticate: Service["authenticate"]
  readonly validateSession?: Service["validateSession"]
  readonly release?: Service["release"]
}

/**
 * Completes a partial authentication manager: `validateSession` accepts by default and `release`
 * does nothing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager, SessionError } from "effect-session"
 *
 * const auth = AuthManager.make({
 *   authenticate: (request) =>
 *     request.headers["x-user"] === undefined
 *       ? Effect.fail(new SessionError.ExplicitLogin({ message: "who are you?" }))
 *       : Effect.succeed({ id: request.headers["x-user"], anonymous: false })
 * })
 * console.log(typeof auth.release) // "function"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Service => ({
  authenticate: options.authenticate,
  validateSession: options.validateSession ?? acceptSession,
  release: options.release ?? (() => Effect.void)
})

/**
 * The default `validateSession`: accepts every session as it is. The manager recognizes it and
 * skips the timeout guard it puts around user validators, so sessions cost nothing extra per
 * request when there is nothing to validate.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * // a validator that only adds a rule to the default acceptance
 * const validateSession = AuthManager.acceptSession
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const acceptSession: Service["validateSession"] = (_request, session) => Effect.succeed(session)

/**
 * A layer from a (partial) authentication manager.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * export const AuthLive = AuthManager.layer({
 *   authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true })
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<AuthManager> => Layer.succeed(AuthManager, make(options))

/**
 * A layer from an effect that builds the authentication manager (to use other services).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * export const AuthLive = AuthManager.layerEffect(Effect.sync(() => ({
 *   authenticate: () => Effect.succeed({ id: "anonymous", anonymous: true })
 * })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEffect = <E, R>(effect: Effect.Effect<Options, E, R>): Layer.Layer<AuthManager, E, R> =>
  Layer.effect(AuthManager, Effect.map(effect, make))

// ---------------------------------------------------------------------------------------------
// Mock
// ---------------------------------------------------------------------------------------------

/**
 * A user known to the mock: the password it must present (none: any password) and the principal
 * attributes it gets.
 *
 * @since 0.1.0
 * @category testing
 */
export interface MockUser {
  readonly password?: string
  readonly attributes?: Session.Principal["attributes"]
}

/**
 * Credentials the mock read from a request.
 *
 * @since 0.1.0
 * @category testing
 */
export interface Credentials {
  readonly username: string
  readonly password?: string
}

/**
 * Options of the mock authentication manager.
 *
 * - `users`: a record of known users, or a function deciding from the credentials.
 * - `credentials`: how to read credentials from a request. Default: an `Authorization: Basic`
 *   header, else an `x-user` header (no password).
 * - `allowAnonymous`: a request without credentials gets the anonymous principal (default `true`);
 *   otherwise it fails with `ExplicitLogin`.
 * - `rejectSession`, `failRelease`: decide per session whether `validateSession` rejects and
 *   whether `release` fails; can be changed later through `MockAuthManager`.
 * - `replaceSession`: decides per session whether `validateSession` answers a replacement (the
 *   session it returns) instead of accepting (`undefined`); can be changed later too.
 *
 * @since 0.1.0
 * @category testing
 */
export interface MockOptions {
  readonly users?:
    | { readonly [username: string]: MockUser }
    | ((credentials: Credentials) => Option.Option<Session.Principal>)
  readonly credentials?: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Option.Option<Credentials>>
  readonly allowAnonymous?: boolean
  readonly rejectSession?: (session: Session.Session) => boolean
  readonly failRelease?: (session: Session.Session) => boolean
  readonly replaceSession?: (session: Session.Session) => Session.Session | undefined
}

/**
 * One call the mock received: sessions are named by key, never by token.
 *
 * @since 0.1.0
 * @category testing
 */
export type MockCall =
  | { readonly _tag: "authenticate"; readonly result: "ok" | "ExplicitLogin"; readonly principalId?: string }
  | {
    readonly _tag: "validateSession"
    readonly key: string
    readonly result: "accepted" | "rejected" | "replaced"
  }
  | { readonly _tag: "release"; readonly key: string; readonly result: "ok" | "failed" }

/**
 * The mock's test controls, provided next to `AuthManager` by `layerMock`.
 *
 * @since 0.1.0
 * @category testing
 */
export interface MockControl {
  /** Every call received, in order. */
  readonly calls: Effect.Effect<ReadonlyArray<MockCall>>
  /** Keys of the sessions released so far, in order (a key twice would be a double release). */
  readonly released: Effect.Effect<ReadonlyArray<string>>
  /** From now on, reject the sessions for which `predicate` holds (`() => false` to stop). */
  readonly setRejectSession: (predicate: (session: Session.Session) => boolean) => Effect.Effect<void>
  /** From now on, fail the release of the sessions for which `predicate` holds. */
  readonly setFailRelease: (predicate: (session: Session.Session) => boolean) => Effect.Effect<void>
  /** From now on, replace the sessions for which `replace` answers a session (`() => undefined` to stop). */
  readonly setReplaceSession: (
    replace: (session: Session.Session) => Session.Session | undefined
  ) => Effect.Effect<void>
}

/**
 * The test controls of the mock authentication manager.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * const program = Effect.gen(function*() {
 *   const mock = yield* AuthManager.MockAuthManager
 *   return yield* mock.calls
 * })
 * console.log(Effect.runSync(Effect.provide(program, AuthManager.layerMock()))) // []
 * ```
 *
 * @since 0.1.0
 * @category testing
 */
export class MockAuthManager extends Context.Tag("effect-session/AuthManager/MockAuthManager")<
  MockAuthManager,
  MockControl
>() {}

/**
 * The principal the mock gives to requests without credentials.
 *
 * @example
 * ```ts
 * import { AuthManager } from "effect-session"
 *
 * console.log(AuthManager.anonymous) // { id: "anonymous", anonymous: true }
 * ```
 *
 * @since 0.1.0
 * @category testing
 */
export const anonymous: Session.Principal = Object.freeze({ id: "anonymous", anonymous: true })

const basicCredentials = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<Option.Option<Credentials>> =>
  Effect.sync(() => {
    const authorization = request.headers["authorization"]
    if (authorization !== undefined && /^basic /i.test(authorization)) {
      const decoded = Buffer.from(authorization.slice(6).trim(), "base64").toString("utf8")
      const colon = decoded.indexOf(":")
      if (colon > 0) return Option.some({ username: decoded.slice(0, colon), password: decoded.slice(colon + 1) })
    }
    const user = request.headers["x-user"]
    return user === undefined || user === "" ? Option.none() : Option.some({ username: user })
  })

/**
 * Builds a mock authentication manager and its controls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AuthManager } from "effect-session"
 *
 * const program = Effect.gen(function*() {
 *   const [auth, control] = yield* AuthManager.makeMock({ users: { alice: { password: "secret" } } })
 *   return [typeof auth.authenticate, (yield* control.calls).length]
 * })
 * console.log(Effect.runSync(program)) // ["function", 0]
 * ```
 *
 * @since 0.1.0
 * @category testing
 */
export const makeMock = (options: MockOptions = {}): Effect.Effect<readonly [Service, MockControl]> =>
  Effect.gen(function*() {
    const calls: Array<MockCall> = []
    const rejectSession = yield* Ref.make(options.rejectSession ?? (() => false))
    const replaceSession = yield* Ref.make<(session: Session.Session) => Session.Session | undefined>(
      options.replaceSession ?? (() => undefined)
    )
    const failRelease = yield* Ref.make(options.failRelease ?? (() => false))
    const record = (call: MockCall) => Effect.sync(() => void calls.push(call))
    const users = options.users ?? {}
    const lookup = typeof users === "function"
      ? users
      : (credentials: Credentials): Option.Option<Session.Principal> => {
        if (!Object.prototype.hasOwnProperty.call(users, credentials.username)) return Option.none()
        const user = users[credentials.username]
        if (user.password !== undefined && user.password !== credentials.password) return Option.none()
        return Option.some({
          id: credentials.username,
          anonymous: false,
          ...(user.attributes === undefined ? {} : { attributes: user.attributes })
        })
      }
    const readCredentials = options.credentials ?? basicCredentials
    const loginFailed = (message: string) =>
      record({ _tag: "authenticate", result: "ExplicitLogin" }).pipe(
        Effect.zipRight(Effect.fail(new ExplicitLogin({ message })))
      )

    const service: Service = {
      authenticate: (request) =>
        Effect.flatMap(readCredentials(request), (credentials) => {
          if (Option.isNone(credentials)) {
            return options.allowAnonymous === false
              ? loginFailed("credentials required")
              : Effect.as(record({ _tag: "authenticate", result: "ok", principalId: anonymous.id }), anonymous)
          }
          const principal = lookup(credentials.value)
          return Option.isNone(principal)
            ? loginFailed("invalid credentials")
            : Effect.as(
              record({ _tag: "authenticate", result: "ok", principalId: principal.value.id }),
              principal.value
            )
        }),
      validateSession: (_request, session) =>
        Effect.flatMap(Effect.zip(Ref.get(rejectSession), Ref.get(replaceSession)), ([reject, replace]) => {
          if (reject(session)) {
            return record({ _tag: "validateSession", key: session.key, result: "rejected" }).pipe(
              Effect.zipRight(Effect.fail(new InvalidSession({ reason: "Rejected" })))
            )
          }
          const replacement = replace(session)
          return replacement === undefined
            ? Effect.as(record({ _tag: "validateSession", key: session.key, result: "accepted" }), session)
            : Effect.as(record({ _tag: "validateSession", key: session.key, result: "replaced" }), replacement)
        }),
      release: (session) =>
        Effect.flatMap(Ref.get(failRelease), (fail) =>
          fail(session)
            ? record({ _tag: "release", key: session.key, result: "failed" }).pipe(
              Effect.zipRight(
                Effect.fail(new SessionCloseError({ sessionId: session.key.slice(0, 12), reason: "Failed" }))
              )
            )
            : record({ _tag: "release", key: session.key, result: "ok" }))
    }
    const control: MockControl = {
      calls: Effect.sync(() => calls.slice()),
      released: Effect.sync(() => calls.flatMap((call) => call._tag === "release" ? [call.key] : [])),
      setRejectSession: (predicate) => Ref.set(rejectSession, predicate),
      setFailRelease: (predicate) => Ref.set(failRelease, predicate),
      setReplaceSession: (replace) => Ref.set(replaceSession, replace)
    }
    return [service, control] as const
  })

/**
 * A ready mock authentication manager for tests, providing both `AuthManager` and
 * `MockAuthManager` (to inspect calls and change behaviour mid-test).
 *
 * @example
 * ```ts
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 * import { AuthManager, SessionLive, SessionManager } from "effect-session"
 *
 * const TestLayer = SessionLive.pipe(
 *   Layer.provideMerge(AuthManager.layerMock({ users: { alice: { password: "secret" } } }))
 * )
 * const request = HttpServerRequest.fromWeb(
 *   new Request("http://localhost/", { headers: { authorization: `Basic ${btoa("alice:secret")}` } })
 * )
 * const program = Effect.gen(function*() {
 *   const session = yield* SessionManager.openSession(request)
 *   return session.principal.id
 * })
 * Effect.runPromise(Effect.scoped(Effect.provide(program, TestLayer))).then(console.log) // "alice"
 * ```
 *
 * @since 0.1.0
 * @category testing
 */
export const layerMock = (options: MockOptions = {}): Layer.Layer<AuthManager | MockAuthManager> =>
  Layer.effectContext(
    Effect.map(makeMock(options), ([service, control]) =>
      Context.make(AuthManager, service).pipe(Context.add(MockAuthManager, control)))
  )
