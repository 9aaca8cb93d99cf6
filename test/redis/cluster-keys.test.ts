/**
 * What lookups write on a Redis Cluster: watched through keyspace notifications on every master,
 * lookups whose touch is not due write no key at all (the bound in issue 12 is "no key written
 * by more than 1 in 100 lookups"); due touches write only their own session's keys and the
 * store's indexes.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { Redis } from "ioredis"
import { cutoff, record } from "../contract/store-contract.js"
import { startCluster } from "./cluster.js"
import { freshPrefix } from "./server.js"
import { sleep } from "./support.js"

const cluster = await startCluster()
afterAll(() => cluster?.stop(), 30_000)

/** Counts writes per key on every master, from keyspace notifications. */
const watchWrites = async (urls: ReadonlyArray<string>) => {
  const writes = new Map<string, number>()
  const subscribers = await Promise.all(urls.map(async (url) => {
    const admin = new Redis(url)
    admin.on("error", () => {})
    await admin.config("SET", "notify-keyspace-events", "KA")
    admin.disconnect()
    const subscriber = new Redis(url)
    subscriber.on("error", () => {})
    subscriber.on("pmessage", (_pattern, channel: string) => {
      const key = channel.slice(channel.indexOf(":") + 1)
      writes.set(key, (writes.get(key) ?? 0) + 1)
    })
    await subscriber.psubscribe("__keyspace@0__:*")
    return subscriber
  }))
  return {
    writes,
    stop: () => subscribers.forEach((subscriber) => subscriber.disconnect())
  }
}

describe.skipIf(cluster === undefined)("Redis Cluster: what lookups write", () => {
  it.live("lookups whose touch is not due write no key; a due touch writes its own session's keys", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("writes")
      const masters = yield* Effect.promise(() => cluster!.masters())
      const store = Context.get(
        yield* Layer.build(RedisStore.layer({ nodes: cluster!.urls, prefix })),
        SessionStore.SessionStore
      )
      for (let i = 0; i < 200; i++) {
        yield* store.insert(record(`k${i}`, undefined, { lastUsedAt: 100 }), SessionStore.unlimited)
      }
      const watch = yield* Effect.promise(() => watchWrites(masters.map((master) => master.url)))
      yield* Effect.addFinalizer(() => Effect.sync(watch.stop))
      const lookups = 2000
      for (let i = 0; i < lookups; i++) {
        const result = yield* store.touch(`k${i % 200}`, cutoff(500), 500 - 1000)
        expect(result._tag).toBe("Read")
      }
      yield* Effect.promise(() => sleep(200)) // notifications in flight
      const most = Math.max(0, ...watch.writes.values())
      expect(most).toBeLessThanOrEqual(lookups / 100)
      expect([...watch.writes.keys()].filter((key) => key.includes(prefix))).toEqual([])
      // a due touch: its record, its JSON text... and the store's shared indexes
      yield* store.touch("k0", cutoff(5000), 5000 - 1000)
      yield* Effect.promise(() => sleep(200))
      expect([...watch.writes.keys()].some((key) => key === `{${prefix}}:s:k0`)).toBe(true)
    }).pipe(Effect.scoped))
})
