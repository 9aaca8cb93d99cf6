/**
 * The store contract on a Redis Cluster (3 masters, 3 replicas, started and stopped by this file),
 * in both layouts:
 *
 * - one bucket (`buckets: 1`): the whole store in one slot, every rule exact;
 * - the spread layout (the cluster default, 16 buckets): the contract's keys are mapped into one
 *   bucket (a suffix chosen with the store's `sameBucket`) and its global caps scaled by the number
 *   of buckets (a bucket holds its share of them), so the contract checks each bucket's step
 *   exactly; what spans buckets (revocation, listings, counts, the per-principal cap) is tested
 *   across buckets in test/redis/buckets.test.ts.
 */
import { afterAll, describe } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import type { Session } from "effect-session"
import { SessionError, SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { startCluster } from "../redis/cluster.js"
import { freshPrefix } from "../redis/server.js"
import { storeContract } from "./store-contract.js"

const cluster = await startCluster()
afterAll(() => cluster?.stop(), 30_000)

const BUCKETS = RedisStore.defaults.clusterBuckets
const ANCHOR = "contract-anchor"

/** The store with every key mapped into the anchor's bucket and global caps scaled to one bucket's share. */
const oneBucket = (inner: SessionStore.Service): SessionStore.Service => {
  const same = inner.sameBucket!
  const to = new Map<string, string>()
  const from = new Map<string, string>()
  const k = (key: string): string => {
    const known = to.get(key)
    if (known !== undefined) return known
    let mapped = key
    for (let n = 0; !same(mapped, ANCHOR); n++) mapped = `${key}~${n}`
    to.set(key, mapped)
    from.set(mapped, key)
    return mapped
  }
  const out = (record: Session.Record): Session.Record =>
    Object.freeze({ ...record, key: from.get(record.key) ?? record.key })
  const outs = (records: ReadonlyArray<Session.Record>) => records.map(out)
  const inRecord = (record: Session.Record): Session.Record => ({ ...record, key: k(record.key) })
  const scaled = (limits: SessionStore.Limits): SessionStore.Limits => ({
    ...limits,
    maxSessions: limits.maxSessions * BUCKETS,
    maxAnonymousSessions: limits.maxAnonymousSessions * BUCKETS
  })
  const limitBack = (limits: SessionStore.Limits) => (error: SessionError.SessionLimitError) =>
    Effect.fail(new SessionError.SessionLimitError({ limit: error.limit, max: limits[error.limit] }))
  const result = <R extends { readonly _tag: string }>(r: R): R => {
    const any = r as unknown as Record<string, unknown>
    const copy: Record<string, unknown> = { ...any }
    for (const field of ["record", "previous"]) {
      if (any[field] !== undefined) copy[field] = out(any[field] as Session.Record)
    }
    if (Array.isArray(any.evicted)) copy.evicted = outs(any.evicted as ReadonlyArray<Session.Record>)
    return copy as unknown as R
  }
  return {
    ...inner,
    insert: (record, limits) =>
      inner.insert(inRecord(record), scaled(limits)).pipe(
        Effect.map(outs),
        Effect.catchTag("SessionLimitError", limitBack(limits))
      ),
    get: (key) => Effect.map(inner.get(k(key)), Option.map(out)),
    touch: (key, cutoff, touchBefore) => Effect.map(inner.touch(k(key), cutoff, touchBefore), result),
    update: (key, patch, cutoff) => Effect.map(inner.update(k(key), patch, cutoff), result),
    rekey: (key, next, limits, cutoff) =>
      inner.rekey(k(key), { ...next, key: k(next.key) }, scaled(limits), cutoff).pipe(
        Effect.map(result),
        Effect.catchTag("SessionLimitError", limitBack(limits))
      ),
    remove: (key, options) => Effect.map(inner.remove(k(key), options), Option.map(out)),
    revoke: (principalId, options) =>
      Effect.map(
        inner.revoke(principalId, options?.except === undefined ? options : { ...options, except: k(options.except) }),
        (r) => ({ ...r, removed: outs(r.removed) })
      ),
    list: Effect.map(inner.list, outs),
    listByPrincipal: (principalId) => Effect.map(inner.listByPrincipal(principalId), outs),
    claimExpired: (cutoff, max) => Effect.map(inner.claimExpired(cutoff, max), outs)
  }
}

// Without redis-server (never in CI, where startCluster throws instead) the suite is skipped.
describe.skipIf(cluster === undefined)("redis cluster", () => {
  storeContract(
    "redis cluster, one bucket",
    () => RedisStore.layer({ nodes: cluster!.urls, prefix: freshPrefix("contract"), buckets: 1 })
  )
  storeContract("redis cluster, spread layout (one bucket's steps)", () =>
    Layer.effect(
      SessionStore.SessionStore,
      Effect.map(SessionStore.SessionStore, oneBucket)
    ).pipe(Layer.provide(RedisStore.layer({ nodes: cluster!.urls, prefix: freshPrefix("contract") }))))
})
