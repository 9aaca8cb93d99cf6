/**
 * The model-based suite over the Redis store, on a single `redis-server` and on a Redis Cluster
 * (3 masters, 3 replicas), each started by this file (fresh key prefix per scenario). Never
 * skipped in CI: with `CI` set and no `redis-server`, `startRedis` / `startCluster` throw.
 * Explicit sweeps only: with real I/O a background sweep may still be running when the next step
 * starts, which the model cannot order.
 */
import { afterAll, describe } from "@effect/vitest"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { startCluster } from "../redis/cluster.js"
import { freshPrefix, startRedis } from "../redis/server.js"
import { base, regressions, spreadRegressions, uncapped } from "./model-cases.js"
import { modelSuite } from "./model.js"

const [server, cluster] = await Promise.all([startRedis(), startCluster()])
afterAll(() => Promise.all([server?.stop(), cluster?.stop()]), 30_000)

const explicitSweeps = regressions.filter(([, config]) => config.sweepEvery === undefined)

// Without redis-server (never in CI, where startRedis throws instead) the suite is skipped.
describe.skipIf(server === undefined)("redis", () => {
  modelSuite("redis store", () => RedisStore.layer({ url: server!.url, prefix: freshPrefix("model") }), {
    configs: [
      ["evict at the caps, explicit sweeps, default touch interval", base],
      ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }],
      [
        "default per-principal cap (fair share at maxSessions), touch every 2 s",
        { ...base, maxSessions: 4, maxSessionsPerPrincipal: undefined, maxAnonymousSessions: 1, touchInterval: 2_000 }
      ]
    ],
    numRuns: 60,
    maxLength: 25,
    regressions: explicitSweeps
  })
})

// The exact rules in one bucket; the spread layout (16 buckets, the cluster default) with the cap
// that spans buckets, the per-principal one, by eviction (global caps hold per bucket, a share
// each; refusal is exact for one opening at a time only, concurrent openings of one principal can
// overshoot it: both tested in test/redis/buckets.test.ts, documented in SessionStore/Redis).
describe.skipIf(cluster === undefined)("redis cluster", () => {
  modelSuite(
    "redis cluster store, one bucket",
    () => RedisStore.layer({ nodes: cluster!.urls, prefix: freshPrefix("model"), buckets: 1 }),
    {
      configs: [
        ["evict at the caps, explicit sweeps, default touch interval", base],
        ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }]
      ],
      numRuns: 30,
      maxLength: 25,
      regressions: explicitSweeps
    }
  )
  modelSuite(
    "redis cluster store, spread layout",
    () => RedisStore.layer({ nodes: cluster!.urls, prefix: freshPrefix("model") }),
    {
      configs: [
        ["evict at the per-principal cap, explicit sweeps, default touch interval", uncapped],
        ["evict at the per-principal cap, explicit sweeps, touch always", { ...uncapped, touchInterval: "always" }]
      ],
      numRuns: 30,
      maxLength: 25,
      regressions: spreadRegressions
    }
  )
})
