/**
 * What every case builds: pre-minted tokens, the same session record in every store, our manager
 * on the memory store, and the peers' stores.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as AuthManager from "effect-session/AuthManager"
import type * as Session from "effect-session/Session"
import * as SessionManager from "effect-session/SessionManager"
import * as SessionStore from "effect-session/SessionStore"
import * as SessionToken from "effect-session/SessionToken"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createHash, randomBytes } from "node:crypto"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

/** The idle timeout every store applies in the in-process cases (30 minutes). */
export const IDLE_MS = 30 * 60_000
/** The absolute lifetime (24 hours). */
export const ABSOLUTE_MS = 24 * 60 * 60_000

/**
 * The token of session `i`: what `SessionToken.layerDeterministic("bench")` would mint, a
 * well-formed 43-character base64url string. The same tokens serve as session ids for the peers.
 */
export const tokenOf = (i: number): string => createHash("sha256").update(`bench:${i}`).digest("base64url")

/** Tokens and their store keys (`SessionToken.hash`) for sessions `0..n-1`. */
export const mint = (n: number): { readonly tokens: Array<string>; readonly keys: Array<string> } => {
  const tokens = new Array<string>(n)
  const keys = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    tokens[i] = tokenOf(i)
    keys[i] = SessionToken.hash(tokens[i])
  }
  return { tokens, keys }
}

/** A spread-out, deterministic visiting order over `n` sessions (a full cycle for any n). */
export const visit = (i: number, n: number): number => (i * 7_919 + 13) % n

/** The anonymous principal shared by every anonymous session (as the mock auth manager does). */
export const anonymous: Session.Principal = AuthManager.anonymous

/** The principal of session `i` when sessions are authenticated (one user per session). */
export const principalOf = (i: number, authenticated: boolean): Session.Principal =>
  authenticated ? { id: `user-${i}`, anonymous: false } : anonymous

/** The record every store holds for one session (ours and the plain Map hold exactly this). */
export const recordOf = (
  key: string,
  principal: Session.Principal,
  createdAt: number,
  lastUsedAt = createdAt
): Session.Record => ({
  key,
  principal,
  createdAt,
  lastUsedAt,
  expiresAt: createdAt + ABSOLUTE_MS,
  data: { counter: 0 }
})

/** The same record, as a plain mutable object (what the plain-Map baselines hold and touch in place). */
export const plainRecordOf = (
  key: string,
  principal: Session.Principal,
  createdAt: number,
  lastUsedAt = createdAt
) => ({
  key,
  principal,
  createdAt,
  lastUsedAt,
  expiresAt: createdAt + ABSOLUTE_MS,
  data: { counter: 0 }
})

/** What express-session keeps per session (the JSON of its `cookie` and the data). */
export const expressSessionOf = (expiresAt: number) => ({
  cookie: {
    originalMaxAge: IDLE_MS,
    expires: new Date(expiresAt).toISOString(),
    secure: false,
    httpOnly: true,
    path: "/"
  },
  counter: 0
})

/** The options every in-process manager runs with: no background sweep, caps out of the way. */
export const managerOptions: SessionManager.Options = {
  idleTimeout: "30 minutes",
  cleanupAnonymousSessionTime: "30 minutes",
  cleanupSessionTime: "30 minutes",
  absoluteLifetime: "24 hours",
  sweepInterval: "off",
  maxSessions: 10_000_000,
  maxAnonymousSessions: 10_000_000
}

/** An auth manager as an application would write one: everyone is anonymous, sessions accepted. */
export const benchAuth = AuthManager.layer({ authenticate: () => Effect.succeed(anonymous) })

/** A request value to pass to the manager (built once). */
export const request = HttpServerRequest.fromWeb(new Request("http://localhost/"))

export interface Ours {
  readonly manager: SessionManager.Service
  readonly store: SessionStore.Service
  readonly dispose: () => Promise<void>
}

/**
 * The same, with a `validateSession` of its own that accepts every session (as an application
 * checking something per request would have): the manager then guards it with `authTimeout`.
 */
export const benchAuthValidating = AuthManager.layer({
  authenticate: () => Effect.succeed(anonymous),
  validateSession: (_request, session) => Effect.succeed(session)
})

/** Our manager on the memory store (the default CSPRNG token generator), plus its store. */
export const makeOurs = async (
  options: SessionManager.Options = managerOptions,
  auth: Layer.Layer<AuthManager.AuthManager> = benchAuth
): Promise<Ours> => {
  const layer = SessionManager.layer(options).pipe(
    Layer.provideMerge(SessionStore.layerMemory),
    Layer.provide(auth),
    Layer.orDie
  )
  const runtime = ManagedRuntime.make(layer)
  const [manager, store] = await runtime.runPromise(
    Effect.all([SessionManager.SessionManager, SessionStore.SessionStore])
  )
  return { manager, store, dispose: () => runtime.dispose() }
}

/** Inserts records straight into our store (setup only: the benchmark itself goes through the manager). */
export const fill = (store: SessionStore.Service, records: Iterable<Session.Record>): void => {
  for (const record of records) Effect.runSync(store.insert(record, SessionStore.unlimited))
}

// ---------------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------------

type Callback<A = unknown> = (error: unknown, value?: A) => void

/** The part of express-session's `MemoryStore` the benchmark uses. */
export interface ExpressStore {
  readonly sessions: Record<string, string>
  get(sid: string, callback: Callback<any>): void
  set(sid: string, session: unknown, callback?: Callback): void
  touch(sid: string, session: unknown, callback?: Callback): void
  destroy(sid: string, callback?: Callback): void
  all(callback: Callback<Record<string, unknown>>): void
}

/** A new express-session `MemoryStore` (the default store of express-session). */
export const makeExpressStore = (): ExpressStore => {
  const session = require("express-session") as { MemoryStore: new() => ExpressStore }
  return new session.MemoryStore()
}

/** The part of @fastify/session's default store the benchmark uses. */
export interface FastifyStore {
  readonly store: Map<string, any>
  get(sid: string, callback: Callback<any>): void
  set(sid: string, session: unknown, callback: Callback): void
  destroy(sid: string, callback: Callback): void
}

type FastifySessionClass = new(
  store: FastifyStore,
  request: unknown,
  idGenerator: () => string,
  cookieOpts: Record<string, unknown>,
  cookieSigner: unknown,
  prevSession?: unknown,
  sessionId?: string
) => {
  cookie: { expires: Date | null; originalExpires?: Date }
  touch(): void
  regenerate(): Promise<void>
  readonly sessionId: string
}

/** @fastify/session's default store and its `Session` class, built as the plugin builds them. */
export const makeFastify = () => {
  const { MemoryStore } = require("@fastify/session") as { MemoryStore: new() => FastifyStore }
  const FastifySession = require("@fastify/session/lib/session.js") as FastifySessionClass
  const { Signer } = require("@fastify/cookie") as { Signer: new(secrets: string) => unknown }
  const store = new MemoryStore()
  const signer = new Signer("a secret with minimum length of 32 characters")
  // the plugin passes the fastify request; a session only reads `protocol` from it when
  // `secure: "auto"`, and keeps a reference to it: one shared object here, so that it is not counted
  const fakeRequest = { protocol: "http" }
  const cookieOpts = { maxAge: IDLE_MS, secure: false, httpOnly: true, path: "/" }
  const idGenerator = () => randomBytes(32).toString("base64url")
  /** A new session (no `sid`), or one restored from what the store held (as the plugin does per request). */
  const make = (sid?: string, previous?: unknown) =>
    new FastifySession(store, fakeRequest, idGenerator, cookieOpts, signer, previous, sid)
  return { store, make }
}

/** Wraps a node-style call in a promise. */
export const call = <A>(f: (callback: Callback<A>) => void): Promise<A> =>
  new Promise((resolve, reject) => f((error, value) => (error ? reject(error) : resolve(value as A))))
