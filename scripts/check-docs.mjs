// Every public export of src/ (internal/ excluded) has a JSDoc block with a summary, @since and
// @category; every exported function or value (not types and interfaces) also has an @example.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"

const root = new URL("../src", import.meta.url).pathname
const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (name !== "internal") walk(path)
    } else if (name.endsWith(".ts") && name !== "index.ts") files.push(path)
  }
}
walk(root)

const problems = []
for (const file of files) {
  const lines = readFileSync(file, "utf8").split("\n")
  lines.forEach((line, index) => {
    const match = /^export (?:declare )?(const|class|interface|type|namespace|function) (\w+)/.exec(line)
    if (match === null) return
    const [, kind, name] = match
    // the JSDoc block that ends on the line above
    let end = index - 1
    while (end >= 0 && lines[end].trim() === "") end--
    if (end < 0 || !lines[end].trim().endsWith("*/")) {
      problems.push(`${relative(root, file)}:${index + 1} ${name}: no JSDoc`)
      return
    }
    let start = end
    while (start >= 0 && !lines[start].trim().startsWith("/**")) start--
    const doc = lines.slice(start, end + 1).join("\n")
    const missing = []
    if (!/@since \d/.test(doc)) missing.push("@since")
    if (!/@category [a-z]/.test(doc)) missing.push("@category (lower-case)")
    if (!/\/\*\*\s*\n\s*\*\s+\S/.test(doc)) missing.push("summary")
    const isValue = kind === "const" || kind === "class" || kind === "function"
    if (isValue && !/@example/.test(doc)) missing.push("@example")
    if (missing.length > 0) problems.push(`${relative(root, file)}:${index + 1} ${name}: missing ${missing.join(", ")}`)
  })
}
for (const problem of problems) console.error(problem)
console.log(`docs: ${files.length} modules, ${problems.length} problems`)
process.exitCode = problems.length === 0 ? 0 : 1
