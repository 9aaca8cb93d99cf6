/** Helpers shared by the SQL suites. */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { type Instance, startProcess } from "../support/instance.js"

export type { Instance }

/** A temporary directory for SQLite files, with fresh file names. */
export const scratchDirectory = (name: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), `effect-session-${name}-`))
  let n = 0
  return {
    dir,
    next: (file: string) => path.join(dir, `${++n}-${file}`),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts")

/** Starts an application instance on a SQL store (test/sql/worker.ts) with `env` added to this process's environment. */
export const startInstance = (name: string, env: Record<string, string>): Promise<Instance> =>
  startProcess(name, worker, env)

/** Polls `check` every 100 ms until it holds, at most `ms`. */
export const eventually = async (check: () => Promise<boolean>, ms = 20_000): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return check()
}
