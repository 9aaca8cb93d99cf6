/**
 * The contract every session store passes. Run it with a factory that gives a fresh, empty store
 * per test: `storeContract("memory", () => SessionStore.layerMemory)`.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Exit, Option } from "effect"
import type { Session } from "effect-session"
import { SessionStore } from "effect-session"

const anon: Session.Principal = { id: "anonymous", anonymous: true }
const alice: Session.Principal = { id: "alice", anonymous: false }
const bob: Session.Principal = { id: "bob", anonymous: false }

export const record = (
  key: string,
  principal: Session.Principal = anon,
  at: { createdAt?: number; lastUsedAt?: number; expiresAt?: number | null; data?: Session.Data } = {}
): Session.Record => ({
  key,
  principal,
  createdAt: at.createdAt ?? 0,
  lastUsedAt: at.lastUsedAt ?? at.createdAt ?? 0,
  expiresAt: at.expiresAt === undefined ? 1_000_000 : at.expiresAt,
  data: at.data ?? {}
})

/** Nothing expires by idleness before these horizons. */
export const cutoff = (
  now: number,
  idle: { anonymous?: number; authenticated?: number } = {}
): SessionStore.Cutoff => ({
  now,
  idleBefore: {
    anonymous: idle.anonymous === undefined ? -Infinity : now - idle.anonymous,
    authenticated: idle.authenticated === undefined ? -Infinity : now - idle.authenticated
  }
})

const limits = (l: Partial<SessionStore.Limits>): SessionStore.Limits => ({ ...SessionStore.unlimited, ...l })
const keysOf = (records: ReadonlyArray<Session.Record>) => records.map((r) => r.key).sort()

export const storeContract = <E>(name: string, makeLayer: () => Layer.Layer<SessionStore.SessionStore, E>) => {
  const withStore = <A, E2>(
    body: (store: SessionStore.Service) => Effect.Effect<A, E2>
  ): Effect.Effect<A, E | E2> => Effect.provide(Effect.flatMap(SessionStore.SessionStore, body), makeLayer())

  describe(`SessionStore contract: ${name}`, () => {
    it.effect("insert then get returns the record; count is by kind", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const a = record("a", anon, { data: { n: 1, nested: { list: [1, "x", null, true] } } })
          yield* store.insert(a, SessionStore.unlimited)
          yield* store.insert(record("b", alice), SessionStore.unlimited)
          expect(Option.getOrThrow(yield* store.get("a"))).toEqual(a)
          expect(Option.isNone(yield* store.get("missing"))).toBe(true)
          expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 1 })
          expect(keysOf(yield* store.list)).toEqual(["a", "b"])
        })
      ))

    it.effect("insert is insert-if-absent: a taken key is a Conflict and the stored record stays", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { v: 1 } }), SessionStore.unlimited)
          const error = yield* Effect.flip(store.insert(record("a", alice), SessionStore.unlimited))
          expect(error._tag).toBe("SessionStoreError")
          expect(error._tag === "SessionStoreError" && error.reason).toBe("Conflict")
          expect(Option.getOrThrow(yield* store.get("a")).principal).toEqual(anon)
        })
      ))

    it.effect("touch sets lastUsedAt, refuses missing and expired records and leaves them unchanged", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { createdAt: 0, expiresAt: 1000 }), SessionStore.unlimited)
          const touched = yield* store.touch("a", cutoff(100, { anonymous: 500 }))
          expect(touched._tag).toBe("Written")
          expect(touched._tag === "Written" && touched.record.lastUsedAt).toBe(100)
          expect((yield* store.touch("nope", cutoff(100)))._tag).toBe("Missing")
          // idle: last used at 100, idle limit 500 -> expired at 600
          const idle = yield* store.touch("a", cutoff(600, { anonymous: 500 }))
          expect(idle._tag).toBe("Expired")
          expect(Option.getOrThrow(yield* store.get("a")).lastUsedAt).toBe(100)
          // absolute: expiresAt 1000
          const absolute = yield* store.touch("a", cutoff(1000))
          expect(absolute._tag).toBe("Expired")
          expect((yield* store.touch("a", cutoff(999)))._tag).toBe("Written")
        })
      ))

    it.effect("idle horizons are per kind", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("anon"), SessionStore.unlimited)
          yield* store.insert(record("auth", alice), SessionStore.unlimited)
          const c = cutoff(100, { anonymous: 50, authenticated: 500 })
          expect((yield* store.touch("anon", c))._tag).toBe("Expired")
          expect((yield* store.touch("auth", c))._tag).toBe("Written")
        })
      ))

    it.effect("update patches keys, touches, and keeps other keys", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { keep: "k", drop: 1 } }), SessionStore.unlimited)
          const result = yield* store.update(
            "a",
            { set: [["n", 2], ["obj", { x: [1] }]], remove: ["drop"] },
            cutoff(10)
          )
          expect(result._tag).toBe("Written")
          const stored = Option.getOrThrow(yield* store.get("a"))
          expect(stored.data).toEqual({ keep: "k", n: 2, obj: { x: [1] } })
          expect(stored.lastUsedAt).toBe(10)
        })
      ))

    it.effect("update with expect is compare-and-set", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { n: { v: 1 } } }), SessionStore.unlimited)
          const stale = yield* store.update("a", { set: [["n", 5]], expect: { name: "n", value: { v: 0 } } }, cutoff(1))
          expect(stale._tag).toBe("Conflict")
          expect(Option.getOrThrow(yield* store.get("a")).data).toEqual({ n: { v: 1 } })
          const fresh = yield* store.update("a", { set: [["n", 5]], expect: { name: "n", value: { v: 1 } } }, cutoff(1))
          expect(fresh._tag).toBe("Written")
          const absent = yield* store.update(
            "a",
            { set: [["m", 1]], expect: { name: "m", value: undefined } },
            cutoff(1)
          )
          expect(absent._tag).toBe("Written")
          expect(Option.getOrThrow(yield* store.get("a")).data).toEqual({ n: 5, m: 1 })
        })
      ))

    it.effect("update never revives a removed or expired record", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { expiresAt: 100 }), SessionStore.unlimited)
          expect((yield* store.update("a", { set: [["x", 1]] }, cutoff(100)))._tag).toBe("Expired")
          yield* store.remove("a")
          expect((yield* store.update("a", { set: [["x", 1]] }, cutoff(1)))._tag).toBe("Missing")
          expect(Option.isNone(yield* store.get("a"))).toBe(true)
        })
      ))

    it.effect("prototype-like data keys stay plain data", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a"), SessionStore.unlimited)
          yield* store.update("a", { set: [["__proto__", { polluted: true }], ["constructor", 1]] }, cutoff(1))
          const data = Option.getOrThrow(yield* store.get("a")).data
          expect(Object.keys(data).sort()).toEqual(["__proto__", "constructor"])
          expect(({} as { polluted?: boolean }).polluted).toBeUndefined()
          expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
        })
      ))

    it.effect("concurrent updates of different keys all persist", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a"), SessionStore.unlimited)
          yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) => store.update("a", { set: [[`k${i}`, i]] }, cutoff(1)),
            { concurrency: "unbounded" }
          )
          expect(Object.keys(Option.getOrThrow(yield* store.get("a")).data)).toHaveLength(50)
        })
      ))

    it.effect("remove hands the record to exactly one of many racing callers", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a"), SessionStore.unlimited)
          const results = yield* Effect.all(Array.from({ length: 20 }, () => store.remove("a")), {
            concurrency: "unbounded"
          })
          expect(results.filter(Option.isSome)).toHaveLength(1)
          expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 0 })
        })
      ))

    it.effect("rekey moves a session to a new key atomically, keeping its data", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("old", anon, { data: { cart: [1, 2] } }), SessionStore.unlimited)
          const result = yield* store.rekey("old", { key: "new" }, SessionStore.unlimited, cutoff(5))
          expect(result._tag).toBe("Rekeyed")
          expect(Option.isNone(yield* store.get("old"))).toBe(true)
          const moved = Option.getOrThrow(yield* store.get("new"))
          expect(moved.data).toEqual({ cart: [1, 2] })
          expect(moved.lastUsedAt).toBe(5)
          expect(moved.createdAt).toBe(0)
          expect(yield* store.count).toEqual({ anonymous: 1, authenticated: 0 })
        })
      ))

    it.effect("rekey to another principal moves the session between kinds and indexes", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("old"), SessionStore.unlimited)
          yield* store.rekey(
            "old",
            { key: "new", principal: alice, createdAt: 7, expiresAt: 70 },
            SessionStore.unlimited,
            cutoff(7)
          )
          expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 1 })
          const [moved] = yield* store.listByPrincipal("alice")
          expect(moved).toMatchObject({ key: "new", principal: alice, createdAt: 7, expiresAt: 70 })
        })
      ))

    it.effect("rekey replaces data when given, and refuses missing, expired and taken keys", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { x: 1 }, expiresAt: 100 }), SessionStore.unlimited)
          yield* store.insert(record("b"), SessionStore.unlimited)
          expect((yield* store.rekey("zzz", { key: "n1" }, SessionStore.unlimited, cutoff(1)))._tag).toBe("Missing")
          const taken = yield* Effect.flip(store.rekey("a", { key: "b" }, SessionStore.unlimited, cutoff(1)))
          expect(taken._tag === "SessionStoreError" && taken.reason).toBe("Conflict")
          expect(Option.isSome(yield* store.get("a"))).toBe(true)
          expect((yield* store.rekey("a", { key: "n2" }, SessionStore.unlimited, cutoff(100)))._tag).toBe("Expired")
          expect(Option.isSome(yield* store.get("a"))).toBe(true)
          yield* store.rekey("a", { key: "n3", data: { y: 2 } }, SessionStore.unlimited, cutoff(1))
          expect(Option.getOrThrow(yield* store.get("n3")).data).toEqual({ y: 2 })
        })
      ))

    it.effect("listByPrincipal lists only that principal's sessions and follows removals", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a1", alice), SessionStore.unlimited)
          yield* store.insert(record("a2", alice), SessionStore.unlimited)
          yield* store.insert(record("b1", bob), SessionStore.unlimited)
          yield* store.insert(record("x"), SessionStore.unlimited)
          expect(keysOf(yield* store.listByPrincipal("alice"))).toEqual(["a1", "a2"])
          yield* store.remove("a1")
          expect(keysOf(yield* store.listByPrincipal("alice"))).toEqual(["a2"])
          expect(yield* store.listByPrincipal("nobody")).toEqual([])
          expect(yield* store.listByPrincipal("anonymous")).toEqual([])
        })
      ))

    it.effect("claimExpired removes exactly the expired records (idle per kind, absolute), up to max", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("abs", alice, { lastUsedAt: 90, expiresAt: 100 }), SessionStore.unlimited)
          yield* store.insert(record("idleAnon", anon, { lastUsedAt: 10 }), SessionStore.unlimited)
          yield* store.insert(record("freshAnon", anon, { lastUsedAt: 95 }), SessionStore.unlimited)
          yield* store.insert(record("idleAuth", bob, { lastUsedAt: 0 }), SessionStore.unlimited)
          yield* store.insert(record("freshAuth", bob, { lastUsedAt: 60 }), SessionStore.unlimited)
          yield* store.insert(record("forever", bob, { lastUsedAt: 60, expiresAt: null }), SessionStore.unlimited)
          const c = cutoff(100, { anonymous: 50, authenticated: 80 })
          const first = yield* store.claimExpired(c, 2)
          expect(first).toHaveLength(2)
          const rest = yield* store.claimExpired(c, 100)
          expect(keysOf([...first, ...rest])).toEqual(["abs", "idleAnon", "idleAuth"])
          expect(yield* store.claimExpired(c, 100)).toEqual([])
          expect(keysOf(yield* store.list)).toEqual(["forever", "freshAnon", "freshAuth"])
        })
      ))

    it.effect("claimExpired follows touches: a touched session is no longer idle", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { lastUsedAt: 0 }), SessionStore.unlimited)
          yield* store.insert(record("b", anon, { lastUsedAt: 1 }), SessionStore.unlimited)
          yield* store.touch("a", cutoff(90))
          const claimed = yield* store.claimExpired(cutoff(100, { anonymous: 50 }), 10)
          expect(keysOf(claimed)).toEqual(["b"])
        })
      ))

    it.effect("racing claimers never claim the same record twice", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => i),
            (i) => store.insert(record(`k${i}`, i % 2 === 0 ? anon : alice, { lastUsedAt: 0 }), SessionStore.unlimited)
          )
          const c = cutoff(100, { anonymous: 10, authenticated: 10 })
          const batches = yield* Effect.all(
            Array.from({ length: 8 }, () => store.claimExpired(c, 30)),
            { concurrency: "unbounded" }
          )
          const more = yield* store.claimExpired(c, 1000)
          const all = [...batches.flat(), ...more].map((r) => r.key)
          expect(all).toHaveLength(200)
          expect(new Set(all).size).toBe(200)
        })
      ))

    it.effect("maxAnonymousSessions evicts the least recently used anonymous session", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxAnonymousSessions: 2 })
          yield* store.insert(record("a", anon, { lastUsedAt: 0 }), l)
          yield* store.insert(record("b", anon, { lastUsedAt: 1 }), l)
          yield* store.touch("a", cutoff(5))
          const evicted = yield* store.insert(record("c", anon, { lastUsedAt: 6 }), l)
          expect(keysOf(evicted)).toEqual(["b"])
          expect(keysOf(yield* store.list)).toEqual(["a", "c"])
        })
      ))

    it.effect("refuse policy fails with SessionLimitError and changes nothing", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxAnonymousSessions: 1, maxSessionsPerPrincipal: 1, onLimit: "refuse" })
          yield* store.insert(record("a"), l)
          yield* store.insert(record("p1", alice), l)
          const anonError = yield* Effect.flip(store.insert(record("b"), l))
          expect(anonError._tag === "SessionLimitError" && anonError.limit).toBe("maxAnonymousSessions")
          const principalError = yield* Effect.flip(store.insert(record("p2", alice), l))
          expect(principalError._tag === "SessionLimitError" && principalError.limit).toBe("maxSessionsPerPrincipal")
          expect(keysOf(yield* store.list)).toEqual(["a", "p1"])
        })
      ))

    it.effect("maxSessions: anonymous sessions never evict authenticated ones; authenticated evict anonymous first", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxSessions: 2 })
          yield* store.insert(record("p1", alice, { lastUsedAt: 0 }), l)
          yield* store.insert(record("p2", bob, { lastUsedAt: 1 }), l)
          const refused = yield* Effect.flip(store.insert(record("anon"), l))
          expect(refused._tag === "SessionLimitError" && refused.limit).toBe("maxSessions")
          expect(keysOf(yield* store.list)).toEqual(["p1", "p2"])
          // an authenticated newcomer evicts the least recently used authenticated session
          const evicted = yield* store.insert(record("p3", alice, { lastUsedAt: 2 }), l)
          expect(keysOf(evicted)).toEqual(["p1"])
          // with an anonymous session present, it is evicted first
          yield* store.remove("p2")
          yield* store.insert(record("anon2", anon, { lastUsedAt: 3 }), l)
          const evicted2 = yield* store.insert(record("p4", bob, { lastUsedAt: 4 }), l)
          expect(keysOf(evicted2)).toEqual(["anon2"])
        })
      ))

    it.effect("maxSessionsPerPrincipal evicts that principal's least recently used session", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxSessionsPerPrincipal: 2 })
          yield* store.insert(record("a1", alice, { lastUsedAt: 0 }), l)
          yield* store.insert(record("a2", alice, { lastUsedAt: 1 }), l)
          yield* store.insert(record("b1", bob, { lastUsedAt: 0 }), l)
          yield* store.touch("a1", cutoff(10))
          const evicted = yield* store.insert(record("a3", alice, { lastUsedAt: 11 }), l)
          expect(keysOf(evicted)).toEqual(["a2"])
          expect(keysOf(yield* store.listByPrincipal("alice"))).toEqual(["a1", "a3"])
          expect(keysOf(yield* store.listByPrincipal("bob"))).toEqual(["b1"])
        })
      ))

    it.effect("rekey respects caps of the new principal, and a refusal keeps the old session", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxSessionsPerPrincipal: 1, onLimit: "refuse" })
          yield* store.insert(record("a1", alice), l)
          yield* store.insert(record("anon", anon, { data: { x: 1 } }), l)
          const error = yield* Effect.flip(store.rekey("anon", { key: "a2", principal: alice }, l, cutoff(1)))
          expect(error._tag === "SessionLimitError" && error.limit).toBe("maxSessionsPerPrincipal")
          expect(Option.getOrThrow(yield* store.get("anon")).data).toEqual({ x: 1 })
          expect(Option.isNone(yield* store.get("a2"))).toBe(true)
          const evicting = limits({ maxSessionsPerPrincipal: 1 })
          const result = yield* store.rekey("anon", { key: "a2", principal: alice }, evicting, cutoff(1))
          expect(result._tag === "Rekeyed" && keysOf(result.evicted)).toEqual(["a1"])
        })
      ))

    it.effect("LRU ties (same lastUsedAt) go by order of use: the session used longest ago is evicted", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxAnonymousSessions: 2, maxSessionsPerPrincipal: 2 })
          yield* store.insert(record("a"), l)
          yield* store.insert(record("b"), l)
          yield* store.touch("a", cutoff(0))
          expect(keysOf(yield* store.insert(record("c"), l))).toEqual(["b"])
          yield* store.insert(record("p1", alice), l)
          yield* store.insert(record("p2", alice), l)
          expect(keysOf(yield* store.insert(record("p3", alice), l))).toEqual(["p1"])
          // the per-principal cap too: p2 was opened first, but used after p3
          yield* store.touch("p2", cutoff(0))
          expect(keysOf(yield* store.insert(record("p4", alice), l))).toEqual(["p3"])
        })
      ))

    it.effect("concurrent inserts never overshoot a cap", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxAnonymousSessions: 10, onLimit: "refuse" })
          const exits = yield* Effect.all(
            Array.from({ length: 50 }, (_, i) => Effect.exit(store.insert(record(`k${i}`), l))),
            { concurrency: "unbounded" }
          )
          expect(exits.filter(Exit.isSuccess)).toHaveLength(10)
          expect((yield* store.count).anonymous).toBe(10)
        })
      ))

    it.effect("touch writes only when due: an undue touch is a pure read, and expiry still applies", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { lastUsedAt: 0, expiresAt: 1000 }), SessionStore.unlimited)
          // interval 100: at 50 the touch is not due (lastUsedAt 0 > 50 - 100)
          const read = yield* store.touch("a", cutoff(50, { anonymous: 500 }), 50 - 100)
          expect(read._tag).toBe("Read")
          expect(read._tag === "Read" && read.record.lastUsedAt).toBe(0)
          expect(Option.getOrThrow(yield* store.get("a")).lastUsedAt).toBe(0)
          // at 100 it is (0 <= 100 - 100)
          const written = yield* store.touch("a", cutoff(100, { anonymous: 500 }), 100 - 100)
          expect(written._tag).toBe("Written")
          expect(Option.getOrThrow(yield* store.get("a")).lastUsedAt).toBe(100)
          // an undue touch of an expired record still answers Expired, and writes nothing
          expect((yield* store.touch("a", cutoff(600, { anonymous: 500 }), 600 - 1000))._tag).toBe("Expired")
          expect((yield* store.touch("a", cutoff(1000), 1000 - 1000))._tag).toBe("Expired")
          expect((yield* store.touch("nope", cutoff(1), 0))._tag).toBe("Missing")
        })
      ))

    it.effect("an undue touch leaves the least-recently-used order alone; a due one moves the session", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxAnonymousSessions: 2 })
          yield* store.insert(record("a", anon, { lastUsedAt: 0 }), l)
          yield* store.insert(record("b", anon, { lastUsedAt: 1 }), l)
          yield* store.touch("a", cutoff(5), 5 - 100)
          expect(keysOf(yield* store.insert(record("c", anon, { lastUsedAt: 6 }), l))).toEqual(["a"])
          yield* store.touch("b", cutoff(7), 7 - 5)
          expect(keysOf(yield* store.insert(record("d", anon, { lastUsedAt: 8 }), l))).toEqual(["c"])
        })
      ))

    it.effect("rekey with keep keeps only the named data keys, read in the same step", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { cart: [1], csrf: "x", flag: true } }), SessionStore.unlimited)
          yield* store.update("a", { set: [["cart", [1, 2]]] }, cutoff(1))
          yield* store.rekey(
            "a",
            { key: "b", principal: alice, keep: ["cart", "absent"] },
            SessionStore.unlimited,
            cutoff(2)
          )
          expect(Option.getOrThrow(yield* store.get("b")).data).toEqual({ cart: [1, 2] })
          yield* store.rekey("b", { key: "c", keep: [] }, SessionStore.unlimited, cutoff(3))
          expect(Option.getOrThrow(yield* store.get("c")).data).toEqual({})
        })
      ))

    it.effect("remove with followRotations closes what a rotated-away key became; without, nothing", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a", anon, { data: { n: 1 } }), SessionStore.unlimited)
          yield* store.rekey("a", { key: "b", linkUntil: 1000 }, SessionStore.unlimited, cutoff(1))
          yield* store.rekey("b", { key: "c", principal: alice, linkUntil: 1000 }, SessionStore.unlimited, cutoff(2))
          expect(Option.isNone(yield* store.remove("a"))).toBe(true)
          expect(Option.isSome(yield* store.get("c"))).toBe(true)
          const closed = yield* store.remove("a", { followRotations: true })
          expect(Option.getOrThrow(closed).key).toBe("c")
          expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 0 })
          // the chain leads nowhere now; a live key is removed as itself
          expect(Option.isNone(yield* store.remove("b", { followRotations: true }))).toBe(true)
          yield* store.insert(record("d"), SessionStore.unlimited)
          expect(Option.getOrThrow(yield* store.remove("d", { followRotations: true })).key).toBe("d")
          // a rotation without a link leaves nothing to follow
          yield* store.insert(record("e"), SessionStore.unlimited)
          yield* store.rekey("e", { key: "f" }, SessionStore.unlimited, cutoff(3))
          expect(Option.isNone(yield* store.remove("e", { followRotations: true }))).toBe(true)
          expect(Option.isSome(yield* store.get("f"))).toBe(true)
        })
      ))

    it.effect("a removal following rotations, raced by the rotation, always ends the session", () =>
      withStore((store) =>
        Effect.gen(function*() {
          for (let i = 0; i < 40; i++) {
            yield* store.insert(record(`r${i}`, alice), SessionStore.unlimited)
            const [removed, rotated] = yield* Effect.all([
              Effect.zipRight(
                Effect.repeatN(Effect.yieldNow(), i % 4),
                store.remove(`r${i}`, { followRotations: true })
              ),
              Effect.zipRight(
                Effect.repeatN(Effect.yieldNow(), (i >> 2) % 4),
                store.rekey(`r${i}`, { key: `s${i}`, linkUntil: 1000 }, SessionStore.unlimited, cutoff(1))
              )
            ], { concurrency: "unbounded" })
            expect(Option.isSome(removed)).toBe(true)
            expect(rotated._tag === "Rekeyed" || rotated._tag === "Missing").toBe(true)
          }
          expect(yield* store.count).toEqual({ anonymous: 0, authenticated: 0 })
        })
      ))

    it.effect("revoke closes every session of a principal but except; nothing it covered is served again", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.insert(record("a1", alice), SessionStore.unlimited)
          yield* store.insert(record("a2", alice), SessionStore.unlimited)
          yield* store.insert(record("a3", alice), SessionStore.unlimited)
          yield* store.insert(record("b1", bob), SessionStore.unlimited)
          yield* store.insert(record("x", anon), SessionStore.unlimited)
          const result = yield* store.revoke("alice", { except: "a2" })
          const claimed = yield* store.claimExpired(cutoff(1), 100)
          expect(keysOf([...result.removed, ...claimed])).toEqual(["a1", "a3"])
          expect(result.removed.length + result.marked).toBe(2)
          for (const key of ["a1", "a3"]) {
            expect(["Missing", "Revoked"]).toContain((yield* store.touch(key, cutoff(2)))._tag)
            expect(["Missing", "Revoked"]).toContain((yield* store.update(key, { set: [["x", 1]] }, cutoff(2)))._tag)
            const rekeyed = yield* store.rekey(key, { key: `${key}'` }, SessionStore.unlimited, cutoff(2))
            expect(["Missing", "Revoked"]).toContain(rekeyed._tag)
          }
          expect(keysOf(yield* store.listByPrincipal("alice"))).toEqual(["a2"])
          // except stays valid, with its rotations; bob and anonymous sessions are untouched
          yield* store.rekey("a2", { key: "a2b" }, SessionStore.unlimited, cutoff(3))
          expect((yield* store.touch("a2b", cutoff(4)))._tag).toBe("Written")
          expect((yield* store.touch("b1", cutoff(4)))._tag).toBe("Written")
          expect((yield* store.touch("x", cutoff(4)))._tag).toBe("Written")
          // sessions opened or logged in after the revocation work
          yield* store.insert(record("a4", alice), SessionStore.unlimited)
          expect((yield* store.touch("a4", cutoff(5)))._tag).toBe("Written")
          yield* store.rekey("x", { key: "a5", principal: alice }, SessionStore.unlimited, cutoff(5))
          expect((yield* store.touch("a5", cutoff(6)))._tag).toBe("Written")
          expect((yield* store.revoke("nobody")).removed).toEqual([])
        })
      ))

    it.effect("revoke cannot be dodged by a session rotating concurrently: it ends exactly once", () =>
      withStore((store) =>
        Effect.gen(function*() {
          for (let round = 0; round < 12; round++) {
            const p = `p${round}`
            const principal: Session.Principal = { id: p, anonymous: false }
            yield* store.insert(record(`${p}-0`, principal), SessionStore.unlimited)
            const keys = [`${p}-0`]
            const rotate = Effect.gen(function*() {
              for (let n = 0; n < 200; n++) {
                const next = `${p}-${n + 1}`
                const result = yield* store.rekey(
                  keys[n],
                  { key: next, linkUntil: 1000 },
                  SessionStore.unlimited,
                  cutoff(1)
                )
                if (result._tag !== "Rekeyed") return
                keys.push(next)
                yield* Effect.yieldNow()
              }
            })
            const revoke = Effect.zipRight(Effect.repeatN(Effect.yieldNow(), round), store.revoke(p))
            const [, revoked] = yield* Effect.all([rotate, revoke], { concurrency: "unbounded" })
            const claimed = yield* store.claimExpired(cutoff(2), 1000)
            expect(revoked.removed.length + claimed.filter((r) => r.principal.id === p).length).toBe(1)
            for (const key of keys) {
              expect(["Missing", "Revoked"]).toContain((yield* store.touch(key, cutoff(3)))._tag)
            }
            expect(yield* store.listByPrincipal(p)).toEqual([])
          }
        })
      ))

    it.effect("maxSessions: a principal over its fair share evicts its own sessions, never another user's", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const l = limits({ maxSessions: 4 })
          yield* store.insert(record("b1", bob, { lastUsedAt: 0 }), l)
          yield* store.insert(record("a1", alice, { lastUsedAt: 1 }), l)
          yield* store.insert(record("a2", alice, { lastUsedAt: 2 }), l)
          yield* store.insert(record("a3", alice, { lastUsedAt: 3 }), l)
          // alice holds 3 of 4, over her fair share (4 / 2 principals): her flood evicts her own sessions
          for (let i = 4; i < 12; i++) {
            const evicted = yield* store.insert(record(`a${i}`, alice, { lastUsedAt: i }), l)
            expect(evicted.map((r) => r.principal.id)).toEqual(["alice"])
          }
          expect(keysOf(yield* store.listByPrincipal("bob"))).toEqual(["b1"])
          // carol holds nothing (under her share of 4 / 3): she evicts the least recently used session
          const evicted = yield* store.insert(record("c1", { id: "carol", anonymous: false }, { lastUsedAt: 20 }), l)
          expect(keysOf(evicted)).toEqual(["b1"])
        })
      ))

    it.effect("hostile ids, keys and data keys stay exact: quotes, %, _, backslashes, NUL, 1 KB", () =>
      withStore((store) =>
        Effect.gen(function*() {
          // ids that break naive SQL (quotes, LIKE wildcards), escaping (backslashes) and C strings (NUL)
          const hostile = [
            "o'brien",
            "\"quoted\"",
            "%",
            "_",
            "a%b_c",
            "'; DROP TABLE sessions; --",
            "back\\slash",
            "\\0",
            "nul\u0000byte",
            "\u0000",
            "x".repeat(1024),
            "é \u2028 🔑"
          ]
          for (const [i, id] of hostile.entries()) {
            const data: { [key: string]: Session.Json } = {}
            for (const name of hostile) data[name] = { [name]: [name, i] }
            yield* store.insert(record(`${id}#${i}`, { id, anonymous: false }, { data }), SessionStore.unlimited)
          }
          for (const [i, id] of hostile.entries()) {
            const key = `${id}#${i}`
            const stored = Option.getOrThrow(yield* store.get(key))
            expect(stored.principal.id).toBe(id)
            expect(Object.keys(stored.data).sort()).toEqual([...hostile].sort())
            for (const name of hostile) expect(stored.data[name]).toEqual({ [name]: [name, i] })
            // an index lookup matches the id exactly: no wildcard, no prefix, no escape collision
            expect((yield* store.listByPrincipal(id)).map((r) => r.key)).toEqual([key])
            const patched = yield* store.update(key, { set: [[id, id]], remove: [hostile[0]] }, cutoff(1))
            expect(patched._tag === "Written" && patched.record.data[id]).toBe(id)
          }
          expect(yield* store.listByPrincipal("a%")).toEqual([])
          expect(yield* store.listByPrincipal("nul")).toEqual([])
          const revoked = yield* store.revoke("%")
          expect(revoked.removed.map((r) => r.principal.id)).toEqual(["%"])
          const removed = yield* store.remove(`nul\u0000byte#8`)
          expect(Option.getOrThrow(removed).principal.id).toBe("nul\u0000byte")
          expect((yield* store.count).authenticated).toBe(hostile.length - 2)
        })
      ))

    it.effect("records handed out are frozen: mutating one throws and never changes the store", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const input = record("a", { id: "alice", anonymous: false, attributes: { roles: ["user"] } }, {
            data: { cart: [1], nested: { n: 1 } }
          })
          yield* store.insert(input, SessionStore.unlimited) // the caller's own objects stay the caller's
          ;(input.data as { [key: string]: unknown }).cart = "changed"
          const stored = Option.getOrThrow(yield* store.get("a"))
          expect(stored.data).toEqual({ cart: [1], nested: { n: 1 } })
          const touched = yield* store.touch("a", cutoff(1))
          const updated = yield* store.update("a", { set: [["more", { list: [1] }]] }, cutoff(2))
          const [listed] = yield* store.listByPrincipal("alice")
          for (const handed of [stored, touched._tag === "Written" ? touched.record : stored, listed]) {
            expect(() => {
              ;(handed.principal as { id: string }).id = "mallory"
            }).toThrow(TypeError)
            expect(() => {
              ;(handed.data as { [key: string]: unknown }).cart = "x"
            }).toThrow(TypeError)
            expect(() => {
              ;(handed.principal.attributes!.roles as Array<string>).push("admin")
            }).toThrow(TypeError)
          }
          const written = updated._tag === "Written" ? updated.record : stored
          expect(() => {
            ;(written.data.more as { list: Array<number> }).list.push(2)
          }).toThrow(TypeError)
          const after = Option.getOrThrow(yield* store.get("a"))
          expect(after.principal).toEqual({ id: "alice", anonymous: false, attributes: { roles: ["user"] } })
          expect(after.data).toEqual({ cart: [1], nested: { n: 1 }, more: { list: [1] } })
          expect(keysOf(yield* store.listByPrincipal("alice"))).toEqual(["a"])
          expect(keysOf(yield* store.listByPrincipal("mallory"))).toEqual([])
        })
      ))
  })
}
