import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = fileURLToPath(new URL("./src", import.meta.url))

/** `effect-session` and its deep imports resolve to the sources, as tsconfig's paths do. */
export const alias = [
  { find: /^effect-session$/, replacement: `${src}/index.ts` },
  { find: /^effect-session\/(.*)$/, replacement: `${src}/$1.ts` }
]

export default defineConfig({
  resolve: { alias },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
