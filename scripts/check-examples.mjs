// Type-checks every ```ts example in the JSDoc of src/ (as docgen would): each becomes a module
// under .examples-check/ compiled against the library through the same path mapping as users'.
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"

const repo = new URL("..", import.meta.url).pathname
const out = join(repo, ".examples-check")
rmSync(out, { recursive: true, force: true })
mkdirSync(out)

const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith(".ts")) files.push(path)
  }
}
walk(join(repo, "src"))

let count = 0
const origin = new Map()
for (const file of files) {
  const text = readFileSync(file, "utf8")
  const pattern = /\/\*\*([\s\S]*?)\*\//g
  for (const block of text.matchAll(pattern)) {
    const body = block[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")
    for (const example of body.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const name = `example${++count}.ts`
      const line = text.slice(0, block.index).split("\n").length
      origin.set(name, `${relative(repo, file)}:${line}`)
      writeFileSync(join(out, name), `${example[1]}\nexport {}\n`)
    }
  }
}
writeFileSync(join(out, "tsconfig.json"), JSON.stringify({
  extends: "../tsconfig.json",
  compilerOptions: { noUnusedLocals: false, noUnusedParameters: false, noEmit: true },
  include: ["./*.ts"]
}))
try {
  execFileSync(join(repo, "node_modules/.bin/tsc"), ["-p", out], { stdio: "pipe" })
  console.log(`examples: ${count} type-checked, 0 failed`)
  rmSync(out, { recursive: true, force: true })
} catch (error) {
  const report = String(error.stdout).replace(/\.examples-check\/(example\d+\.ts)/g, (_, name) => `${origin.get(name)} (${name})`)
  console.error(report)
  const failed = new Set([...String(error.stdout).matchAll(/(example\d+\.ts)/g)].map((m) => m[1])).size
  console.log(`examples: ${count} type-checked, ${failed} failed (sources kept in .examples-check/)`)
  process.exitCode = 1
}
