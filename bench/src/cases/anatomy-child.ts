/**
 * Where the time of `getSession` and of the sweep goes, by ablation: a replica of
 * `SessionManager.getSession` built from the same public pieces (store, token hash, auth manager,
 * spans), checked against the real one, then with one piece removed at a time. The library is
 * not modified: each variant is what a proposed change would leave. Prints one JSON line.
 *
 *   node --import tsx src/cases/anatomy-child.ts --size 10000 --budget 240 --rounds 3 --max-ops 200000
 */
import type * as Session from "effect-session/Session"
import { InvalidSession, SessionCloseError } from "effect-session/SessionError"
import type * as SessionStore from "effect-session/SessionStore"
import * as SessionToken from "effect-session/SessionToken"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Redacted from "effect/Redacted"
import { hash } from "node:crypto"
import { argNumber } from "../lib/env.js"
import {
  anonymous,
  benchAuthValidating,
  fill,
  IDLE_MS,
  makeOurs,
  managerOptions,
  mint,
  recordOf,
  request,
  visit
} from "../lib/fixtures.js"
import { type Batch, measure } from "../lib/measure.js"

const argv = process.argv.slice(2)
const size = argNumber(argv, "size")
const budgetMs = argNumber(argv, "budget")
const rounds = argNumber(argv, "rounds")
const maxOps = argNumber(argv, "max-ops")

interface Row {
  readonly group: string
  readonly variant: string
  readonly nsPerOp: number
  readonly cpuNsPerOp: number
}
const rows: Array<Row> = []

const main = async () => {
  const { keys, tokens } = mint(size)
  const ours = await makeOurs()
  const now = Date.now()
  fill(
    ours.store,
    (function*() {
      for (let i = 0; i < size; i++) {
        yield recordOf(keys[i], anonymous, now - 600_000 + Math.floor((i * 600_000) / size))
      }
    })()
  )
  const { manager, store } = ours
  const validateSession = (_request: unknown, session: Session.Session) => Effect.succeed(session)

  interface Variant {
    readonly timeout: boolean
    readonly span: boolean
    readonly stackTrace: boolean
    readonly gen: boolean
  }
  // the replica of getSession (SessionManager.ts, as of this benchmark): format check, hash, clock,
  // store.touch, token attached, validateSession (guarded or not), a span annotated with the id
  const replica = (variant: Variant) => (token: string) => {
    if (!SessionToken.isWellFormed(token)) return Effect.fail(new InvalidSession({ reason: "Malformed" }))
    const key = SessionToken.hash(token)
    const sessionId = SessionToken.shortId(key)
    const touched = (at: number) =>
      Effect.flatMap(
        store.touch(key, { now: at, idleBefore: { anonymous: at - IDLE_MS, authenticated: at - IDLE_MS } }),
        (result: SessionStore.TouchResult) =>
          result._tag === "Written" || result._tag === "Read"
            ? Effect.succeed({ ...result.record, token: Redacted.make(token) } as Session.Session)
            : Effect.fail(new InvalidSession({ reason: "Unknown", sessionId }))
      )
    // guarded as SessionManager guards an auth manager's own validateSession (disconnect + timeout
    // + defects to failures); not guarded: what its fast path for the default validateSession runs
    const validate = (session: Session.Session) =>
      variant.timeout
        ? Effect.suspend(() => validateSession(request, session)).pipe(
          Effect.disconnect,
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("timeout") }),
          Effect.catchAllDefect((cause) => Effect.fail(new InvalidSession({ reason: "Rejected", cause })))
        )
        : Effect.succeed(session)
    const body = variant.gen
      ? Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const session = yield* touched(at)
        return yield* validate(session)
      })
      : Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.flatMap(touched(at), validate))
    return variant.span
      ? body.pipe(
        Effect.annotateSpans("session.id", sessionId),
        Effect.withSpan("SessionManager.getSession", variant.stackTrace ? undefined : { captureStackTrace: false })
      )
      : body
  }
  const inFiber = (f: (i: number) => Effect.Effect<unknown, unknown>): Batch => (start, count) =>
    Effect.runPromise(Effect.gen(function*() {
      for (let i = start; i < start + count; i++) yield* f(i)
    }))
  const run = async (group: string, variant: string, batch: Batch) => {
    const result = await measure(batch, { budgetMs, rounds, maxOps, batch: 500 })
    rows.push({ group, variant, nsPerOp: result.nsPerOp, cpuNsPerOp: result.cpuNsPerOp })
  }
  const token = (i: number) => tokens[visit(i, size)]
  const all: Variant = { timeout: true, span: true, stackTrace: true, gen: true }

  const g = "getSession"
  await run(g, "real SessionManager.getSession", inFiber((i) => manager.getSession(request, token(i))))
  // the same store contents behind a manager whose auth manager has its own validateSession
  const validating = await makeOurs(managerOptions, benchAuthValidating)
  fill(
    validating.store,
    keys.map((key, i) => recordOf(key, anonymous, now - 600_000 + Math.floor((i * 600_000) / size)))
  )
  await run(
    g,
    "real getSession, auth manager with its own validateSession (guarded by authTimeout)",
    inFiber((i) => validating.manager.getSession(request, token(i)))
  )
  // refused tokens (what a client with a stale cookie, or a scanner, costs): each builds an InvalidSession
  const unknownTokens = mint(size + 1000).tokens.slice(size)
  await run(
    g,
    "real getSession, unknown well-formed token (fails: Unknown)",
    inFiber((i) => Effect.either(manager.getSession(request, unknownTokens[i % 1000])))
  )
  await run(
    g,
    "real getSession, malformed token (fails: Malformed)",
    inFiber(() => Effect.either(manager.getSession(request, "not-a-token")))
  )
  await run(
    g,
    "new InvalidSession({ reason }) alone",
    inFiber(() => Effect.sync(() => new InvalidSession({ reason: "Unknown", sessionId: "abcdefghijkl" })))
  )
  await run(
    g,
    "new InvalidSession({ reason }, true) (schema validation off)",
    inFiber(() => Effect.sync(() => new InvalidSession({ reason: "Unknown", sessionId: "abcdefghijkl" }, true)))
  )
  const replicaAll = replica(all)
  await run(g, "replica, validateSession under a timeout (same pieces)", inFiber((i) => replicaAll(token(i))))
  const noTimeout = replica({ ...all, timeout: false })
  await run(g, "replica, validateSession not guarded", inFiber((i) => noTimeout(token(i))))
  const noStack = replica({ ...all, stackTrace: false })
  await run(g, "replica, span without stack capture", inFiber((i) => noStack(token(i))))
  const noSpan = replica({ ...all, span: false })
  await run(g, "replica without the span", inFiber((i) => noSpan(token(i))))
  const lean = replica({ ...all, timeout: false, span: false })
  await run(g, "replica without timeout and span", inFiber((i) => lean(token(i))))
  const leanNoGen = replica({ timeout: false, span: false, stackTrace: false, gen: false })
  await run(g, "... and flatMap instead of Effect.gen", inFiber((i) => leanNoGen(token(i))))
  await run(g, "getSession in a fiber with the tracer disabled", (start, count) =>
    Effect.runPromise(
      Effect.gen(function*() {
        for (let i = start; i < start + count; i++) yield* manager.getSession(request, token(i))
      }).pipe(Effect.withTracerEnabled(false))
    ))

  // the token hash: SessionToken.hash (createHash) against the one-shot crypto.hash (Node >= 20.12)
  await run(g, "SessionToken.hash (createHash(...).update().digest())", (start, n) => {
    for (let i = start; i < start + n; i++) SessionToken.hash(token(i))
  })
  await run(g, "crypto.hash(\"sha256\", token, \"base64url\") (one-shot)", (start, n) => {
    for (let i = start; i < start + n; i++) hash("sha256", token(i), "base64url")
  })

  // the pieces the sweep runs for every expired session (SessionManager.startRelease / runRelease)
  const s = "sweep, per expired session"
  await run(
    s,
    "new SessionCloseError(...) (built eagerly by startRelease)",
    inFiber(() => Effect.sync(() => new SessionCloseError({ sessionId: "abcdefghijkl", reason: "Defect" })))
  )
  await run(
    s,
    "new SessionCloseError(..., true) (schema validation off)",
    inFiber(() => Effect.sync(() => new SessionCloseError({ sessionId: "abcdefghijkl", reason: "Defect" }, true)))
  )
  await run(
    s,
    "Deferred + forkDaemon of a no-op release + await",
    inFiber(() =>
      Effect.suspend(() => {
        const done = Deferred.unsafeMake<undefined>(FiberId.none)
        return Effect.zipRight(Effect.forkDaemon(Deferred.succeed(done, undefined)), Deferred.await(done))
      })
    )
  )
  await run(
    s,
    "Effect.timeoutFail around the release (releaseTimeout)",
    inFiber(() => Effect.timeoutFail(Effect.void, { duration: "10 seconds", onTimeout: () => new Error("timeout") }))
  )
  process.stdout.write(JSON.stringify({ size, rows }) + "\n")
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
