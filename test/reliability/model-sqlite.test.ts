/**
 * The model-based suite over the SQLite store, in memory and in a file (a fresh database per
 * scenario), with explicit sweeps and with the background sweeper: SQLite runs in-process and
 * synchronously, so a background sweep is ordered like the memory store's.
 */
import { afterAll, describe } from "@effect/vitest"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { scratchDirectory } from "../sql/support.js"
import { configs, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

const files = scratchDirectory("model")
afterAll(() => files.remove())

describe("sqlite", () => {
  modelSuite("sqlite store (:memory:)", () => SqliteStore.layer({ filename: ":memory:" }), {
    configs: [configs.evict, configs.refuse, configs.sweeper, configs.fairShare],
    numRuns: 60,
    maxLength: 25,
    regressions,
    timeout: 120_000
  })
  modelSuite("sqlite store (file)", () => SqliteStore.layer({ filename: files.next("model.db") }), {
    configs: [configs.evict, configs.refuse],
    numRuns: 30,
    maxLength: 25,
    timeout: 120_000
  })
})
