/**
 * The load generator: autocannon against one loopback URL for a fixed time, with a session
 * cookie. Latency percentiles come from every response's own timing (float milliseconds), since
 * autocannon's histogram rounds to whole milliseconds. Prints one JSON line.
 *
 *   node --import tsx src/http/loadgen.ts --url http://127.0.0.1:3000/ --seconds 3 --connections 32 --cookie "sid=..."
 */
import autocannon from "autocannon"
import { argNumber, argValue } from "../lib/env.js"
import { percentile } from "../lib/measure.js"

const argv = process.argv.slice(2)
const url = argValue(argv, "url") ?? ""
const seconds = argNumber(argv, "seconds")
const connections = argNumber(argv, "connections")
const cookie = argValue(argv, "cookie") ?? ""

const { hostname } = new URL(url)
if (hostname !== "127.0.0.1" && hostname !== "localhost" && hostname !== "[::1]") {
  throw new Error(`loopback only, got ${hostname}`)
}

// bounded: at most this many latencies are kept (far above what loopback reaches in `seconds`)
const MAX_SAMPLES = 2_000_000
const latencies = new Float64Array(MAX_SAMPLES)
let samples = 0

const done = (error: unknown, result: autocannon.Result) => {
  if (error) {
    console.error(error)
    process.exit(1)
  }
  const sorted = latencies.subarray(0, samples).sort()
  process.stdout.write(
    JSON.stringify({
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
      max: samples === 0 ? null : sorted[sorted.length - 1]
    }) + "\n"
  )
}

const instance = autocannon(
  { url, connections, pipelining: 1, duration: seconds, headers: cookie === "" ? {} : { cookie } },
  done
)
instance.on("response", (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
  if (statusCode === 200 && samples < MAX_SAMPLES) latencies[samples++] = responseTime
})
