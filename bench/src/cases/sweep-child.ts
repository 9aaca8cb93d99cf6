/**
 * Case 3, one store in one process: `size` resident sessions of which a fraction is expired (idle
 * for longer than the idle timeout); time of one full sweep and the longest event-loop stall
 * while it runs (a 1 ms interval probe and `monitorEventLoopDelay`), and how busy the rest of the
 * machine was meanwhile (`othersShare`, see `lib/noise.ts`). Prints one JSON line.
 *
 * With `--shutdown 1` (ours), also times the graceful shutdown that follows (the memory store
 * releases every remaining session).
 *
 *   node --import tsx src/cases/sweep-child.ts --store ours --size 100000 --expired 0.1 [--shutdown 1]
 */
import * as SessionToken from "effect-session/SessionToken"
import * as Effect from "effect/Effect"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import { argNumber, argValue } from "../lib/env.js"
import {
  anonymous,
  call,
  expressSessionOf,
  fill,
  IDLE_MS,
  makeExpressStore,
  makeOurs,
  type Ours,
  plainRecordOf,
  recordOf,
  tokenOf
} from "../lib/fixtures.js"
import { othersShare, sampleMachine } from "../lib/noise.js"

const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const size = argNumber(argv, "size")
const fraction = argNumber(argv, "expired")
const expired = Math.round(size * fraction)
const shutdown = argValue(argv, "shutdown") === "1"

// Session i of n, k of them expired, was last used at lastUsedAt(n, k)(i): the first k 40 to 35
// minutes ago (past the 30-minute idle timeout), the others 20 to 0 minutes ago; oldest first, as
// they would be after a day of traffic.
const lastUsedAt = (n: number, k: number) => {
  const now = Date.now()
  return (i: number) =>
    i < k
      ? now - 40 * 60_000 + Math.floor((i * 5 * 60_000) / Math.max(1, k))
      : now - 20 * 60_000 + Math.floor(((i - k) * 20 * 60_000) / Math.max(1, n - k))
}

/** Runs `sweep` under an event-loop probe; bounded by the sweep itself. */
const probe = async (sweep: Sweep) => {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  let last = performance.now()
  let maxGap = 0
  const timer = setInterval(() => {
    const t = performance.now()
    maxGap = Math.max(maxGap, t - last)
    last = t
  }, 1)
  // garbage collections during the sweep: the longest pause (a stall the sweep cannot yield through)
  let maxGcPauseMs = 0
  let gcMs = 0
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      maxGcPauseMs = Math.max(maxGcPauseMs, entry.duration)
      gcMs += entry.duration
    }
  })
  // let the probe settle before the sweep starts
  await new Promise((resolve) => setTimeout(resolve, 20))
  gcObserver.observe({ entryTypes: ["gc"] })
  histogram.enable()
  last = performance.now()
  const machine = sampleMachine()
  const cpu = process.cpuUsage()
  const started = performance.now()
  const removed = await sweep()
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  // how busy the rest of the machine was meanwhile: a stall can be another process holding the core
  const share = othersShare(machine, sampleMachine(), used.user + used.system)
  // the gap still open when the sweep ended
  await new Promise((resolve) => setImmediate(resolve))
  maxGap = Math.max(maxGap, performance.now() - last)
  clearInterval(timer)
  histogram.disable()
  // GC entries are delivered asynchronously: give them a turn before reading
  await new Promise((resolve) => setTimeout(resolve, 10))
  gcObserver.disconnect()
  return {
    ms,
    removed,
    maxStallMs: maxGap,
    loopDelayMaxMs: histogram.max / 1e6,
    maxGcPauseMs,
    gcMs,
    ...(share === undefined ? {} : { othersShare: share })
  }
}

type Sweep = () => Promise<number>

/** Builds a store of `n` sessions of which `k` are expired; returns its sweep. */
const setups: Record<string, (n: number, k: number) => Promise<Sweep>> = {
  ours: async (n, k) => {
    const ours = await makeOurs()
    const lastUsed = lastUsedAt(n, k)
    fill(
      ours.store,
      (function*() {
        for (let i = 0; i < n; i++) yield recordOf(SessionToken.hash(tokenOf(i)), anonymous, lastUsed(i))
      })()
    )
    oursInstance = ours
    return async () => {
      const report = await Effect.runPromise(ours.manager.cleanSessions)
      if (report.remaining !== n - k) throw new Error(`ours: ${report.remaining} remaining`)
      return report.closed
    }
  },
  // the simple way: scan everything, delete what is expired
  Map: async (n, k) => {
    const lastUsed = lastUsedAt(n, k)
    const map = new Map<string, ReturnType<typeof plainRecordOf>>()
    for (let i = 0; i < n; i++) {
      const key = SessionToken.hash(tokenOf(i))
      map.set(key, plainRecordOf(key, anonymous, lastUsed(i)))
    }
    return async () => {
      const at = Date.now()
      let removed = 0
      for (const [key, record] of map) {
        if (record.expiresAt <= at || record.lastUsedAt <= at - IDLE_MS) {
          map.delete(key)
          removed++
        }
      }
      return removed
    }
  },
  // express-session's MemoryStore has no sweep: its bulk path, `all` (also behind `length`),
  // parses every session and deletes the expired ones as it goes
  express: async (n, k) => {
    const lastUsed = lastUsedAt(n, k)
    const store = makeExpressStore()
    for (let i = 0; i < n; i++) store.sessions[tokenOf(i)] = JSON.stringify(expressSessionOf(lastUsed(i) + IDLE_MS))
    return async () => {
      const all = await call<Record<string, unknown>>((cb) => store.all(cb))
      return n - Object.keys(all).length
    }
  }
}

let oursInstance: Ours | undefined

const main = async () => {
  const setup = setups[storeName]
  if (setup === undefined) throw new Error(`unknown store ${storeName}`)
  // warm-up on a small, separate instance: the measured sweep runs on compiled code
  const warm = await setup(2_000, 200)
  if ((await warm()) !== 200) throw new Error(`${storeName}: warm-up sweep`)
  const sweep = await setup(size, expired)
  const result = await probe(sweep)
  if (result.removed !== expired) throw new Error(`${storeName}: removed ${result.removed}, expected ${expired}`)
  // graceful shutdown of our memory store releases every remaining session
  let shutdownMs: number | undefined
  if (shutdown && oursInstance !== undefined) {
    const started = performance.now()
    await oursInstance.dispose()
    shutdownMs = performance.now() - started
  }
  process.stdout.write(
    JSON.stringify({ store: storeName, size, expired, ...result, shutdownMs, remaining: size - expired }) + "\n"
  )
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
