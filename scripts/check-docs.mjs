// The API reference and the JSDoc rules, in two parts:
//   1. what docgen does not enforce: every public export of src/ (internal/ excluded) has a
//      lower-case @category, and every exported function or value (not types and interfaces)
//      an @example (scripts/check-examples.mjs type-checks them);
//   2. `npm run docs` (docgen: a description and @since on every export, one page per module
//      into docs/), and docs/ must not change: committed pages are those of the sources.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const repo = new URL("..", import.meta.url).pathname
const root = join(repo, "src")
const walk = (dir, keep) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? (keep(path) ? walk(path, keep) : []) : [path]
  })
const files = walk(root, (dir) => !dir.endsWith("/internal")).filter((f) => f.endsWith(".ts") && !f.endsWith("index.ts"))

const problems = []
for (const file of files) {
  const lines = readFileSync(file, "utf8").split("\n")
  lines.forEach((line, index) => {
    const match = /^export (?:declare )?(const|class|interface|type|namespace|function) (\w+)/.exec(line)
    if (match === null) return
    const [, kind, name] = match
    // the JSDoc block that ends on the line above (docgen reports a missing one)
    let end = index - 1
    while (end >= 0 && lines[end].trim() === "") end--
    if (end < 0 || !lines[end].trim().endsWith("*/")) return
    let start = end
    while (start >= 0 && !lines[start].trim().startsWith("/**")) start--
    const doc = lines.slice(start, end + 1).join("\n")
    const missing = []
    if (!/@category [a-z]/.test(doc)) missing.push("@category (lower-case)")
    const isValue = kind === "const" || kind === "class" || kind === "function"
    if (isValue && !/@example/.test(doc)) missing.push("@example")
    if (missing.length > 0) problems.push(`${relative(repo, file)}:${index + 1} ${name}: missing ${missing.join(", ")}`)
  })
}
for (const problem of problems) console.error(problem)
console.log(`docs: ${files.length} modules, ${problems.length} missing @category or @example`)

// Every file under docs/, with its content.
const snapshot = () => {
  const dir = join(repo, "docs")
  if (!existsSync(dir)) return new Map()
  return new Map(walk(dir, () => true).map((path) => [relative(dir, path), readFileSync(path, "utf8")]))
}
const before = snapshot()
let generated = true
try {
  execFileSync("npm", ["run", "--silent", "docs"], { cwd: repo, stdio: "inherit" })
} catch {
  generated = false
  problems.push("npm run docs failed")
}
if (generated) {
  const after = snapshot()
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((f) => before.get(f) !== after.get(f))
  for (const file of changed) console.error(`docs/${file} was not up to date with the sources`)
  if (changed.length > 0) problems.push(`${changed.length} files of docs/ regenerated: commit them`)
  else console.log(`docs: ${after.size} files of docs/ up to date`)
}
process.exitCode = problems.length === 0 ? 0 : 1
