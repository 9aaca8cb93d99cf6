/**
 * Which ioredis the Redis suites run on: 5 by default, 6 under `npm run test:ioredis6` (which sets
 * IOREDIS_MAJOR=6 and resolves `ioredis` to the `ioredis6` alias, RESP3 by default).
 */
import { describe, expect, it } from "@effect/vitest"
import { Redis } from "ioredis"

describe("ioredis under test", () => {
  it("is the major version the run asked for", () => {
    const client = new Redis({ lazyConnect: true })
    const protocol = (client.options as { readonly protocol?: number }).protocol
    client.disconnect()
    if (process.env.IOREDIS_MAJOR === "6") expect(protocol).toBe(3)
    else expect(protocol).toBeUndefined()
  })
})
