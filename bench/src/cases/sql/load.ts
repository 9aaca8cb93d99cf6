/**
 * A closed-loop load for the SQL cases: `inflight` loops, each awaiting one operation after the
 * other, for a fixed time after a short warm-up; throughput and latency percentiles.
 */
import { readdirSync, readFileSync } from "node:fs"
import { percentile } from "../../lib/measure.js"

export interface Load {
  readonly inflight: number
  readonly ops: number
  /** Operations that failed (counted, not retried); the first error is printed on stderr. */
  readonly errors: number
  readonly opsPerSec: number
  readonly p50Micros: number | null
  readonly p99Micros: number | null
  /** CPU time of this process per operation (µs): wall-clock free, so comparable on a busy machine. */
  readonly clientCpuMicros: number | null
  /** CPU time of the database server's processes per operation (µs), when its pid is known. */
  readonly serverCpuMicros: number | null
}

const TICK_MICROS = 10_000 // USER_HZ = 100 on Linux

/** CPU time (µs) of a process and all its children (a PostgreSQL postmaster and its backends). */
export const treeCpuMicros = (pid: number): number => {
  let ticks = 0
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      // fields from the state: ppid is [1], utime [11], stime [12]
      if (Number(entry) === pid || Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // ended meanwhile
    }
  }
  return ticks * TICK_MICROS
}

/** Runs `op` (given a running operation number) at each in-flight level in turn. */
export const load = async (
  label: string,
  inflights: ReadonlyArray<number>,
  seconds: number,
  op: (i: number) => Promise<unknown>,
  serverPid?: number
): Promise<Array<Load>> => {
  const results: Array<Load> = []
  for (const inflight of inflights) {
    let next = 0
    let errors = 0
    let first: unknown
    const window = async (ms: number, latencies: Array<number> | undefined) => {
      const until = performance.now() + ms
      await Promise.all(Array.from({ length: inflight }, async () => {
        while (performance.now() < until) {
          const start = performance.now()
          try {
            await op(next++)
            latencies?.push(performance.now() - start)
          } catch (error) {
            first ??= error
            if (++errors > 1_000) throw first
          }
        }
      }))
    }
    await window(Math.min(500, seconds * 250), undefined)
    const latencies: Array<number> = []
    const server = serverPid === undefined ? undefined : treeCpuMicros(serverPid)
    const cpu = process.cpuUsage()
    const started = performance.now()
    await window(seconds * 1000, latencies)
    const elapsed = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const serverUsed = server === undefined ? undefined : treeCpuMicros(serverPid!) - server
    const n = latencies.length
    if (errors > 0) console.error(`${label}, ${inflight} in flight: ${errors} failed operations, first:`, first)
    latencies.sort((a, b) => a - b)
    results.push({
      inflight,
      ops: latencies.length,
      errors,
      opsPerSec: latencies.length / elapsed,
      p50Micros: latencies.length === 0 ? null : percentile(latencies, 50) * 1000,
      p99Micros: latencies.length === 0 ? null : percentile(latencies, 99) * 1000,
      clientCpuMicros: n === 0 ? null : (used.user + used.system) / n,
      serverCpuMicros: n === 0 || serverUsed === undefined ? null : serverUsed / n
    })
  }
  return results
}
