/**
 * The model-based suite over the memory store: explicit sweeps, refusal at the caps, and the
 * background sweeper; the default touch interval in some configurations and `"always"` in others;
 * a tight per-principal cap, and the default one (where the fair share at `maxSessions` decides).
 * Failing scenarios found by the random search are kept as regressions.
 */
import { SessionStore } from "effect-session"
import { configs, regressions } from "./model-cases.js"
import { modelSuite } from "./model.js"

modelSuite("memory store", () => SessionStore.layerMemory, {
  configs: [configs.evict, configs.refuse, configs.sweeper, configs.fairShare],
  numRuns: 100,
  maxLength: 25,
  regressions
})
