/**
 * What a lookup costs Redis, what the sweep costs per call, and sessions written by 0.1.0:
 * - a lookup whose touch is not due is one read-only command and writes nothing; a due touch is
 *   one more command;
 * - every sweep script call visits a bounded number of index entries, dead ones included;
 * - records stored by 0.1.0 (no JSON text yet) are read through, and upgraded by their next write.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"
import type { Redis } from "ioredis"
import { claimStep } from "../../src/internal/store/redis/store.js"
import { cutoff, record } from "../contract/store-contract.js"
import { startRedis } from "./server.js"
import { keysOf, rawClient, withRedisStore } from "./support.js"

const server = await startRedis()
const raw = server === undefined ? undefined : rawClient(server.url)
afterAll(async () => {
  raw?.disconnect()
  await server?.stop()
})

const alice: Session.Principal = { id: "alice", anonymous: false }

/** Calls per command since the last reset, from INFO commandstats. */
const commandCalls = async (redis: Redis): Promise<Record<string, number>> => {
  const text = await redis.info("commandstats")
  const calls: Record<string, number> = {}
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2])
  return calls
}

const WRITES = /^(evalsha|eval|hset|hdel|del|zadd|zrem|incr|set|sadd|srem|pexpire|persist)$/

describe.skipIf(server === undefined || !server.owned)("Redis lookups and sweeps", () => {
  const url = server?.url ?? ""
  const redis = raw!
  const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

  it.effect("a lookup whose touch is not due is one read-only command; a due touch one more", () =>
    withRedisStore(url, (store) =>
      Effect.gen(function*() {
        for (let i = 0; i < 20; i++) {
          yield* store.insert(record(`k${i}`, i % 2 ? alice : undefined, { lastUsedAt: 100 }), SessionStore.unlimited)
        }
        yield* promise(() => redis.config("RESETSTAT"))
        for (let round = 0; round < 10; round++) {
          for (let i = 0; i < 20; i++) {
            // interval 1000: last used at 100, so not due before 1100
            const result = yield* store.touch(`k${i}`, cutoff(500), 500 - 1000)
            expect(result._tag).toBe("Read")
          }
        }
        const calls = yield* promise(() => commandCalls(redis))
        expect(calls["hmget"]).toBe(200)
        expect(Object.keys(calls).filter((name) => WRITES.test(name))).toEqual([])
        // due: the read, then the touch script
        yield* promise(() => redis.config("RESETSTAT"))
        const due = yield* store.touch("k0", cutoff(2000), 2000 - 1000)
        expect(due._tag).toBe("Written")
        const after = yield* promise(() => commandCalls(redis))
        expect(after["hmget"]).toBe(1)
        // (ioredis sends a script's first call on a connection as EVAL, then EVALSHA)
        expect((after["evalsha"] ?? 0) + (after["eval"] ?? 0)).toBe(1)
      })))

  it.effect("lookups issued together are one read-only script call per 128, each with its own answer", () =>
    withRedisStore(url, (store, prefix) =>
      Effect.gen(function*() {
        const bob: Session.Principal = { id: "bob", anonymous: false }
        const n = 300
        for (let i = 0; i < n; i++) {
          const principal = i % 3 === 0 ? alice : i % 3 === 1 ? bob : undefined
          // every 7th past its absolute deadline at 500
          yield* store.insert(
            record(`k${i}`, principal, { lastUsedAt: 100, expiresAt: i % 7 === 0 ? 300 : null }),
            SessionStore.unlimited
          )
        }
        // bob's sessions removed; k8's marked revoked, as a revocation over several buckets leaves it
        yield* store.revoke("bob")
        yield* promise(() => redis.hset(keysOf(prefix).record("k8"), "r", "1"))
        // a value of another type under a session key: HMGET fails for it alone
        yield* promise(() => redis.set(keysOf(prefix).record("k5"), "not a hash"))
        const asked = [...Array.from({ length: n }, (_, i) => `k${i}`), "missing-1", "missing-2"]
        const lookup = (key: string) =>
          Effect.map(store.touch(key, cutoff(500), 500 - 1000), (result) =>
            "record" in result ? `${result._tag} ${result.record.key}` : result._tag)

        yield* promise(() =>
          redis.config("RESETSTAT")
        )
        const together = yield* Effect.all(asked.map(lookup), { concurrency: "unbounded" })
        const calls = yield* promise(() => commandCalls(redis))
        // 302 lookups: 128 + 128 + 46 in three read-only script calls, no HMGET of their own; the
        // fourth script removes the foreign value (a read-only script cannot)
        expect((calls["evalsha"] ?? 0) + (calls["eval"] ?? 0)).toBe(4)
        expect(yield* promise(() => redis.exists(keysOf(prefix).record("k5")))).toBe(0)

        // the same answers as lookups one at a time (the foreign value is gone by now: Missing both times)
        const alone: Array<string> = []
        for (const key of asked) alone.push(yield* lookup(key))
        expect(together).toEqual(alone)
        expect(new Set(together.map((answer) => answer.split(" ")[0]))).toEqual(
          new Set(["Read", "Expired", "Revoked", "Missing"])
        )
        expect(together[5]).toBe("Missing")
        expect(together[2]).toBe("Read k2")
        expect(together[8]).toBe("Revoked k8")
      })))

  it.effect(
    "the sweep visits a bounded number of index entries per script call, 100k dead ones included",
    () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          // 100k entries whose records are gone (what safety-net TTLs leave behind), then live expired ones
          const dead = 100_000
          for (let from = 0; from < dead; from += 10_000) {
            const args: Array<string | number> = []
            for (let i = from; i < from + 10_000; i++) args.push(0, `${String(i).padStart(16, "0")}:dead${i}`)
            yield* promise(() => redis.zadd(keys.lruAnonymous, ...args))
          }
          for (let i = 0; i < 5; i++) {
            yield* store.insert(record(`live${i}`, undefined, { lastUsedAt: 1 }), SessionStore.unlimited)
          }
          const c = cutoff(10_000, { anonymous: 100 })
          const first = yield* claimStep(store, c, 1000)
          expect(first.visited).toBeLessThanOrEqual(256)
          expect(first.more).toBe(true)
          // the store keeps calling until it has claimed them all: every call stays bounded
          let calls = 1
          let claimed = first.records.length
          let step = first
          while (step.more && calls < 2000) {
            step = yield* claimStep(store, c, 1000)
            expect(step.visited).toBeLessThanOrEqual(256)
            claimed += step.records.length
            calls++
          }
          expect(claimed).toBe(5)
          expect(calls).toBeGreaterThanOrEqual(Math.ceil(dead / 256))
          expect(yield* promise(() => redis.zcard(keys.lruAnonymous))).toBe(0)
        })),
    120_000
  )

  it.effect("claimExpired goes on past dead entries until it has max or nothing is left", () =>
    withRedisStore(url, (store, prefix) =>
      Effect.gen(function*() {
        const keys = keysOf(prefix)
        const args: Array<string | number> = []
        for (let i = 0; i < 2000; i++) args.push(0, `${String(i).padStart(16, "0")}:dead${i}`)
        yield* promise(() => redis.zadd(keys.lruAnonymous, ...args))
        for (let i = 0; i < 3; i++) {
          yield* store.insert(record(`live${i}`, undefined, { lastUsedAt: 1 }), SessionStore.unlimited)
        }
        const claimed = yield* store.claimExpired(cutoff(10_000, { anonymous: 100 }), 10)
        expect(claimed.map((r) => r.key).sort()).toEqual(["live0", "live1", "live2"])
      })))

  it.effect("sessions stored by 0.1.0 are read through, and upgraded by their next write", () =>
    withRedisStore(url, (store, prefix) =>
      Effect.gen(function*() {
        const keys = keysOf(prefix)
        // exactly what 0.1.0 wrote: the hash without its JSON text, its entries, the sequence
        const plant = (key: string, principal: Session.Principal, seq: number) =>
          promise(async () => {
            const member = `${String(seq).padStart(16, "0")}:${key}`
            await redis.hset(keys.record(key), {
              v: "1",
              pid: principal.id,
              anon: principal.anonymous ? "1" : "0",
              p: JSON.stringify(principal),
              c: "0",
              u: "10",
              e: "1000000",
              "d:cart": "[1,2]",
              ml: member,
              mp: member
            })
            await redis.zadd(principal.anonymous ? keys.lruAnonymous : keys.lruAuthenticated, 10, member)
            await redis.zadd(keys.expiry, 1_000_000, key)
            if (!principal.anonymous) await redis.zadd(keys.principal(principal.id), 10, member)
            await redis.set(keys.sequence, String(seq))
          })
        yield* plant("old-anon", { id: "anonymous", anonymous: true }, 1)
        yield* plant("old-alice", alice, 2)
        const read = yield* store.touch("old-alice", cutoff(20), 20 - 1000)
        expect(read._tag === "Read" && read.record).toMatchObject({
          key: "old-alice",
          principal: alice,
          data: { cart: [1, 2] }
        })
        expect((yield* store.listByPrincipal("alice")).map((r) => r.key)).toEqual(["old-alice"])
        expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 1 })
        // a write gives it its JSON text: from then on a lookup is one HMGET
        expect((yield* store.update("old-anon", { set: [["n", 1]] }, cutoff(30)))._tag).toBe("Written")
        expect(yield* promise(() => redis.hexists(keys.record("old-anon"), "j"))).toBe(1)
        expect(Option.getOrThrow(yield* store.get("old-anon")).data).toEqual({ cart: [1, 2], n: 1 })
        const rotated = yield* store.rekey(
          "old-alice",
          { key: "new-alice", keep: ["cart"] },
          SessionStore.unlimited,
          cutoff(40)
        )
        expect(rotated._tag).toBe("Rekeyed")
        expect(Option.getOrThrow(yield* store.remove("new-alice")).data).toEqual({ cart: [1, 2] })
        expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 0 })
      })))
})
