import { afterAll, describe } from "@effect/vitest"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { startCluster } from "../redis/cluster.js"
import { freshPrefix } from "../redis/server.js"
import { storeContract } from "./store-contract.js"

// A Redis Cluster of 3 masters and 3 replicas, started (and stopped) by this file.
const cluster = await startCluster()
afterAll(() => cluster?.stop(), 30_000)

// Without redis-server (never in CI, where startCluster throws instead) the suite is skipped.
describe.skipIf(cluster === undefined)("redis cluster", () => {
  storeContract("redis cluster", () => RedisStore.layer({ nodes: cluster!.urls, prefix: freshPrefix("contract") }))
})
