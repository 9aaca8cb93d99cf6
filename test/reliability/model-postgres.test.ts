/**
 * The model-based suite over the PostgreSQL store (a throwaway server, fresh table prefix per
 * scenario). Never skipped in CI: with `CI` set and no PostgreSQL binaries, `startPostgres` throws.
 * Explicit sweeps only: with real I/O a background sweep may still be running when the next step
 * starts, which the model cannot order.
 */
import { afterAll, describe } from "@effect/vitest"
import * as PgStore from "effect-session/SessionStore/Pg"
import { freshPrefix, startPostgres } from "../sql/postgres.js"
import { configs, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

const server = await startPostgres()
afterAll(() => server?.stop())

describe.skipIf(server === undefined)("postgres", () => {
  modelSuite("postgres store", () => PgStore.layer({ url: server!.url(), prefix: freshPrefix("model"), poolSize: 8 }), {
    configs: [configs.evict, configs.refuse, configs.fairShare],
    numRuns: 40,
    maxLength: 25,
    regressions: regressions.filter(([, config]) => config.sweepEvery === undefined),
    timeout: 180_000
  })
})
