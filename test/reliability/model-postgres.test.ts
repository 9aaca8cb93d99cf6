/**
 * The model-based suite over the PostgreSQL store (a throwaway server, fresh table prefix per
 * scenario). Never skipped in CI: with `CI` set and no PostgreSQL binaries, `startPostgres` throws.
 * Explicit sweeps only: with real I/O a background sweep may still be running when the next step
 * starts, which the model cannot order.
 */
import { afterAll, describe } from "@effect/vitest"
import * as PgStore from "effect-session/SessionStore/Pg"
import { freshPrefix, startPostgres } from "../sql/postgres.js"
import { base, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

const server = await startPostgres()
afterAll(() => server?.stop())

describe.skipIf(server === undefined)("postgres", () => {
  modelSuite("postgres store", () => PgStore.layer({ url: server!.url(), prefix: freshPrefix("model"), poolSize: 8 }), {
    configs: [
      ["evict at the caps, explicit sweeps, default touch interval", base],
      ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }],
      [
        "default per-principal cap (fair share at maxSessions), touch every 2 s",
        { ...base, maxSessions: 4, maxSessionsPerPrincipal: undefined, maxAnonymousSessions: 1, touchInterval: 2_000 }
      ]
    ],
    numRuns: 40,
    maxLength: 25,
    regressions: regressions.filter(([, config]) => config.sweepEvery === undefined),
    timeout: 180_000
  })
})
