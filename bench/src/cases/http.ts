/**
 * Case 4: HTTP on loopback. Each server runs in its own process pinned to core 0, autocannon in
 * another pinned to core 1. All servers are started first and warmed up; repetition 1 loads them
 * in order, repetition 2 in reverse order (so drift of the shared machine does not favour one).
 * Server CPU per request is the `/proc/<pid>/stat` utime+stime delta over the requests served.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { benchDir, hasHttpSession, type Sizes } from "../lib/env.js"
import { cpuMicros, freePort, nodeCommand, pool, runJson, stop, waitFor } from "../lib/proc.js"
import { num } from "../lib/report.js"

export interface ServerSpec {
  readonly name: string
  readonly label: string
  /** Diagnostic variants of ours and of the bare server (run with `--full` or `--diagnostics`). */
  readonly diagnostic?: boolean
  /** A server without sessions (no cookie to carry). */
  readonly sessionless?: boolean
  /** Why it is skipped, if it is. */
  readonly missing?: string
}

/** The servers, in table order. `ours` plugs in through `src/http/servers/ours.ts`. */
export const servers = (diagnostics: boolean): Array<ServerSpec> => {
  const oursFile = join(benchDir, "src/http/servers/ours.ts")
  const missing = hasHttpSession() && existsSync(oursFile) ? {} : { missing: "src/HttpSession.ts has not landed" }
  const all: Array<ServerSpec> = [
    { name: "bare-effect", label: "bare @effect/platform-node (no session)", sessionless: true },
    { name: "node-map", label: "node:http + Map session" },
    { name: "express", label: "express + express-session" },
    { name: "fastify", label: "fastify + @fastify/session" },
    { name: "naive-ref", label: "naive Ref<HashMap> middleware (@effect/platform)" },
    { name: "ours", label: "OURS: HttpSession.middleware (@effect/platform)", ...missing },
    { name: "ours-read", label: "diagnostic: OURS, handler only reads the session", diagnostic: true, ...missing },
    {
      name: "ours-manager",
      label: "diagnostic: OURS without HttpSession (hand-written middleware on SessionManager)",
      diagnostic: true
    },
    { name: "ours-norolling", label: "diagnostic: OURS with rolling: false", diagnostic: true, ...missing },
    { name: "bare-effect-untraced", label: "diagnostic: bare, tracer disabled", diagnostic: true, sessionless: true },
    { name: "ours-untraced", label: "diagnostic: OURS, tracer disabled", diagnostic: true, ...missing }
  ]
  return all.filter((spec) => diagnostics || spec.diagnostic !== true)
}

export interface LoadResult {
  readonly requests: number
  /** Responses with status 200; 0 means the window has no samples (percentiles are null). */
  readonly samples: number
  readonly seconds: number
  readonly rps: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
  readonly max: number | null
}

export interface HttpRow {
  readonly server: string
  readonly label: string
  readonly skipped?: string
  /** No repetition got a single 200 in its window (a saturated machine): nothing to report. */
  readonly noSamples?: boolean
  /** Best repetition for each metric (the machine is shared: noise only ever slows things down). */
  readonly rps?: number
  readonly p50?: number
  readonly p99?: number
  readonly cpuMicrosPerRequest?: number
  readonly repetitions?: ReadonlyArray<LoadResult & { readonly cpuMicrosPerRequest: number | null }>
  /** Failed requests (connection errors, timeouts) over all repetitions. */
  readonly errors?: number
}

interface Running {
  readonly spec: ServerSpec
  readonly child: ChildProcess
  readonly port: number
  cookie: string
  stderr: string
}

const get = async (port: number, cookie: string) => {
  const response = await fetch(`http://127.0.0.1:${port}/`, { headers: cookie === "" ? {} : { cookie } })
  return { status: response.status, body: await response.text(), setCookie: response.headers.get("set-cookie") }
}

const startServer = async (spec: ServerSpec, startTimeoutMs: number): Promise<Running> => {
  const port = await freePort()
  const { args, command } = nodeCommand("src/http/server.ts", ["--name", spec.name, "--port", String(port)], {
    core: 0
  })
  const child = spawn(command, args, { cwd: benchDir, stdio: ["ignore", "ignore", "pipe"] })
  const running: Running = { spec, child, port, cookie: "", stderr: "" }
  child.stderr!.on("data", (chunk) => (running.stderr += chunk))
  const up = await waitFor(async () => (await get(port, "")).status === 200, startTimeoutMs, 100)
  if (!up) {
    await stop(child)
    throw new Error(`${spec.name} did not start: ${running.stderr.slice(-2000)}`)
  }
  // the session every load request carries: the one the first request opened
  const first = await get(port, "")
  running.cookie = first.setCookie?.split(";")[0] ?? ""
  if (spec.sessionless !== true) {
    const a = await get(port, running.cookie)
    const b = await get(port, running.cookie)
    if (running.cookie === "" || Number.parseInt(b.body) !== Number.parseInt(a.body) + 1) {
      await stop(child)
      throw new Error(`${spec.name}: the session cookie does not keep the session (${a.body} then ${b.body})`)
    }
  }
  return running
}

const load = (running: Running, seconds: number, connections: number, timeoutMs: number) =>
  runJson<LoadResult>(
    "src/http/loadgen.ts",
    [
      "--url",
      `http://127.0.0.1:${running.port}/`,
      "--seconds",
      String(seconds),
      "--connections",
      String(connections),
      "--cookie",
      running.cookie
    ],
    { core: 1, timeoutMs }
  )

export const runHttp = async (
  sizes: Sizes,
  diagnostics: boolean,
  log: (line: string) => void
): Promise<Array<HttpRow>> => {
  const specs = servers(diagnostics)
  const running: Array<Running> = []
  const reps = new Map<string, Array<LoadResult & { cpuMicrosPerRequest: number | null }>>()
  const { connections, repetitions, seconds, warmupSeconds } = sizes.http
  const timeoutMs = (seconds + warmupSeconds) * 1000 + sizes.childTimeoutMs
  try {
    const started = await pool(
      specs.map((spec) => async () => {
        if (spec.missing !== undefined) {
          log(`http: ${spec.name} skipped (${spec.missing})`)
          return undefined
        }
        const server = await startServer(spec, sizes.childTimeoutMs)
        running.push(server)
        if (warmupSeconds > 0) await load(server, warmupSeconds, connections, timeoutMs)
        log(
          `http: ${spec.name} up on ${server.port} (pid ${server.child.pid})${warmupSeconds > 0 ? ", warmed up" : ""}`
        )
        return server
      }),
      sizes.parallel
    )
    running.length = 0
    for (const server of started) {
      if (server !== undefined) {
        running.push(server)
        reps.set(server.spec.name, [])
      }
    }
    for (let rep = 0; rep < repetitions; rep++) {
      const order = rep % 2 === 0 ? running : [...running].reverse()
      for (const server of order) {
        const pid = server.child.pid!
        const cpuBefore = cpuMicros(pid)
        const result = await load(server, seconds, connections, timeoutMs)
        const cpu = cpuMicros(pid) - cpuBefore
        // a wrong answer is a failure; slowness (errors, timeouts, no 200 at all) is not
        if (result.non2xx > 0) throw new Error(`${server.spec.name}: ${result.non2xx} non-2xx responses`)
        if (server.child.exitCode !== null || server.child.signalCode !== null) {
          throw new Error(`${server.spec.name} exited: ${server.stderr.slice(-2000)}`)
        }
        const row = { ...result, cpuMicrosPerRequest: result.samples === 0 ? null : cpu / result.requests }
        reps.get(server.spec.name)!.push(row)
        log(
          `http: ${server.spec.name} rep ${rep + 1}: ${
            result.samples === 0
              ? "no samples (no 200 in the window)"
              : `${num(result.rps)} req/s, p99 ${num(result.p99!)} ms, ${num(row.cpuMicrosPerRequest!)} µs CPU/req`
          }${result.errors > 0 ? `, ${result.errors} errors` : ""}`
        )
      }
    }
  } finally {
    for (const server of running) await stop(server.child)
  }
  return specs.map((spec): HttpRow => {
    const all = reps.get(spec.name)
    if (all === undefined || all.length === 0) {
      return { server: spec.name, label: spec.label, skipped: spec.missing ?? "not run" }
    }
    const errors = all.reduce((sum, r) => sum + r.errors, 0)
    const sampled = all.filter((r) => r.samples > 0)
    if (sampled.length === 0) return { server: spec.name, label: spec.label, noSamples: true, repetitions: all, errors }
    return {
      server: spec.name,
      label: spec.label,
      rps: Math.max(...sampled.map((r) => r.rps)),
      p50: Math.min(...sampled.map((r) => r.p50!)),
      p99: Math.min(...sampled.map((r) => r.p99!)),
      cpuMicrosPerRequest: Math.min(...sampled.map((r) => r.cpuMicrosPerRequest!)),
      repetitions: all,
      errors
    }
  })
}
