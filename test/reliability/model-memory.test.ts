/**
 * The model-based suite over the memory store: explicit sweeps, refusal at the caps, and the
 * background sweeper; the default touch interval in some configurations and `"always"` in others;
 * a tight per-principal cap, and the default one (where the fair share at `maxSessions` decides).
 * Failing scenarios found by the random search are kept as regressions.
 */
import { SessionStore } from "effect-session"
import { base, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

modelSuite("memory store", () => SessionStore.layerMemory, {
  configs: [
    ["evict at the caps, explicit sweeps, default touch interval", base],
    ["refuse at the caps, explicit sweeps, touch always", { ...base, onLimit: "refuse", touchInterval: "always" }],
    ["evict at the caps, background sweeper every 2 s, default touch interval", { ...base, sweepEvery: 2_000 }],
    [
      "default per-principal cap (fair share at maxSessions), touch every 2 s",
      { ...base, maxSessions: 4, maxSessionsPerPrincipal: undefined, maxAnonymousSessions: 1, touchInterval: 2_000 }
    ]
  ],
  numRuns: 100,
  maxLength: 25,
  regressions
})
