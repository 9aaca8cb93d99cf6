import { afterAll, describe } from "@effect/vitest"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { freshPrefix, startRedis } from "../redis/server.js"
import { storeContract } from "./store-contract.js"

const server = await startRedis()
afterAll(() => server?.stop())

// Without redis-server (never in CI, where startRedis throws instead) the suite is skipped.
describe.skipIf(server === undefined)("redis", () => {
  storeContract("redis", () => RedisStore.layer({ url: server!.url, prefix: freshPrefix("contract") }))
})
