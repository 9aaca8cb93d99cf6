/**
 * Case 4: HTTP on loopback. Each server runs in its own process pinned to core 0; one autocannon
 * worker process, pinned to core 1, loads them one window at a time. All servers are started and
 * warmed up first; then every round loads every server once, in a rotating order, so that a
 * machine that gets busier or quieter weighs on all of them alike.
 *
 * Server CPU per request is what the server process reports of itself (`process.cpuUsage()` over
 * IPC, before and after its window) over the requests it answered: the process' own CPU time, not
 * wall-clock throughput. Each round pairs every server with bare @effect/platform measured in the
 * same round; the report gives the median of those paired differences and their range. Each
 * window also records how much of the cores other processes took (`/proc/stat` minus the CPU of
 * the server, the load generator and this harness): above a quarter, the window is noisy.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import type { Window } from "../http/loadgen.js"
import { benchDir, type Sizes } from "../lib/env.js"
import { type Spread, spread } from "../lib/measure.js"
import { othersShare, sampleMachine } from "../lib/noise.js"
import { ask, freePort, nodeCommand, pool, stop, waitFor } from "../lib/proc.js"
import { num } from "../lib/report.js"

export interface ServerSpec {
  readonly name: string
  readonly label: string
  /** Diagnostic variants of ours and of the bare server (run with `--full` or `--diagnostics`). */
  readonly diagnostic?: boolean
  /** A server without sessions (no cookie to carry). */
  readonly sessionless?: boolean
}

/** The reference every server is paired with, round by round. */
export const BARE = "bare-effect"

/** The servers, in table order. A server plugs in as one file `src/http/servers/<name>.ts`. */
export const servers = (diagnostics: boolean): Array<ServerSpec> => {
  const all: Array<ServerSpec> = [
    { name: BARE, label: "bare @effect/platform-node (no session)", sessionless: true },
    { name: "node-map", label: "node:http + Map session" },
    { name: "express", label: "express + express-session" },
    { name: "fastify", label: "fastify + @fastify/session" },
    { name: "naive-ref", label: "naive Ref<HashMap> middleware (@effect/platform)" },
    { name: "ours", label: "OURS: HttpSession.middleware (@effect/platform)" },
    { name: "ours-read", label: "diagnostic: OURS, handler only reads the session", diagnostic: true },
    {
      name: "ours-manager",
      label: "diagnostic: OURS without HttpSession (hand-written middleware on SessionManager)",
      diagnostic: true
    },
    { name: "ours-norolling", label: "diagnostic: OURS with rolling: false", diagnostic: true },
    { name: "bare-effect-untraced", label: "diagnostic: bare, tracer disabled", diagnostic: true, sessionless: true },
    { name: "ours-untraced", label: "diagnostic: OURS, tracer disabled", diagnostic: true }
  ]
  return all.filter((spec) => diagnostics || spec.diagnostic !== true)
}

/** What the load generator reports of one window. */
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
  /** CPU the load generator used in the window, µs. */
  readonly cpuMicros: number
}

/** One server's window in one round. */
export interface Round extends LoadResult {
  readonly round: number
  /** Server CPU µs per request; null without samples. */
  readonly cpuMicrosPerRequest: number | null
  /** Other processes' share of all cores during the window (0..1), if known. */
  readonly othersShare: number | null
}

export interface HttpRow {
  readonly server: string
  readonly label: string
  readonly skipped?: string
  /** No round got a single 200 in its window (a saturated machine): nothing to report. */
  readonly noSamples?: boolean
  /** Medians over the rounds with samples. */
  readonly rps?: number
  readonly p50?: number
  readonly p99?: number
  readonly cpuMicrosPerRequest?: number
  /** Server CPU added over bare, per round (paired differences): median and range. */
  readonly addedCpu?: Spread | undefined
  /** p99 over bare's p99, per round. */
  readonly p99VsBare?: Spread | undefined
  /** Failed requests (connection errors, timeouts) over all rounds. */
  readonly errors?: number
  readonly rounds?: ReadonlyArray<Round>
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
  const child = spawn(command, args, { cwd: benchDir, stdio: ["ignore", "ignore", "pipe", "ipc"] })
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

/** The load generator: one long-lived process on core 1 that runs one window per message. */
const startLoadgen = async (timeoutMs: number) => {
  const { args, command } = nodeCommand(join("src/http/loadgen.ts"), [], { core: 1 })
  const child = spawn(command, args, { cwd: benchDir, stdio: ["ignore", "ignore", "pipe", "ipc"] })
  let stderr = ""
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  await ask(child, undefined, (m) => m.ready === true, timeoutMs).catch((error) => {
    throw new Error(`load generator: ${error.message}\n${stderr.slice(-2000)}`)
  })
  const run = async (window: Window, windowTimeoutMs: number): Promise<LoadResult> => {
    const answer = await ask<{ ok: boolean; result: LoadResult; error: string }>(
      child,
      window,
      (m) => typeof m.ok === "boolean",
      windowTimeoutMs
    )
    if (!answer.ok) throw new Error(`load generator: ${answer.error}`)
    return answer.result
  }
  return { child, run }
}

const serverCpu = (server: Running, timeoutMs: number) =>
  ask<{ micros: number }>(server.child, { type: "cpu" }, (m) => m.type === "cpu", timeoutMs).then((m) => m.micros)

export const runHttp = async (
  sizes: Sizes,
  diagnostics: boolean,
  log: (line: string) => void
): Promise<Array<HttpRow>> => {
  const specs = servers(diagnostics)
  const running: Array<Running> = []
  const rounds = new Map<string, Array<Round>>(specs.map((spec) => [spec.name, []]))
  const { connections, seconds, warmupSeconds } = sizes.http
  const timeoutMs = sizes.childTimeoutMs
  const windowTimeoutMs = (Math.max(seconds, warmupSeconds) + 10) * 1000 + timeoutMs
  let loadgen: Awaited<ReturnType<typeof startLoadgen>> | undefined
  try {
    loadgen = await startLoadgen(timeoutMs)
    const window = (server: Running, length: number): Window => ({
      url: `http://127.0.0.1:${server.port}/`,
      seconds: length,
      connections,
      cookie: server.cookie
    })
    const started = await pool(
      specs.map((spec) => async () => {
        const server = await startServer(spec, timeoutMs)
        running.push(server)
        log(`http: ${spec.name} up on ${server.port} (pid ${server.child.pid})`)
        return server
      }),
      sizes.parallel
    )
    for (const server of started) {
      if (warmupSeconds > 0) await loadgen.run(window(server, warmupSeconds), windowTimeoutMs)
    }
    for (let round = 0; round < sizes.http.rounds; round++) {
      for (let k = 0; k < started.length; k++) {
        const server = started[(round + k) % started.length]
        const machine = sampleMachine()
        const harness = process.cpuUsage()
        const before = await serverCpu(server, timeoutMs)
        const result = await loadgen.run(window(server, seconds), windowTimeoutMs)
        const serverMicros = (await serverCpu(server, timeoutMs)) - before
        const harnessUsed = process.cpuUsage(harness)
        const share = othersShare(
          machine,
          sampleMachine(),
          serverMicros + result.cpuMicros + harnessUsed.user + harnessUsed.system
        )
        // a wrong answer is a failure; slowness (errors, timeouts, no 200 at all) is not
        if (result.non2xx > 0) throw new Error(`${server.spec.name}: ${result.non2xx} non-2xx responses`)
        const entry: Round = {
          ...result,
          round,
          cpuMicrosPerRequest: result.samples === 0 ? null : serverMicros / result.requests,
          othersShare: share ?? null
        }
        rounds.get(server.spec.name)!.push(entry)
        log(
          `http: round ${round + 1} ${server.spec.name}: ${
            result.samples === 0
              ? "no samples (no 200 in the window)"
              : `${num(entry.cpuMicrosPerRequest!)} µs CPU/req, ${num(result.rps)} req/s, p99 ${num(result.p99!)} ms`
          }${result.errors > 0 ? `, ${result.errors} errors` : ""}${
            share === undefined ? "" : `, others ${(share * 100).toFixed(0)}% of the cores`
          }`
        )
      }
    }
  } finally {
    for (const server of running) await stop(server.child)
    if (loadgen !== undefined) await stop(loadgen.child)
  }
  return rows(specs, rounds)
}

const median = (values: ReadonlyArray<number>) => spread(values)?.median ?? NaN

/** Medians per server and, per round, the paired differences with bare. */
const rows = (specs: ReadonlyArray<ServerSpec>, rounds: Map<string, Array<Round>>): Array<HttpRow> => {
  const bare = new Map((rounds.get(BARE) ?? []).map((r) => [r.round, r]))
  return specs.map((spec): HttpRow => {
    const all = rounds.get(spec.name) ?? []
    if (all.length === 0) return { server: spec.name, label: spec.label, skipped: "not run" }
    const errors = all.reduce((sum, r) => sum + r.errors, 0)
    const sampled = all.filter((r) => r.samples > 0)
    if (sampled.length === 0) return { server: spec.name, label: spec.label, noSamples: true, rounds: all, errors }
    const paired = sampled.flatMap((r) => {
      const b = bare.get(r.round)
      return b === undefined || b.samples === 0 ? [] : [{ r, b }]
    })
    return {
      server: spec.name,
      label: spec.label,
      rps: median(sampled.map((r) => r.rps)),
      p50: median(sampled.map((r) => r.p50!)),
      p99: median(sampled.map((r) => r.p99!)),
      cpuMicrosPerRequest: median(sampled.map((r) => r.cpuMicrosPerRequest!)),
      ...(spec.name === BARE ? {} : {
        addedCpu: spread(paired.map(({ b, r }) => r.cpuMicrosPerRequest! - b.cpuMicrosPerRequest!)),
        p99VsBare: spread(paired.map(({ b, r }) => r.p99! / b.p99!))
      }),
      rounds: all,
      errors
    }
  })
}
