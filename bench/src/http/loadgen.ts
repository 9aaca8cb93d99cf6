/**
 * The load generator: autocannon against one loopback URL for a fixed time, with a session
 * cookie. Latency percentiles come from every response's own timing (float milliseconds), since
 * autocannon's histogram rounds to whole milliseconds.
 *
 * One window, printed as one JSON line:
 *   node --import tsx src/http/loadgen.ts --url http://127.0.0.1:3000/ --seconds 3 --connections 32 --cookie "sid=..."
 * As a worker of the HTTP case (started with an IPC channel and no `--url`): one window per
 * message `{ url, seconds, connections, cookie }`, answered with the same JSON plus the CPU this
 * process used during the window (`cpuMicros`), so that the harness can tell our load from others'.
 */
import autocannon from "autocannon"
import { argNumber, argValue } from "../lib/env.js"
import { percentile } from "../lib/measure.js"

export interface Window {
  readonly url: string
  readonly seconds: number
  readonly connections: number
  readonly cookie: string
}

// bounded: at most this many latencies are kept (far above what loopback reaches in a window)
const MAX_SAMPLES = 2_000_000
const latencies = new Float64Array(MAX_SAMPLES)

const load = (window: Window) =>
  new Promise<Record<string, unknown>>((resolve, reject) => {
    const { hostname } = new URL(window.url)
    if (hostname !== "127.0.0.1" && hostname !== "localhost" && hostname !== "[::1]") {
      throw new Error(`loopback only, got ${hostname}`)
    }
    let samples = 0
    const cpu = process.cpuUsage()
    const instance = autocannon(
      {
        url: window.url,
        connections: window.connections,
        pipelining: 1,
        duration: window.seconds,
        headers: window.cookie === "" ? {} : { cookie: window.cookie }
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error)
        const used = process.cpuUsage(cpu)
        const sorted = latencies.subarray(0, samples).sort()
        resolve({
          requests: result.requests.total,
          /** Responses with status 200 (their latencies are the percentiles); 0: no samples. */
          samples,
          seconds: result.duration,
          rps: result.requests.total / result.duration,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          // null when no 200 arrived in the window (a saturated machine): reported as "no samples"
          p50: samples === 0 ? null : percentile(sorted, 50),
          p90: samples === 0 ? null : percentile(sorted, 90),
          p99: samples === 0 ? null : percentile(sorted, 99),
          max: samples === 0 ? null : sorted[sorted.length - 1],
          cpuMicros: used.user + used.system
        })
      }
    )
    instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode === 200 && samples < MAX_SAMPLES) latencies[samples++] = responseTime
    })
  })

const argv = process.argv.slice(2)
const url = argValue(argv, "url")
if (url !== undefined) {
  const result = await load({
    url,
    seconds: argNumber(argv, "seconds"),
    connections: argNumber(argv, "connections"),
    cookie: argValue(argv, "cookie") ?? ""
  })
  process.stdout.write(JSON.stringify(result) + "\n")
} else if (process.send !== undefined) {
  process.on("message", (window: Window) => {
    load(window).then(
      (result) => process.send!({ ok: true, result }),
      (error) => process.send!({ ok: false, error: String(error) })
    )
  })
  process.send({ ready: true })
} else {
  throw new Error("--url, or an IPC channel to take windows from")
}
