// Runs every example as a user would: scripts to completion (exit 0 required), and the demo
// server started on a free loopback port, probed over HTTP, then stopped by pid.
import { spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"

const tsx = new URL("../node_modules/.bin/tsx", import.meta.url).pathname
const examples = readdirSync(new URL("../examples", import.meta.url))
  .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
  .sort()

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const run = (name, env = {}) => {
  const child = spawn(tsx, [`examples/${name}`], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })))
  return { child, exited, output: () => output }
}

const timeout = (ms, what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())

let failures = 0
let passed = 0

// The README's first example must be the file that runs here, character for character.
{
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
  const section = readme.slice(readme.indexOf("## A first example"))
  const snippet = section.slice(section.indexOf("```ts\n") + 6, section.indexOf("```", section.indexOf("```ts\n") + 6))
  const file = readFileSync(new URL("../examples/first-example.ts", import.meta.url), "utf8")
  if (!file.endsWith(snippet)) {
    failures++
    console.error("FAIL README.md: the first example differs from examples/first-example.ts")
  } else {
    passed++
    console.log("ok   README.md first example = examples/first-example.ts")
  }
}
for (const name of examples) {
  const started = Date.now()
  try {
    if (name === "server.ts") {
      const port = await freePort()
      const server = run(name, { PORT: String(port), HOST: "127.0.0.1" })
      try {
        await Promise.race([
          (async () => {
            for (;;) {
              const early = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r(null), 200))])
              if (early) throw new Error(`exited early (${JSON.stringify(early)})`)
              try {
                const response = await fetch(`http://127.0.0.1:${port}/`)
                const body = await response.text()
                if (response.status === 200 && body.includes("<form")) return
              } catch {
                // not listening yet
              }
            }
          })(),
          timeout(60_000, name)
        ])
      } finally {
        server.child.kill("SIGTERM")
        await Promise.race([server.exited, timeout(10_000, `${name} shutdown`)]).catch((error) => {
          server.child.kill("SIGKILL")
          throw error
        })
      }
    } else {
      const script = run(name)
      const { code, signal } = await Promise.race([script.exited, timeout(120_000, name)])
      if (code !== 0) throw new Error(`exit ${code ?? signal}\n${script.output()}`)
    }
    passed++
    console.log(`ok   examples/${name} (${Date.now() - started} ms)`)
  } catch (error) {
    failures++
    console.error(`FAIL examples/${name}: ${error.message}`)
  }
}
console.log(`examples: ${passed} passed, ${failures} failed`)
process.exitCode = failures === 0 ? 0 : 1
