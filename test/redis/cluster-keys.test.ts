/**
 * How the spread layout (the cluster default) lays sessions over a Redis Cluster of 3 masters:
 *
 * - after 10k openings, no master holds more than 1.5x its fair share of session keys, nor runs
 *   more than 1.5x its fair share of the store's scripts (`INFO commandstats`);
 * - lookups whose touch is not due are one `HMGET` each (alone, or in the read-only script that the
 *   lookups of a tick in one bucket share) and write no key:
 *   counted per key from keyspace notifications on every master, checked to see a due touch's
 *   writes, against the bound of issue 12 ("no key written by more than 1 in 100 lookups").
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { Redis } from "ioredis"
import { createHash, randomBytes } from "node:crypto"
import { cutoff, record } from "../contract/store-contract.js"
import { startCluster } from "./cluster.js"
import { freshPrefix } from "./server.js"
import { sleep } from "./support.js"

const cluster = await startCluster()
afterAll(() => cluster?.stop(), 30_000)

const admin = (url: string) => {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on("error", () => {})
  return client
}

/** Counts writes per key on every master, from keyspace notifications. */
const watchWrites = async (urls: ReadonlyArray<string>) => {
  const writes = new Map<string, number>()
  const subscribers = await Promise.all(urls.map(async (url) => {
    const client = admin(url)
    await client.config("SET", "notify-keyspace-events", "KA")
    client.disconnect()
    const subscriber = admin(url)
    subscriber.on("pmessage", (_pattern, channel: string) => {
      const key = channel.slice(channel.indexOf(":") + 1)
      writes.set(key, (writes.get(key) ?? 0) + 1)
    })
    await subscriber.psubscribe("__keyspace@0__:*")
    return subscriber
  }))
  return { writes, stop: () => subscribers.forEach((subscriber) => subscriber.disconnect()) }
}

/** The session keys of a store on one master (SCAN, bounded steps). */
const sessionKeysOn = async (url: string, prefix: string): Promise<number> => {
  const client = admin(url)
  try {
    let cursor = "0"
    let count = 0
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `{${prefix}#*}:s:*`, "COUNT", 1000)
      cursor = next
      count += keys.length
    } while (cursor !== "0")
    return count
  } finally {
    client.disconnect()
  }
}

/** The calls of each command on a master since its last `CONFIG RESETSTAT`. */
const commandStats = async (url: string): Promise<Map<string, number>> => {
  const client = admin(url)
  try {
    const text = await client.info("commandstats")
    const stats = new Map<string, number>()
    for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1], Number(match[2]))
    return stats
  } finally {
    client.disconnect()
  }
}
const resetStats = (url: string) => {
  const client = admin(url)
  return client.config("RESETSTAT").finally(() => client.disconnect())
}

/** A session key as the manager makes them: the SHA-256 of a random token. */
const sessionKey = () => createHash("sha256").update(randomBytes(32)).digest("base64url")

const OPENINGS = 10_000
const LOOKUPS = 3_000

describe.skipIf(cluster === undefined)("Redis Cluster: how the spread layout lays sessions out", () => {
  it.live(
    "10k openings spread over the masters; lookups whose touch is not due are one command and write nothing",
    () =>
      Effect.gen(function*() {
        const prefix = freshPrefix("spread")
        const masters = yield* Effect.promise(() => cluster!.masters())
        expect(masters).toHaveLength(3)
        const urls = masters.map((master) => master.url)
        const store = Context.get(
          yield* Layer.build(RedisStore.layer({ nodes: cluster!.urls, prefix })),
          SessionStore.SessionStore
        )
        yield* Effect.promise(() => Promise.all(urls.map(resetStats)))

        // openings: half anonymous, half of 1000 users, 32 in flight
        const keys = Array.from({ length: OPENINGS }, sessionKey)
        const principal = (i: number): Session.Principal =>
          i % 2 === 0 ? { id: "anonymous", anonymous: true } : { id: `user-${i % 1000}`, anonymous: false }
        yield* Effect.forEach(
          keys,
          (key, i) => store.insert(record(key, principal(i), { lastUsedAt: 100 }), SessionStore.unlimited),
          { concurrency: 32, discard: true }
        )
        expect(yield* store.count).toEqual({ anonymous: OPENINGS / 2, authenticated: OPENINGS / 2 })

        // session keys and script calls per master, against a fair third
        const held = yield* Effect.promise(() => Promise.all(urls.map((url) => sessionKeysOn(url, prefix))))
        expect(held.reduce((a, b) => a + b, 0)).toBe(OPENINGS)
        for (const n of held) expect(n).toBeLessThanOrEqual(1.5 * OPENINGS / 3)
        const scripts = (yield* Effect.promise(() => Promise.all(urls.map(commandStats)))).map((stats) =>
          (stats.get("evalsha") ?? 0) + (stats.get("eval") ?? 0)
        )
        expect(scripts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(OPENINGS)
        for (const n of scripts) expect(n).toBeLessThanOrEqual(1.5 * scripts.reduce((a, b) => a + b, 0) / 3)

        // lookups whose touch is not due: one HMGET each (alone, or in the read-only script that
        // lookups issued together in a bucket share), no key written
        yield* Effect.promise(() => Promise.all(urls.map(resetStats)))
        const watch = yield* Effect.promise(() => watchWrites(urls))
        yield* Effect.addFinalizer(() => Effect.sync(watch.stop))
        yield* Effect.forEach(
          Array.from({ length: LOOKUPS }, (_, i) => keys[(i * 7919) % OPENINGS]),
          (key) =>
            Effect.map(store.touch(key, cutoff(500), 500 - 1000), (result) => {
              expect(result._tag).toBe("Read")
            }),
          { concurrency: 16, discard: true }
        )
        const stats = yield* Effect.promise(() => Promise.all(urls.map(commandStats)))
        const calls = (name: string) => stats.reduce((sum, s) => sum + (s.get(name) ?? 0), 0)
        expect(calls("hmget")).toBe(LOOKUPS)
        // 16 in flight over 16 buckets: lookups in the same bucket and tick share a script call
        expect(calls("evalsha") + calls("eval")).toBeGreaterThan(0)
        yield* Effect.promise(() => sleep(300)) // notifications in flight
        const ours = [...watch.writes].filter(([key]) => key.includes(prefix))
        const most = Math.max(0, ...ours.map(([, n]) => n))
        expect(most).toBeLessThanOrEqual(LOOKUPS / 100)
        expect(ours).toEqual([])

        // the watch sees writes: a due touch writes its record and its bucket's indexes
        yield* store.touch(keys[0], cutoff(5000), 5000 - 1000)
        yield* Effect.promise(() => sleep(300))
        const written = [...watch.writes.keys()].filter((key) => key.includes(prefix))
        expect(written.some((key) => key.endsWith(`}:s:${keys[0]}`))).toBe(true)
        expect(written.some((key) => key.endsWith("}:lru:anonymous"))).toBe(true)
      }).pipe(Effect.scoped),
    300_000
  )
})
