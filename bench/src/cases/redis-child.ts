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
 * Stores: `ours` (SessionManager.getSession over SessionStore/Redis, one ioredis connection with
 * auto-pipelining: a lookup whose touch is not due is one HMGET; the JSON line also gives the
 * Redis commands per lookup, from INFO commandstats), `ours-no-pipelining` (the same without
 * auto-pipelining), `ours-store-touch` (the store's touch alone, always due: read + touch script),
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

const driveAt = async (inflight: number, op: (i: number) => Promise<unknown>): Promise<Throughput> => {
  let next = 0
  let errors = 0
  let firstError: unknown
  const loop = async (until: number) => {
    let done = 0
    while (performance.now() < until) {
      try {
        await op(next++ % count)
        done++
      } catch (error) {
        firstError ??= error
        if (++errors > MAX_ERRORS) throw firstError
      }
    }
    return done
  }
  const loops = (ms: number) => {
    const until = performance.now() + ms
    return Promise.all(Array.from({ length: inflight }, () => loop(until)))
  }
  warmups += (await loops(Math.min(500, seconds * 250))).reduce((a, b) => a + b, 0)
  const started = performance.now()
  const done = (await loops(seconds * 1000)).reduce((a, b) => a + b, 0)
  const elapsed = (performance.now() - started) / 1000
  if (errors > 0) console.error(`${storeName}, ${inflight} in flight: ${errors} failed operations, first:`, firstError)
  // no operation completed in the window (a saturated machine): "no samples", not a timing
  return {
    inflight,
    ops: done,
    errors,
    opsPerSec: done / elapsed,
    microsPerOp: done === 0 ? null : (elapsed * 1e6) / done
  }
}

/** Redis commands run since the last `CONFIG RESETSTAT` (INFO commandstats), less those two. */
const commandsRun = async (admin: Redis): Promise<number> => {
  const text = await admin.info("commandstats")
  let calls = 0
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== "info" && !match[1].startsWith("config")) calls += Number(match[2])
  }
  return calls
}

const ours = async (touchOnly: boolean, autoPipelining = true) => {
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
  const admin = nodes === undefined ? new Redis(url) : undefined
  await admin?.config("RESETSTAT")
  const result = touchOnly
    ? await drive(async (i) => {
      const written = await Effect.runPromise(store.touch(keys[i], cutoff()))
      if (written._tag !== "Written") throw new Error(`touch: ${written._tag}`)
    })
    : await drive((i) => Effect.runPromise(manager.getSession(request, tokens[i])))
  const commands = admin === undefined ? undefined : await commandsRun(admin)
  admin?.disconnect()
  await runtime.dispose()
  if (commands === undefined) return result
  const ops = result.reduce((sum, r) => sum + r.ops, 0)
  // every operation of the warm-up runs too: an upper bound, exact when each costs the same
  console.error(`${storeName}: ${commands} Redis commands for at least ${ops} operations`)
  return result.map((r) => ({ ...r, commandsPerOp: commands / (ops + warmups) }))
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
    ? await ours(false)
    : storeName === "ours-no-pipelining"
    ? await ours(false, false)
    : storeName === "ours-store-touch"
    ? await ours(true)
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
