/**
 * The Redis suites again under ioredis 6 (RESP3 by default, new retry and keep-alive defaults):
 * `ioredis` resolves to the `ioredis6` alias (`npm:ioredis@6`) everywhere, the library included.
 * Run with `npm run test:ioredis6`.
 */
import { defineConfig } from "vitest/config"
import { alias } from "./vitest.config.js"

export default defineConfig({
  resolve: { alias: [...alias, { find: /^ioredis$/, replacement: "ioredis6" }] },
  test: {
    include: ["test/redis/**/*.test.ts", "test/contract/redis*.test.ts", "test/reliability/model-redis.test.ts"],
    env: { IOREDIS_MAJOR: "6" },
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
