/**
 * Case 5, one client in one process: session reads against a loopback `redis-server`, with a fixed
 * number of requests in flight for a fixed time. Prints one JSON line.
 *
 *   node --import tsx src/cases/redis-child.ts --store ours --port 6390 --inflight 1,64 --seconds 2 --sessions 1000
 *   node --import tsx src/cases/redis-child.ts --store ours --nodes redis://127.0.0.1:7000,... --buckets 16 ...
 *
 * With `--nodes` (a Redis Cluster; `ours` only) the store runs on a `Cluster` client with
 * `--buckets` slot buckets, and the Redis commands are counted by the caller (redis-cluster.ts).
 *
 * Stores: `ours` (SessionManager.getSession over SessionStore/Redis, one ioredis connection, in one
 * fiber per operation in flight, each running getSession after getSession as a request's fiber
 * would: a lookup whose touch is not due is one HMGET, or a share of one read-only script when
 * several lookups leave in the same tick; the JSON line also gives the Redis calls per lookup, from
 * INFO commandstats), `ours-runpromise` (the same, one `Effect.runPromise` per lookup: the cost of
 * starting a fiber per call), `ours-no-pipelining` (`ours` without auto-pipelining), `ours-store-touch` (the store's touch alone, always due: read + touch script),
 * `connect-redis` (its `get`: GET + parse, one node-redis connection, which pipelines),
 * `connect-redis-touch` (get, then touch: what express-session does per unmodified request),
 * `ioredis-get` and `node-redis-get` (a bare GET: the floor of one round trip).
 */
import { RedisStore as ConnectRedis } from "connect-redis"
import * as SessionManager from "effect-session/SessionManager"
import * as SessionStore from "effect-session/SessionStore"
import * as RedisStore from "effect-session/SessionStore/Redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Redis } from "ioredis"
import { createClient } from "redis"
import { argNumber, argValue } from "../lib/env.js"
import {
  anonymous,
  benchAuth,
  call,
  expressSessionOf,
  IDLE_MS,
  managerOptions,
  mint,
  recordOf,
  request
} from "../lib/fixtures.js"

const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const nodes = argValue(argv, "nodes")?.split(",")
const buckets = nodes === undefined ? undefined : argNumber(argv, "buckets")
const port = nodes === undefined ? argNumber(argv, "port") : 0
const inflights = (argValue(argv, "inflight") ?? "1").split(",").map(Number)
const seconds = argNumber(argv, "seconds")
const count = argNumber(argv, "sessions")
const url = `redis://127.0.0.1:${port}`

const { keys, tokens } = mint(count)

export interface Throughput {
  readonly inflight: number
  readonly ops: number
  /** Operations that failed (e.g. a store timeout under load): counted, not retried. */
  readonly errors: number
  readonly opsPerSec: number
  readonly microsPerOp: number | null
  /** This process's CPU time (user + system) per operation: less sensitive to a busy machine than throughput. */
  readonly cpuMicrosPerOp: number | null
}

/** For each in-flight level: that many loops, each running one operation after another, for `seconds` (after a short warm-up). */
const drive = async (op: (i: number) => Promise<unknown>): Promise<Array<Throughput>> => {
  const results: Array<Throughput> = []
  for (const inflight of inflights) results.push(await driveAt(inflight, op))
  return results
}

const MAX_ERRORS = 1_000
/** Operations run during the warm-ups (they reach Redis too). */
let warmups = 0

/** Failed operations of one level: counted, not retried; too many end the run with the first. */
interface Failures {
  count: number
  first: unknown
}

/**
 * One level: `loops(ms)` runs the operations in flight for `ms` and answers how many completed; a
 * warm-up, then the measured window, with this process's CPU time over it.
 */
const measure = async (
  inflight: number,
  failures: Failures,
  loops: (ms: number) => Promise<number>
): Promise<Throughput> => {
  warmups += await loops(Math.min(500, seconds * 250))
  const started = performance.now()
  const cpu = process.cpuUsage()
  const done = await loops(seconds * 1000)
  const elapsed = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  if (failures.count > 0) {
    console.error(`${storeName}, ${inflight} in flight: ${failures.count} failed operations, first:`, failures.first)
  }
  // no operation completed in the window (a saturated machine): "no samples", not a timing
  return {
    inflight,
    ops: done,
    errors: failures.count,
    opsPerSec: done / elapsed,
    microsPerOp: done === 0 ? null : (elapsed * 1e6) / done,
    cpuMicrosPerOp: done === 0 ? null : (used.user + used.system) / done
  }
}

/** One level of promise-returning operations: `inflight` loops, each awaiting `op` after `op`. */
const driveAt = (inflight: number, op: (i: number) => Promise<unknown>): Promise<Throughput> => {
  let next = 0
  const failures: Failures = { count: 0, first: undefined }
  const loop = async (until: number) => {
    let done = 0
    while (performance.now() < until) {
      try {
        await op(next++ % count)
        done++
      } catch (error) {
        failures.first ??= error
        if (++failures.count > MAX_ERRORS) throw failures.first
      }
    }
    return done
  }
  return measure(inflight, failures, async (ms) => {
    const until = performance.now() + ms
    return (await Promise.all(Array.from({ length: inflight }, () => loop(until)))).reduce((a, b) => a + b, 0)
  })
}

/**
 * The same in fibers: `inflight` fibers, each running `op` after `op` (as a request's fiber runs
 * getSession among its other steps), on one `Effect.runPromise`.
 */
const driveFibersAt = (inflight: number, op: (i: number) => Effect.Effect<unknown, unknown>): Promise<Throughput> => {
  let next = 0
  const failures: Failures = { count: 0, first: undefined }
  const loop = (until: number) => {
    let done = 0
    return Effect.map(
      Effect.whileLoop({
        while: () => performance.now() < until && failures.count <= MAX_ERRORS,
        body: () => Effect.either(op(next++ % count)),
        step: (result) => {
          if (result._tag === "Right") done++
          else {
            failures.first ??= result.left
            failures.count++
          }
        }
      }),
      () => done
    )
  }
  return measure(inflight, failures, async (ms) => {
    const until = performance.now() + ms
    const counts = await Effect.runPromise(
      Effect.all(Array.from({ length: inflight }, () => loop(until)), { concurrency: "unbounded" })
    )
    if (failures.count > MAX_ERRORS) throw failures.first
    return counts.reduce((a, b) => a + b, 0)
  })
}

/**
 * Commands the clients of this process send (every ioredis command goes through `sendCommand`
 * once, pipelined or not; a script call is one command however many keys it reads).
 */
let sent = 0
const sendCommand = Redis.prototype.sendCommand
Redis.prototype.sendCommand = function(this: Redis, ...args: Parameters<Redis["sendCommand"]>) {
  sent++
  return sendCommand.apply(this, args)
}

type Mode = "fiber" | "runPromise" | "touch"

const ours = async (mode: Mode, autoPipelining = true) => {
  // the layer opens its own connection and waits (bounded) for it
  const prefix = `bench-ours-${process.pid}`
  const storeLayer = RedisStore.layer(
    nodes === undefined ? { url, prefix, autoPipelining } : { nodes, prefix, autoPipelining, buckets: buckets ?? 16 }
  )
  const runtime = ManagedRuntime.make(
    SessionManager.layer(managerOptions).pipe(Layer.provideMerge(storeLayer), Layer.provide(benchAuth), Layer.orDie)
  )
  const [manager, store] = await runtime.runPromise(
    Effect.all([SessionManager.SessionManager, SessionStore.SessionStore])
  )
  const now = Date.now()
  await runtime.runPromise(
    Effect.forEach(keys, (key) => store.insert(recordOf(key, anonymous, now), SessionStore.unlimited), {
      concurrency: 64,
      discard: true
    })
  )
  const cutoff = () => {
    const at = Date.now()
    return { now: at, idleBefore: { anonymous: at - IDLE_MS, authenticated: at - IDLE_MS } }
  }
  const result: Array<Throughput & { readonly commandsPerOp: number }> = []
  for (const inflight of inflights) {
    const before = sent
    const warmed = warmups
    const throughput = mode === "touch"
      ? await driveAt(inflight, async (i) => {
        const written = await Effect.runPromise(store.touch(keys[i], cutoff()))
        if (written._tag !== "Written") throw new Error(`touch: ${written._tag}`)
      })
      : mode === "runPromise"
      ? await driveAt(inflight, (i) => Effect.runPromise(manager.getSession(request, tokens[i])))
      : await driveFibersAt(inflight, (i) => manager.getSession(request, tokens[i]))
    // the warm-up's operations send commands too: counted with them
    result.push({ ...throughput, commandsPerOp: (sent - before) / (throughput.ops + warmups - warmed) })
  }
  await runtime.dispose()
  return result
}

const connectRedis = async (touch: boolean) => {
  const client = createClient({ url })
  await client.connect()
  const store = new ConnectRedis({ client, prefix: `bench-cr-${process.pid}:` })
  const expires = Date.now() + IDLE_MS
  await Promise.all(tokens.map((sid) => store.set(sid, expressSessionOf(expires) as any)))
  const result = await drive(async (i) => {
    const session = await store.get(tokens[i])
    if (session === null || session === undefined) throw new Error("connect-redis: miss")
    if (touch) await call((cb) => store.touch(tokens[i], session, cb))
  })
  await client.quit()
  return result
}

const rawGet = async (client: "ioredis" | "node-redis") => {
  const value = JSON.stringify(expressSessionOf(Date.now() + IDLE_MS))
  if (client === "ioredis") {
    const redis = new Redis(url)
    await Promise.all(tokens.map((sid) => redis.set(`bench-raw:${sid}`, value)))
    const result = await drive((i) => redis.get(`bench-raw:${tokens[i]}`))
    redis.disconnect()
    return result
  }
  const redis = createClient({ url })
  await redis.connect()
  await Promise.all(tokens.map((sid) => redis.set(`bench-raw2:${sid}`, value)))
  const result = await drive((i) => redis.get(`bench-raw2:${tokens[i]}`))
  await redis.quit()
  return result
}

const main = async () => {
  const result = storeName === "ours"
    ? await ours("fiber")
    : storeName === "ours-runpromise"
    ? await ours("runPromise")
    : storeName === "ours-no-pipelining"
    ? await ours("fiber", false)
    : storeName === "ours-store-touch"
    ? await ours("touch")
    : storeName === "connect-redis"
    ? await connectRedis(false)
    : storeName === "connect-redis-touch"
    ? await connectRedis(true)
    : storeName === "ioredis-get"
    ? await rawGet("ioredis")
    : storeName === "node-redis-get"
    ? await rawGet("node-redis")
    : undefined
  if (result === undefined) throw new Error(`unknown store ${storeName}`)
  process.stdout.write(JSON.stringify({ store: storeName, results: result }) + "\n")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
