/**
 * Case 1, one store in one process: `get` (lookup + expiry check + touch), `open`, `close` and
 * `rotate` at a given number of resident sessions; for ours also `update` (`updateData` of one
 * key, a counter, with the session in hand). Prints one JSON line; each row says how busy the rest
 * of the machine was while it was measured (`othersShare`, see `lib/noise.ts`).
 *
 *   node --import tsx src/cases/inprocess-child.ts --store ours --size 10000 --budget 240 --rounds 3 --max-ops 200000
 */
import * as Session from "effect-session/Session"
import * as SessionToken from "effect-session/SessionToken"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import { argNumber, argValue } from "../lib/env.js"
import {
  anonymous,
  call,
  expressSessionOf,
  fill,
  IDLE_MS,
  makeExpressStore,
  makeFastify,
  makeOurs,
  mint,
  plainRecordOf,
  recordOf,
  request,
  visit
} from "../lib/fixtures.js"
import { type Batch, measure, type MeasureOptions } from "../lib/measure.js"
import { othersShare, sampleMachine } from "../lib/noise.js"

export interface Row {
  readonly store: string
  readonly mode: string
  readonly op: string
  readonly size: number
  readonly nsPerOp: number
  readonly cpuNsPerOp: number
  readonly opsPerSec: number
  readonly ops: number
  /** Share of all cores other processes used while this row was measured (`undefined`: unknown). */
  readonly othersShare?: number
}

const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const size = argNumber(argv, "size")
const budgetMs = argNumber(argv, "budget")
const rounds = argNumber(argv, "rounds")
const maxOps = argNumber(argv, "max-ops")

// Sessions [0, size) are resident; `get` visits all of them; each consuming measurement (close,
// rotate, per mode) gets its own slice at the end, never visited by another measurement.
const pool = Math.max(50, Math.floor(size / 10))
const slices = { closeA: size - pool, closeB: size - 2 * pool, rotateA: size - 3 * pool, rotateB: size - 4 * pool }
const getSpan = size - 4 * pool

const rows: Array<Row> = []
const started = performance.now()
const { keys, tokens } = mint(size)
const mintMs = performance.now() - started

const run = async (mode: string, op: string, batch: Batch, options: Partial<MeasureOptions> & { batch: number }) => {
  const machine = sampleMachine()
  const cpu = process.cpuUsage()
  const result = await measure(batch, { budgetMs, rounds, maxOps, ...options })
  const used = process.cpuUsage(cpu)
  const share = othersShare(machine, sampleMachine(), used.user + used.system)
  rows.push({
    store: storeName,
    mode,
    op,
    size,
    nsPerOp: result.nsPerOp,
    cpuNsPerOp: result.cpuNsPerOp,
    opsPerSec: result.opsPerSec,
    ops: result.ops,
    ...(share === undefined ? {} : { othersShare: share })
  })
}
// consuming operations: small batches, so that slow ones stay within the time budget
const consuming = () => ({ maxOps: pool, batch: 20, warmup: 20 })
const getIndex = (i: number) => visit(i, getSpan)

const oursCase = async () => {
  const ours = await makeOurs()
  const now = Date.now()
  // created over the last 10 minutes, oldest first: live, none expires during the run
  fill(
    ours.store,
    (function*() {
      for (let i = 0; i < size; i++) {
        yield recordOf(keys[i], anonymous, now - 600_000 + Math.floor((i * 600_000) / size))
      }
    })()
  )
  const { manager } = ours
  const inFiber = (f: (i: number) => Effect.Effect<unknown, unknown>): Batch => (start, count) =>
    Effect.runPromise(Effect.gen(function*() {
      for (let i = start; i < start + count; i++) yield* f(i)
    }))
  const perCall = (f: (i: number) => Effect.Effect<unknown, unknown>): Batch => async (start, count) => {
    for (let i = start; i < start + count; i++) await Effect.runPromise(f(i))
  }
  const getSession = (i: number) => manager.getSession(request, tokens[getIndex(i)])
  // updateData of one key with the session in hand (as a handler holds it): the sessions are
  // built before the first update is timed
  const Counter = Session.dataKey("counter", Schema.Number)
  const increment = (n: Option.Option<number>) => Option.getOrElse(n, () => 0) + 1
  let held: Array<{ readonly key: string; readonly token: Redacted.Redacted<string> }> = []
  const updateData = (i: number) => manager.updateData(held[getIndex(i)], Counter, increment)
  const openSession = () => manager.openSession(request)
  const closeSession = (base: number) => (i: number) => manager.closeSession({ key: keys[base + i] })
  const rotateSession = (base: number) => (i: number) => manager.rotateSession({ key: keys[base + i] })
  for (const [mode, wrap, batch] of [["fiber", inFiber, 500], ["runPromise", perCall, 200]] as const) {
    await run(mode, "get", wrap(getSession), { batch })
    if (held.length === 0) {
      held = Array.from({ length: getSpan }, (_, j) => ({ key: keys[j], token: Redacted.make(tokens[j]) }))
    }
    await run(mode, "update", wrap(updateData), { batch })
  }
  await run("fiber", "rotate", inFiber(rotateSession(slices.rotateA)), consuming())
  await run("runPromise", "rotate", perCall(rotateSession(slices.rotateB)), consuming())
  await run("fiber", "close", inFiber(closeSession(slices.closeA)), consuming())
  await run("runPromise", "close", perCall(closeSession(slices.closeB)), consuming())
  await run("fiber", "open", inFiber(openSession), { batch: 20, maxOps: pool })
  await run("runPromise", "open", perCall(openSession), { batch: 20, maxOps: pool })

  // no dispose: shutting the manager down releases every resident session (measured by the sweep case)
}

const mapCase = async (hashed: boolean) => {
  const map = new Map<string, ReturnType<typeof plainRecordOf>>()
  const now = Date.now()
  for (let i = 0; i < size; i++) {
    const key = hashed ? keys[i] : tokens[i]
    map.set(key, plainRecordOf(key, anonymous, now - 600_000 + Math.floor((i * 600_000) / size)))
  }
  let misses = 0
  await run("sync", "get", (start, count) => {
    for (let i = start; i < start + count; i++) {
      const token = tokens[getIndex(i)]
      const record = map.get(hashed ? SessionToken.hash(token) : token)
      const at = Date.now()
      if (record === undefined || record.expiresAt <= at || record.lastUsedAt <= at - IDLE_MS) misses++
      else record.lastUsedAt = at
    }
  }, { batch: 1000 })
  if (misses > 0) throw new Error(`map: ${misses} misses`)
  if (hashed) return
  await run("sync", "open", (_start, count) => {
    for (let i = 0; i < count; i++) {
      const key = randomBytes(32).toString("base64url")
      map.set(key, plainRecordOf(key, anonymous, Date.now()))
    }
  }, { batch: 100, maxOps: pool })
  await run("sync", "rotate", (start, count) => {
    for (let i = start; i < start + count; i++) {
      const old = tokens[slices.rotateA + i]
      const record = map.get(old)!
      map.delete(old)
      const key = randomBytes(32).toString("base64url")
      map.set(key, { ...record, key, lastUsedAt: Date.now() })
    }
  }, consuming())
  await run("sync", "close", (start, count) => {
    for (let i = start; i < start + count; i++) map.delete(tokens[slices.closeA + i])
  }, consuming())
}

const expressCase = async () => {
  const store = makeExpressStore()
  const now = Date.now()
  for (let i = 0; i < size; i++) store.sessions[tokens[i]] = JSON.stringify(expressSessionOf(now + IDLE_MS))
  // express-session per request: store.get (parse, expiry check), and store.touch at the end
  // (resave: false, unmodified session); both answer through setImmediate.
  await run("callback", "get", async (start, count) => {
    for (let i = start; i < start + count; i++) {
      const sid = tokens[getIndex(i)]
      const session = await call<any>((cb) => store.get(sid, cb))
      if (session === undefined) throw new Error("express: miss")
      session.cookie.expires = new Date(Date.now() + IDLE_MS).toISOString()
      await call((cb) => store.touch(sid, session, cb))
    }
  }, { batch: 200 })
  await run("callback", "get (store.get only)", async (start, count) => {
    for (let i = start; i < start + count; i++) {
      const sid = tokens[getIndex(i)]
      if ((await call((cb) => store.get(sid, cb))) === undefined) throw new Error("express: miss")
    }
  }, { batch: 200 })
  await run("callback", "open", async (_start, count) => {
    for (let i = 0; i < count; i++) {
      const sid = randomBytes(24).toString("base64url")
      await call((cb) => store.set(sid, expressSessionOf(Date.now() + IDLE_MS), cb))
    }
  }, { batch: 100, maxOps: pool })
  // req.session.regenerate + save: destroy the old id, store the new session under a new id
  await run("callback", "rotate", async (start, count) => {
    for (let i = start; i < start + count; i++) {
      await call((cb) => store.destroy(tokens[slices.rotateA + i], cb))
      const sid = randomBytes(24).toString("base64url")
      await call((cb) => store.set(sid, expressSessionOf(Date.now() + IDLE_MS), cb))
    }
  }, consuming())
  await run("callback", "close", async (start, count) => {
    for (let i = start; i < start + count; i++) await call((cb) => store.destroy(tokens[slices.closeA + i], cb))
  }, consuming())
}

const fastifyCase = async () => {
  const { make, store } = makeFastify()
  for (let i = 0; i < size; i++) store.store.set(tokens[i], make(tokens[i]))
  // the plugin per request: store.get, restore a Session from it, check expiry; on send (rolling,
  // the default): touch and store.set. The store answers synchronously.
  let misses = 0
  await run("callback", "get", (start, count) => {
    for (let i = start; i < start + count; i++) {
      const sid = tokens[getIndex(i)]
      store.get(sid, (_error, stored) => {
        const session = stored === undefined ? undefined : make(sid, stored)
        const expiration = session?.cookie.originalExpires ?? session?.cookie.expires
        if (session === undefined || (expiration && expiration.getTime() <= Date.now())) {
          misses++
          return
        }
        session.touch()
        store.set(sid, session, () => {})
      })
    }
  }, { batch: 1000 })
  if (misses > 0) throw new Error(`fastify: ${misses} misses`)
  await run("callback", "open", (_start, count) => {
    for (let i = 0; i < count; i++) {
      const session = make()
      store.set(session.sessionId, session, () => {})
    }
  }, { batch: 100, maxOps: pool })
  await run("callback", "rotate", async (start, count) => {
    for (let i = start; i < start + count; i++) {
      const sid = tokens[slices.rotateA + i]
      const stored = await call((cb) => store.get(sid, cb))
      await make(sid, stored).regenerate()
    }
  }, consuming())
  await run("callback", "close", (start, count) => {
    for (let i = start; i < start + count; i++) store.destroy(tokens[slices.closeA + i], () => {})
  }, consuming())
}

const main = async () => {
  switch (storeName) {
    case "ours":
      await oursCase()
      break
    case "map":
      await mapCase(false)
      break
    case "map+sha256":
      await mapCase(true)
      break
    case "express":
      await expressCase()
      break
    case "fastify":
      await fastifyCase()
      break
    default:
      throw new Error(`unknown store ${storeName}`)
  }
  process.stdout.write(JSON.stringify({ store: storeName, size, mintMs, rows }) + "\n")
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
