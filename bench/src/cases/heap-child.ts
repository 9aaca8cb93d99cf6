/**
 * Case 2, one store in one process (run with `--expose-gc`): heap bytes per resident session, as
 * the `heapUsed` delta after forced GCs, with the same session in every store. Prints one JSON line.
 *
 *   node --expose-gc --import tsx src/cases/heap-child.ts --store ours --size 100000
 */
import type * as Session from "effect-session/Session"
import * as SessionToken from "effect-session/SessionToken"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Ref from "effect/Ref"
import { argNumber, argValue } from "../lib/env.js"
import {
  expressSessionOf,
  fill,
  IDLE_MS,
  makeExpressStore,
  makeFastify,
  makeOurs,
  principalOf,
  recordOf,
  tokenOf
} from "../lib/fixtures.js"

const argv = process.argv.slice(2)
const storeName = argValue(argv, "store") ?? "ours"
const size = argNumber(argv, "size")
const authenticated = argValue(argv, "authenticated") === "1"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")

const settle = () => {
  for (let i = 0; i < 4; i++) gc()
  return process.memoryUsage().heapUsed
}

// Every store holds the same session: a 43-character key, a principal, three times and
// `{ counter: 0 }`. Keys are minted on the fly so that no array of tokens is counted.
const records = function*(): Generator<Session.Record> {
  const now = Date.now()
  for (let i = 0; i < size; i++) {
    const key = SessionToken.hash(tokenOf(i))
    yield recordOf(key, principalOf(i, authenticated), now)
  }
}

const main = async () => {
  // everything loaded and warmed up before the first reading
  const ours = storeName === "ours" ? await makeOurs() : undefined
  const express = storeName === "express" ? makeExpressStore() : undefined
  const fastify = storeName === "fastify" ? makeFastify() : undefined
  const hashRef = storeName === "Ref<HashMap>"
    ? Effect.runSync(Ref.make(HashMap.empty<string, Session.Record>()))
    : undefined
  let holder: unknown
  const before = settle()
  switch (storeName) {
    case "ours": {
      fill(ours!.store, records())
      const count = Effect.runSync(ours!.store.count)
      if (count.anonymous + count.authenticated !== size) throw new Error("ours: wrong count")
      break
    }
    case "Map": {
      const map = new Map<string, Session.Record>()
      for (const record of records()) map.set(record.key, record)
      holder = map
      break
    }
    case "Ref<HashMap>": {
      for (const record of records()) Effect.runSync(Ref.update(hashRef!, HashMap.set(record.key, record)))
      break
    }
    case "express": {
      const now = Date.now()
      for (const record of records()) {
        express!.sessions[record.key] = JSON.stringify({
          ...expressSessionOf(now + IDLE_MS),
          user: record.principal.id
        })
      }
      break
    }
    case "fastify": {
      for (const record of records()) {
        const session = fastify!.make(record.key) as unknown as { set(name: string, value: unknown): void }
        session.set("counter", 0)
        session.set("user", record.principal.id)
        fastify!.store.store.set(record.key, session)
      }
      break
    }
    default:
      throw new Error(`unknown store ${storeName}`)
  }
  const after = settle()
  const bytesPerSession = (after - before) / size
  process.stdout.write(
    JSON.stringify({
      store: storeName,
      authenticated,
      size,
      bytesPerSession,
      heapUsedMB: after / 1e6,
      held: holder !== undefined || ours !== undefined || express !== undefined || fastify !== undefined ||
        hashRef !== undefined
    }) + "\n"
  )
  // no dispose: shutting the manager down would release every session, one by one
  process.exit(0)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
