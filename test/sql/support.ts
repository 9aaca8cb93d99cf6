/** Helpers shared by the SQL suites. */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"

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
