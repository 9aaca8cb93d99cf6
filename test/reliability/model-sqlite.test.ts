/**
 * The model-based suite over the SQLite store, in memory and in a file (a fresh database per
 * scenario), with explicit sweeps and with the background sweeper: SQLite runs in-process and
 * synchronously, so a background sweep is ordered like the memory store's.
 */
import { afterAll, describe } from "@effect/vitest"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { scratchDirectory } from "../sql/support.js"
import { base, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

const files = scratchDirectory("model")
afterAll(() => files.remove())

describe("sqlite", () => {
  modelSuite("sqlite store (:memory:)", () => SqliteStore.layer({ filename: ":memory:" }), {
    configs: [
      ["evict at the caps, explicit sweeps, default touch interval", base],
      ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }],
      ["evict at the caps, background sweeper every 2 s, default touch interval", { ...base, sweepEvery: 2_000 }],
      [
        "default per-principal cap (fair share at maxSessions), touch every 2 s",
        { ...base, maxSessions: 4, maxSessionsPerPrincipal: undefined, maxAnonymousSessions: 1, touchInterval: 2_000 }
      ]
    ],
    numRuns: 60,
    maxLength: 25,
    regressions,
    timeout: 120_000
  })
  modelSuite("sqlite store (file)", () => SqliteStore.layer({ filename: files.next("model.db") }), {
    configs: [
      ["evict at the caps, explicit sweeps, default touch interval", base],
      ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }]
    ],
    numRuns: 30,
    maxLength: 25,
    timeout: 120_000
  })
})
