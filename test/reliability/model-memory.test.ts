/**
 * The model-based suite over the memory store: explicit sweeps, refusal at the caps, and the
 * background sweeper. Failing scenarios found by the random search are kept as regressions.
 */
import { SessionStore } from "effect-session"
import { base, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

modelSuite("memory store", () => SessionStore.layerMemory, {
  configs: [
    ["evict at the caps, explicit sweeps", base],
    ["refuse at the caps, explicit sweeps", { ...base, onLimit: "refuse" }],
    ["evict at the caps, background sweeper every 2 s", { ...base, sweepEvery: 2_000 }]
  ],
  numRuns: 100,
  maxLength: 25,
  regressions
})
