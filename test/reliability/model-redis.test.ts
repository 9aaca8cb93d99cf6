/**
 * The model-based suite over the Redis store (a throwaway `redis-server`, fresh key prefix per
 * scenario). Never skipped in CI: with `CI` set and no `redis-server`, `startRedis` throws.
 * Explicit sweeps only: with real I/O a background sweep may still be running when the next step
 * starts, which the model cannot order.
 */
import { afterAll, describe } from "@effect/vitest"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { freshPrefix, startRedis } from "../redis/server.js"
import { base, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

const server = await startRedis()
afterAll(() => server?.stop())

// Without redis-server (never in CI, where startRedis throws instead) the suite is skipped.
describe.skipIf(server === undefined)("redis", () => {
  modelSuite("redis store", () => RedisStore.layer({ url: server!.url, prefix: freshPrefix("model") }), {
    configs: [
      ["evict at the caps, explicit sweeps", base],
      ["refuse at the caps, explicit sweeps", { ...base, onLimit: "refuse" }]
    ],
    numRuns: 60,
    maxLength: 25,
    regressions: regressions.filter(([, config]) => config.sweepEvery === undefined)
  })
})
