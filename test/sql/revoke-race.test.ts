/**
 * A revocation that waits for the store's write lock while another transaction opens a session of
 * the same principal and commits: the revocation comes after that opening, so it removes the new
 * session too (I8: revocation with no exception). A statement that takes the lock inside itself
 * reads with a snapshot taken before the lock: it would miss the new session.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"
import * as PgStore from "effect-session/SessionStore/Pg"
import { lockKeys, namesOf } from "../../src/internal/store/sql/settings.js"
import { record } from "../contract/store-contract.js"
import { freshPrefix, startPostgres } from "./postgres.js"

const server = await startPostgres()
afterAll(() => server?.stop())

const bob: Session.Principal = { id: "bob", anonymous: false }

describe.skipIf(server === undefined)("PostgreSQL: revocation against a concurrent opening", () => {
  it.live("a revocation waiting for the write lock removes the session committed before it got it", () => {
    const prefix = freshPrefix("revokerace")
    const names = namesOf(prefix)
    const [classId, objectId] = lockKeys(names)
    return Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      yield* store.insert(record("b1", bob, { lastUsedAt: 100 }), SessionStore.unlimited)
      const holder = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const pg = await import("pg")
          const client = new pg.Client({ connectionString: server!.url() })
          await client.connect()
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      // another transaction holds the store's write lock, as an opening does
      yield* Effect.promise(() => holder.query("BEGIN"))
      yield* Effect.promise(() => holder.query("SELECT pg_advisory_xact_lock($1, $2)", [classId, objectId]))
      const revoking = yield* Effect.fork(store.revoke("bob"))
      // the revocation is waiting for the lock (bounded: 10 s)
      yield* Effect.promise(async () => {
        for (let i = 0; i < 200; i++) {
          const { rows } = await holder.query(
            "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
            [objectId >>> 0]
          )
          if (rows[0].n > 0) return
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        throw new Error("the revocation never waited for the store's lock")
      })
      // the opening: a second session of bob (a copy of the first under a new key), committed
      yield* Effect.promise(() =>
        holder.query(
          `INSERT INTO ${names.sessions}
  (key, principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, lru)
SELECT 'b2', principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, nextval('${names.sequence}')
FROM ${names.sessions} WHERE key = 'b1'`
        )
      )
      yield* Effect.promise(() => holder.query("COMMIT"))
      const revoked = yield* revoking.await.pipe(Effect.flatten)
      expect(revoked.removed.map((r) => r.key).sort()).toEqual(["b1", "b2"])
      expect(Option.isNone(yield* store.get("b2"))).toBe(true)
      expect(yield* store.listByPrincipal("bob")).toEqual([])
    }).pipe(Effect.provide(Layer.orDie(PgStore.layer({ url: server!.url(), prefix, poolSize: 2 }))), Effect.scoped)
  }, 60_000)
})
