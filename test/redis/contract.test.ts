import { afterAll, describe, it } from "@effect/vitest"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { storeContract } from "../contract/SessionStore.contract.js"
import { freshPrefix, startRedis } from "./server.js"

const server = await startRedis()
afterAll(() => server?.stop())

if (server === undefined) {
  describe.skip("SessionStore contract: redis", () => it("needs redis-server", () => {}))
} else {
  storeContract("redis", () => RedisStore.layer({ url: server.url, prefix: freshPrefix("contract") }))
}
