/**
 * What the Redis store does beyond the shared contract: key layout and indexes, safety-net TTLs,
 * foreign and corrupt values, index entries left behind by a TTL, data encoding, options.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Option } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { cutoff, record } from "../contract/store-contract.js"
import { freshPrefix, startRedis } from "./server.js"
import { captureLogs, keysOf, rawClient, scoreOf, withRedisStore } from "./support.js"

const server = await startRedis()
const raw = server === undefined ? undefined : rawClient(server.url)
afterAll(async () => {
  raw?.disconnect()
  await server?.stop()
})

const alice: Session.Principal = { id: "alice", anonymous: false }
const anon: Session.Principal = { id: "anonymous", anonymous: true }
const DAY = 86_400_000

describe.skipIf(server === undefined)("Redis store", () => {
  const url = server?.url ?? ""
  const redis = raw!
  const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

  describe("layout and TTLs", () => {
    it.effect("one hash per session under {prefix}:s:<key>, with the indexes in step", () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          yield* store.insert(record("k1", alice, { lastUsedAt: 5, data: { x: 1 } }), SessionStore.unlimited)
          expect(yield* promise(() => redis.type(keys.record("k1")))).toBe("hash")
          const fields = yield* promise(() => redis.hgetall(keys.record("k1")))
          expect(fields).toMatchObject({ v: RedisStore.formatVersion, pid: "alice", anon: "0", u: "5", "d:x": "1" })
          expect(yield* promise(() => scoreOf(redis, keys.lruAuthenticated, "k1"))).toBe("5")
          expect(yield* promise(() => redis.zscore(keys.expiry, "k1"))).toBe("1000000")
          expect(yield* promise(() => scoreOf(redis, keys.principal("alice"), "k1"))).toBe("5")
          yield* store.touch("k1", cutoff(9))
          expect(yield* promise(() => scoreOf(redis, keys.lruAuthenticated, "k1"))).toBe("9")
          expect(yield* promise(() => scoreOf(redis, keys.principal("alice"), "k1"))).toBe("9")
          yield* store.rekey("k1", { key: "k2", principal: anon, expiresAt: null }, SessionStore.unlimited, cutoff(10))
          expect(yield* promise(() => redis.exists(keys.record("k1")))).toBe(0)
          expect(yield* promise(() => scoreOf(redis, keys.lruAuthenticated, "k1"))).toBeNull()
          expect(yield* promise(() => scoreOf(redis, keys.lruAnonymous, "k2"))).toBe("10")
          expect(yield* promise(() => redis.zscore(keys.expiry, "k2"))).toBeNull()
          expect(yield* promise(() => redis.exists(keys.principal("alice")))).toBe(0)
          yield* store.remove("k2")
          const left = yield* promise(() => redis.keys(`{${prefix}}*`))
          expect(left).toEqual([])
        })))

    it.effect("TTL: relative to the write, the earlier of expiresAt + grace and maxIdleTtl", () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          const pttl = (key: string) => promise(() => redis.pttl(keys.record(key)))
          // expiresAt 1_000_000 with lastUsedAt 0: 1_000_000 ms + 1 day of grace
          yield* store.insert(record("abs", anon, { expiresAt: 1_000_000 }), SessionStore.unlimited)
          const abs = yield* pttl("abs")
          expect(abs).toBeLessThanOrEqual(1_000_000 + DAY)
          expect(abs).toBeGreaterThan(1_000_000 + DAY - 60_000)
          // no absolute expiry: maxIdleTtl (30 days)
          yield* store.insert(record("idle", anon, { expiresAt: null }), SessionStore.unlimited)
          expect(yield* pttl("idle")).toBeGreaterThan(30 * DAY - 60_000)
          // a touch moves the TTL with the write time
          yield* store.touch("abs", cutoff(600_000))
          expect(yield* pttl("abs")).toBeLessThanOrEqual(400_000 + DAY)
          // far in the app clock's future (TestClock or a skewed clock): still relative
          yield* store.insert(
            record("future", anon, { createdAt: 9e12, expiresAt: 9e12 + 5000 }),
            SessionStore.unlimited
          )
          expect(yield* pttl("future")).toBeGreaterThan(DAY)
        })))

    it.effect("maxIdleTtl off: no TTL unless the record has an absolute expiry", () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          yield* store.insert(record("a", anon, { expiresAt: null }), SessionStore.unlimited)
          expect(yield* promise(() => redis.pttl(keys.record("a")))).toBe(-1)
          yield* store.insert(record("b", anon, { expiresAt: 1000 }), SessionStore.unlimited)
          expect(yield* promise(() => redis.pttl(keys.record("b")))).toBeGreaterThan(DAY - 60_000)
        }), { maxIdleTtl: "off" }))

    it.effect("a record dropped by its TTL leaves index entries that never block a cap and are repaired", () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          const refuse: SessionStore.Limits = { ...SessionStore.unlimited, maxAnonymousSessions: 1, onLimit: "refuse" }
          yield* store.insert(record("gone", anon), refuse)
          yield* promise(() => redis.del(keys.record("gone"))) // what a TTL does
          yield* store.insert(record("next", anon), refuse)
          expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 0 })
          yield* store.insert(record("p1", alice, { lastUsedAt: 0 }), SessionStore.unlimited)
          yield* promise(() => redis.del(keys.record("p1")))
          expect(yield* store.listByPrincipal("alice")).toEqual([])
          expect(yield* promise(() => redis.exists(keys.principal("alice")))).toBe(0)
          // the sweep meets the entries left behind (here: the idle sweep of authenticated sessions)
          expect(yield* store.claimExpired(cutoff(2_000_000, { authenticated: 1000 }), 10)).toHaveLength(1) // "next"
          expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 0 })
        })))
  })

  it.effect("two connections sweeping the same store never claim a record twice", () =>
    Effect.gen(function*() {
      const prefix = freshPrefix("claim")
      const storeOn = Effect.map(Layer.build(RedisStore.layer({ url, prefix })), Context.get(SessionStore.SessionStore))
      const [a, b] = yield* Effect.all([storeOn, storeOn])
      yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i),
        (i) => a.insert(record(`k${i}`, i % 3 === 0 ? alice : anon, { lastUsedAt: i % 2 }), SessionStore.unlimited),
        { concurrency: 16, discard: true }
      )
      const c = cutoff(2_000_000, { anonymous: 10, authenticated: 10 })
      const batches = yield* Effect.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).claimExpired(c, 20)),
        { concurrency: "unbounded" }
      )
      const rest = yield* b.claimExpired(c, 1000)
      const keys = [...batches.flat(), ...rest].map((r) => r.key)
      expect(keys).toHaveLength(300)
      expect(new Set(keys).size).toBe(300)
      expect(yield* a.count).toEqual({ anonymous: 0, authenticated: 0 })
    }).pipe(Effect.scoped))

  describe("foreign and corrupt values: removed, logged, seen as missing", () => {
    const plant: Record<string, (key: string) => Promise<unknown>> = {
      string: (key: string) => redis.set(key, "{\"not\":\"a session\"}"),
      foreignVersion: (key: string) =>
        redis.hset(key, { v: "2", pid: "alice", anon: "0", p: "{}", c: "0", u: "0", e: "null" }),
      badPrincipal: (key: string) =>
        redis.hset(key, { v: "1", pid: "alice", anon: "0", p: "{oops", c: "0", u: "0", e: "null" }),
      mismatchedPrincipal: (key: string) =>
        redis.hset(key, {
          v: "1",
          pid: "alice",
          anon: "0",
          p: JSON.stringify({ id: "mallory", anonymous: false }),
          c: "0",
          u: "0",
          e: "null"
        }),
      badData: (key: string) =>
        redis.hset(key, {
          v: "1",
          pid: "alice",
          anon: "0",
          p: JSON.stringify(alice),
          c: "0",
          u: "0",
          e: "null",
          "d:x": "{"
        }),
      // deep enough to overflow a recursive check: must be Corrupt, never a stack-overflow defect
      deepData: (key: string) =>
        redis.hset(key, {
          v: "1",
          pid: "alice",
          anon: "0",
          p: JSON.stringify(alice),
          c: "0",
          u: "0",
          e: "null",
          "d:x": "[".repeat(20_000) + "]".repeat(20_000)
        }),
      list: (key: string) => redis.rpush(key, "x")
    }

    for (const [kind, put] of Object.entries(plant)) {
      it.effect(`${kind}: every operation sees it as missing, and it is removed`, () => {
        const logs = captureLogs()
        return withRedisStore(url, (store, prefix) =>
          Effect.gen(function*() {
            const keys = keysOf(prefix)
            const ops: ReadonlyArray<readonly [string, Effect.Effect<boolean, unknown>]> = [
              ["get", Effect.map(store.get("k"), Option.isNone)],
              ["touch", Effect.map(store.touch("k", cutoff(1)), (r) => r._tag === "Missing")],
              ["update", Effect.map(store.update("k", { set: [["y", 1]] }, cutoff(1)), (r) => r._tag === "Missing")],
              [
                "rekey",
                Effect.map(store.rekey("k", { key: "k2" }, SessionStore.unlimited, cutoff(1)), (r) =>
                  r._tag === "Missing")
              ],
              ["remove", Effect.map(store.remove("k"), Option.isNone)]
            ]
            for (const [name, op] of ops) {
              logs.lines.length = 0
              yield* promise(() =>
                redis.del(keys.record("k"))
              )
              yield* promise(() => put(keys.record("k")))
              yield* promise(() => redis.zadd(keys.lruAuthenticated, 0, "k"))
              expect(yield* op, name).toBe(true)
              expect(yield* promise(() => redis.exists(keys.record("k"))), name).toBe(0)
              expect(yield* promise(() => redis.zscore(keys.lruAuthenticated, "k")), name).toBeNull()
              expect(yield* promise(() => redis.exists(keys.record("k2"))), name).toBe(0)
              expect(logs.lines.some((l) => l.level === "WARN" && /foreign or corrupt/.test(l.message)), name).toBe(
                true
              )
            }
            // and listings, the sweep and counts skip it
            yield* promise(() => put(keys.record("k")))
            yield* promise(() => redis.zadd(keys.expiry, 0, "k"))
            yield* promise(() => redis.zadd(keys.principal("alice"), 0, "k"))
            yield* store.insert(record("ok", alice, { expiresAt: 5 }), SessionStore.unlimited)
            expect((yield* store.listByPrincipal("alice")).map((r) => r.key)).toEqual(["ok"])
            yield* promise(() => put(keys.record("k")))
            expect((yield* store.list).map((r) => r.key)).toEqual(["ok"])
            yield* promise(() => put(keys.record("k")))
            yield* promise(() => redis.zadd(keys.expiry, 0, "k"))
            expect((yield* store.claimExpired(cutoff(10), 10)).map((r) => r.key)).toEqual(["ok"])
            // (a value that only fails to decode in the process looks like a live record to the sweep)
            expect(Option.isNone(yield* store.get("k"))).toBe(true)
            expect(yield* promise(() => redis.keys(`{${prefix}}*`))).toEqual([])
          })).pipe(Effect.provide(logs.layer))
      })
    }

    it.effect("a corrupt least-recently-used victim is dropped, not handed out as evicted", () =>
      withRedisStore(url, (store, prefix) =>
        Effect.gen(function*() {
          const keys = keysOf(prefix)
          const l: SessionStore.Limits = { ...SessionStore.unlimited, maxAnonymousSessions: 1 }
          yield* store.insert(record("a", anon, { lastUsedAt: 0 }), l)
          yield* promise(() => redis.del(keys.record("a")))
          yield* promise(() => redis.set(keys.record("a"), "garbage"))
          const evicted = yield* store.insert(record("b", anon, { lastUsedAt: 1 }), l)
          expect(evicted).toEqual([])
          expect((yield* store.list).map((r) => r.key)).toEqual(["b"])
          expect(yield* promise(() => redis.exists(keys.record("a")))).toBe(0)
        })))
  })

  describe("data encoding", () => {
    it.effect("JSON values round-trip exactly; object key order does not matter to expect", () =>
      withRedisStore(url, (store) =>
        Effect.gen(function*() {
          const data: Session.Data = {
            float: 0.1 + 0.2,
            big: 1e21,
            tiny: 5e-324,
            negative: -12.5,
            text: "é 😀 \u0000 \n \"quoted\"",
            "d:nested:name": { b: [1, { z: null, a: true }], a: "" },
            empty: {},
            emptyList: []
          }
          yield* store.insert(record("k", anon, { data }), SessionStore.unlimited)
          expect(Option.getOrThrow(yield* store.get("k")).data).toEqual(data)
          const swapped = yield* store.update(
            "k",
            {
              set: [["float", 1]],
              expect: { name: "d:nested:name", value: { a: "", b: [1, { a: true, z: null }] } }
            },
            cutoff(1)
          )
          expect(swapped._tag).toBe("Written")
          // [] and {} are different values
          const wrongShape = yield* store.update("k", { expect: { name: "empty", value: [] } }, cutoff(1))
          expect(wrongShape._tag).toBe("Conflict")
          // null is a value, not an absence
          yield* store.update("k", { set: [["nothing", null]] }, cutoff(1))
          expect((yield* store.update("k", { expect: { name: "nothing", value: undefined } }, cutoff(1)))._tag).toBe(
            "Conflict"
          )
          expect((yield* store.update("k", { expect: { name: "nothing", value: null } }, cutoff(1)))._tag).toBe(
            "Written"
          )
        })))

    it.effect("data keeps its order of insertion through updates and rotations (long values included)", () =>
      withRedisStore(url, (store) =>
        Effect.gen(function*() {
          const long = "x".repeat(200) // a hash with long values does not keep its fields in order
          yield* store.insert(record("k", anon, { data: { z: long, a: 1, m: 2 } }), SessionStore.unlimited)
          yield* store.update("k", { set: [["b", 3], ["a", 4]], remove: ["m"] }, cutoff(1))
          expect(Object.keys(Option.getOrThrow(yield* store.get("k")).data)).toEqual(["z", "a", "b"])
          // removed and set again in one patch: it goes to the end, with its new value
          yield* store.update("k", { remove: ["z"], set: [["z", 5]] }, cutoff(2))
          const after = Option.getOrThrow(yield* store.get("k")).data
          expect(Object.keys(after)).toEqual(["a", "b", "z"])
          expect(after.z).toBe(5)
          // rotation keeps the order; keep keeps the order named
          yield* store.rekey("k", { key: "k2" }, SessionStore.unlimited, cutoff(3))
          expect(Object.keys(Option.getOrThrow(yield* store.get("k2")).data)).toEqual(["a", "b", "z"])
          yield* store.rekey("k2", { key: "k3", keep: ["z", "a"] }, SessionStore.unlimited, cutoff(4))
          expect(Object.keys(Option.getOrThrow(yield* store.get("k3")).data)).toEqual(["z", "a"])
        })))

    it.effect("large sessions: thousands of data keys through insert, update and rekey", () =>
      withRedisStore(url, (store) =>
        Effect.gen(function*() {
          const data: Record<string, Session.Json> = {}
          for (let i = 0; i < 3000; i++) data[`key${i}`] = { i, s: "x".repeat(20) }
          yield* store.insert(record("k", anon, { data }), SessionStore.unlimited)
          const set = Array.from({ length: 2500 }, (_, i) => [`new${i}`, i] as const)
          const remove = Array.from({ length: 1500 }, (_, i) => `key${i}`)
          expect((yield* store.update("k", { set, remove }, cutoff(1)))._tag).toBe("Written")
          const moved = yield* store.rekey("k", { key: "k2" }, SessionStore.unlimited, cutoff(2))
          expect(moved._tag).toBe("Rekeyed")
          const stored = Option.getOrThrow(yield* store.get("k2"))
          expect(Object.keys(stored.data)).toHaveLength(1500 + 2500)
          expect(stored.data["key2999"]).toEqual({ i: 2999, s: "x".repeat(20) })
          expect(stored.data["key0"]).toBeUndefined()
        })))

    it.effect("list walks the keyspace with SCAN in small steps and returns each record once", () =>
      withRedisStore(url, (store) =>
        Effect.gen(function*() {
          for (let i = 0; i < 40; i++) {
            yield* store.insert(record(`k${i}`, i % 2 ? alice : anon), SessionStore.unlimited)
          }
          const listed = (yield* store.list).map((r) => r.key).sort()
          expect(listed).toHaveLength(40)
          expect(new Set(listed).size).toBe(40)
        }), { scanCount: 3 }))
  })

  describe("construction", () => {
    it.effect("invalid options fail the layer with SessionConfigError", () =>
      Effect.gen(function*() {
        const build = (options: RedisStore.Options) =>
          Effect.flip(Effect.provide(SessionStore.SessionStore, RedisStore.layer({ url, ...options })))
        expect((yield* build({ prefix: "{braces}" })).option).toBe("prefix")
        expect((yield* build({ prefix: "" })).option).toBe("prefix")
        expect((yield* build({ commandTimeout: 0 })).option).toBe("commandTimeout")
        expect((yield* build({ maxIdleTtl: "forever" as never })).option).toBe("maxIdleTtl")
        expect((yield* build({ expiryGrace: -1 })).option).toBe("expiryGrace")
        expect((yield* build({ scanCount: 0 })).option).toBe("scanCount")
        expect((yield* build({ buckets: 0 })).option).toBe("buckets")
        expect((yield* build({ buckets: 1025 })).option).toBe("buckets")
        expect((yield* build({ buckets: 1.5 })).option).toBe("buckets")
      }))

    it.effect("SESSION_REDIS_BUCKETS sets the buckets: sessions under each bucket's own hash tag", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix("config")
        const provider = ConfigProvider.fromMap(
          new Map([["REDIS_URL", url], ["SESSION_REDIS_PREFIX", prefix], ["SESSION_REDIS_BUCKETS", "4"]])
        )
        yield* Effect.flatMap(SessionStore.SessionStore, (store) =>
          Effect.forEach(
            Array.from({ length: 40 }, (_, i) => `k${i}`),
            (key) => store.insert(record(key), SessionStore.unlimited)
          )).pipe(Effect.provide(RedisStore.layerConfig()), Effect.withConfigProvider(provider))
        const keys = yield* promise(() => redis.keys(`{${prefix}#*}:s:*`))
        expect(keys).toHaveLength(40)
        expect(new Set(keys.map((key) => key.slice(0, key.indexOf("}") + 1))).size).toBe(4)
        expect(yield* promise(() => redis.keys(`{${prefix}}:*`))).toEqual([])
      }))

    it.effect("layerConfig reads REDIS_URL and SESSION_REDIS_*; a missing REDIS_URL is a ConfigError", () =>
      Effect.gen(function*() {
        const prefix = freshPrefix("config")
        const provider = ConfigProvider.fromMap(
          new Map([["REDIS_URL", url], ["SESSION_REDIS_PREFIX", prefix], ["SESSION_REDIS_COMMAND_TIMEOUT", "1 second"]])
        )
        yield* Effect.flatMap(SessionStore.SessionStore, (store) => store.insert(record("k"), SessionStore.unlimited))
          .pipe(Effect.provide(RedisStore.layerConfig()), Effect.withConfigProvider(provider))
        expect(yield* promise(() => redis.exists(keysOf(prefix).record("k")))).toBe(1)
        const missing = yield* Effect.flip(
          Effect.provide(SessionStore.SessionStore, RedisStore.layerConfig()).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
          )
        )
        expect(missing._tag).not.toBe("SessionConfigError")
        const invalid = yield* Effect.flip(
          Effect.provide(SessionStore.SessionStore, RedisStore.layerConfig()).pipe(
            Effect.withConfigProvider(
              ConfigProvider.fromMap(new Map([["REDIS_URL", url], ["SESSION_REDIS_MAX_IDLE_TTL", "soon"]]))
            )
          )
        )
        expect(invalid._tag === "SessionConfigError" && invalid.option).toBe("maxIdleTtl")
      }))

    it.scoped("make on an existing client leaves the client open when its scope closes", () =>
      Effect.gen(function*() {
        const client = rawClient(url)
        yield* Effect.addFinalizer(() => Effect.sync(() => client.disconnect()))
        const listeners = client.listenerCount("error")
        yield* Effect.scoped(
          Effect.gen(function*() {
            const store = yield* RedisStore.make(client, { prefix: freshPrefix("make") })
            yield* store.insert(record("k"), SessionStore.unlimited)
            expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 0 })
          })
        )
        expect(client.listenerCount("error")).toBe(listeners)
        expect(yield* promise(() => client.ping())).toBe("PONG")
      }))

    it.effect("the layer builds with the store on a distinct Layer each time (isolated prefixes)", () =>
      Effect.gen(function*() {
        const a = RedisStore.layer({ url, prefix: freshPrefix("iso") })
        const b = RedisStore.layer({ url, prefix: freshPrefix("iso") })
        yield* Effect.flatMap(SessionStore.SessionStore, (s) => s.insert(record("k"), SessionStore.unlimited)).pipe(
          Effect.provide(a)
        )
        const count = yield* Effect.flatMap(SessionStore.SessionStore, (s) => s.count).pipe(Effect.provide(b))
        expect(count).toEqual({ anonymous: 0, authenticated: 0 })
        expect(Layer.isLayer(a)).toBe(true)
      }))
  })
})
