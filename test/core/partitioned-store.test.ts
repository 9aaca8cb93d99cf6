/**
 * A store partitioned into buckets (a Redis Cluster store: `SessionStore.Service.sameBucket`)
 * refuses a rotation into another bucket; the manager mints keys until one stays in the bucket,
 * so rotations, logins and replacements keep working, and a generator that cannot reach the
 * bucket fails typed instead of looping.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted } from "effect"
import { AuthManager, SessionError, SessionManager, SessionStore, SessionToken } from "effect-session"
import { request, users } from "./support.js"

const BUCKETS = 8
// the bucket of a key: its first character's code modulo the number of buckets
const bucketOf = (key: string) => key.charCodeAt(0) % BUCKETS

class Rekeys {
  attempts = 0
  refused = 0
}

const partitioned = (rekeys: Rekeys) =>
  Layer.effect(
    SessionStore.SessionStore,
    Effect.map(SessionStore.makeMemory, (inner): SessionStore.Service => ({
      ...inner,
      sameBucket: (a, b) => bucketOf(a) === bucketOf(b),
      rekey: (key, next, limits, cutoff) =>
        Effect.suspend(() => {
          rekeys.attempts++
          if (bucketOf(key) === bucketOf(next.key)) return inner.rekey(key, next, limits, cutoff)
          rekeys.refused++
          return Effect.fail(new SessionError.SessionStoreError({ reason: "Conflict", operation: "rekey" }))
        })
    }))
  )

const layer = (rekeys: Rekeys) =>
  SessionManager.layer({ sweepInterval: "off" }).pipe(
    Layer.provideMerge(partitioned(rekeys)),
    Layer.provideMerge(AuthManager.layerMock({ users }))
  )

describe("a partitioned store", () => {
  it.effect("rotations and logins stay in the session's bucket, in one store call each", () => {
    const rekeys = new Rekeys()
    return Effect.gen(function*() {
      let session = yield* SessionManager.openSession(request())
      const bucket = bucketOf(session.key)
      for (let i = 0; i < 50; i++) {
        session = yield* SessionManager.rotateSession(
          session,
          i % 10 === 0 ? { principal: { id: `u${i}`, anonymous: false } } : {}
        )
        expect(bucketOf(session.key)).toBe(bucket)
      }
      // the manager never offered the store a key in another bucket
      expect(rekeys).toEqual({ attempts: 50, refused: 0 })
      const read = yield* SessionManager.getSession(request(), session.token!)
      expect(read.key).toBe(session.key)
    }).pipe(Effect.provide(layer(rekeys)))
  })

  it.effect("a generator that never reaches the bucket fails typed (Conflict) after bounded tries", () => {
    const rekeys = new Rekeys()
    const tokenOf = () => Redacted.value(Effect.runSync(SessionToken.crypto.generate))
    const first = tokenOf()
    let other = tokenOf()
    while (bucketOf(SessionToken.hash(other)) === bucketOf(SessionToken.hash(first))) other = tokenOf()
    // the opening gets `first`; every later token is `other`, in another bucket
    let calls = 0
    const stuck = Layer.succeed(SessionToken.TokenGenerator, {
      generate: Effect.sync(() => Redacted.make(calls++ === 0 ? first : other))
    })
    return Effect.gen(function*() {
      const session = yield* SessionManager.openSession(request())
      const exit = yield* Effect.exit(SessionManager.rotateSession(session))
      expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "SessionStoreError", reason: "Conflict" })))
      // the key never reached the store, and the session is still there under its old token
      expect(rekeys.attempts).toBe(0)
      const read = yield* SessionManager.getSession(request(), session.token!)
      expect(read.key).toBe(session.key)
    }).pipe(Effect.provide(Layer.provideMerge(layer(rekeys), stuck)))
  })
})
