/**
 * CPU profiles of ours where a target is missed: getSession in a fiber, the sweep, the HTTP
 * server under load, and getSession over Redis. Each runs under `node --cpu-prof`; the summaries
 * (self time by area and by function) go to bench/results/profiles/summary.md.
 *
 *   npm run profile            (about a minute)
 */
import { spawn } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { resultsDir } from "./lib/env.js"
import { cpuMicros, freePort, nodeCommand, runJson, stop, waitFor, which } from "./lib/proc.js"
import { summarize, toMarkdown } from "./tools/profile-summary.js"

const root = join(resultsDir, "profiles")
const log = (line: string) => process.stderr.write(`${line}\n`)
const sections: Array<string> = []

const profileDir = (name: string) => {
  const dir = join(root, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  return dir
}

const child = async (name: string, title: string, file: string, args: Array<string>) => {
  const dir = profileDir(name)
  log(`profile: ${title}`)
  await runJson(file, args, { core: 1, timeoutMs: 120_000, nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`] })
  sections.push(toMarkdown(summarize(dir, 20), title))
}

const http = async (name: string, title: string) => {
  const dir = profileDir(`http-${name}`)
  const port = await freePort()
  const { args, command } = nodeCommand("src/http/server.ts", ["--name", name, "--port", String(port)], {
    core: 0,
    nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${dir}`]
  })
  const server = spawn(command, args, { stdio: "ignore" })
  try {
    const up = await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`)).status === 200, 30_000, 100)
    if (!up) throw new Error(`${name} did not start`)
    const first = await fetch(`http://127.0.0.1:${port}/`)
    const cookie = first.headers.get("set-cookie")?.split(";")[0] ?? ""
    log(`profile: HTTP server (${name}) under load, 5 s`)
    const before = cpuMicros(server.pid!)
    const load = await runJson<{ requests: number }>(
      "src/http/loadgen.ts",
      ["--url", `http://127.0.0.1:${port}/`, "--seconds", "5", "--connections", "32", "--cookie", cookie],
      { core: 1, timeoutMs: 60_000 }
    )
    const cpu = cpuMicros(server.pid!) - before
    sections.push(`${title}: ${load.requests} requests, ${(cpu / load.requests).toFixed(1)} µs of server CPU each.`)
  } finally {
    await stop(server)
  }
  sections.push(toMarkdown(summarize(dir, 25), title))
}

const redis = async () => {
  if (which("redis-server") === undefined) return
  const port = await freePort()
  const server = spawn("taskset", [
    "-c",
    "0",
    "redis-server",
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    ""
  ], {
    stdio: "ignore"
  })
  try {
    await new Promise((resolve) => setTimeout(resolve, 500))
    await child("redis-ours", "getSession over SessionStore/Redis, 64 in flight", "src/cases/redis-child.ts", [
      "--store",
      "ours",
      "--port",
      String(port),
      "--inflight",
      "64",
      "--seconds",
      "4",
      "--sessions",
      "1000"
    ])
  } finally {
    await stop(server)
  }
}

const main = async () => {
  mkdirSync(root, { recursive: true })
  await child("getsession", "getSession in one fiber, 10k resident", "src/cases/inprocess-child.ts", [
    "--store",
    "ours",
    "--size",
    "10000",
    "--budget",
    "4000",
    "--rounds",
    "2",
    "--max-ops",
    "100000"
  ])
  await child("sweep", "cleanSessions, 100k resident, 10% expired", "src/cases/sweep-child.ts", [
    "--store",
    "ours",
    "--size",
    "100000",
    "--expired",
    "0.1"
  ])
  await http("ours", "HTTP server: HttpSession.middleware + updateData, 32 connections")
  await http("ours-read", "HTTP server: HttpSession.middleware, the handler only reads the session")
  await redis()
  const out = join(root, "summary.md")
  writeFileSync(out, sections.join("\n\n") + "\n")
  process.stdout.write(sections.join("\n\n") + "\n")
  log(`written ${out}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
