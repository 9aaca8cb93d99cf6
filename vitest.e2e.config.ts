import { defineConfig } from "vitest/config"
import { alias } from "./vitest.config.js"

// Browser tests: `npm run test:e2e`. They start the demo server as a child process and drive
// Debian's Chromium (/usr/bin/chromium) through playwright-core; see test-e2e/demo.e2e.ts.
export default defineConfig({
  resolve: { alias },
  test: {
    include: ["test-e2e/**/*.e2e.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // one browser, one server: no parallel files
    fileParallelism: false
  }
})
