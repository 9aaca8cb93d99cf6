/**
 * Session lookups issued in the same tick, gathered per bucket. One alone is one HMGET; several
 * are one read-only script call (`readMany`) per `BATCH` of them: concurrent requests share one
 * command, one round trip and one reply instead of paying one each (ioredis' auto-pipelining only
 * shares the write, and builds a pipeline object per tick).
 *
 * @internal
 */
import type { Client } from "./client.js"
import { readMany } from "./scripts.js"

/** What a lookup gets: the error of its command, or the HMGET reply (JSON text, format version, mark). @internal */
export type Done = (error: unknown, reply?: ReadonlyArray<unknown>) => void

interface Waiter {
  readonly key: string
  readonly done: Done
}

/** What a command rejected without a reason fails with (an undefined error means success to `Done`). @internal */
export const noReason = new Error("the Redis client failed a command without a reason")

/** The most lookups one script call makes (a bound on the work of one call). @internal */
export const BATCH = 128

/** Under RESP3 a script's false is a boolean, under RESP2 a null: both mean "no value". */
const value = (reply: unknown) => reply === false ? null : reply

/**
 * A lookup function: `lookup(base, key, done)` reads the record at `key` (in the bucket of key base
 * `base`) with the lookups issued in the same tick, and calls `done` once.
 *
 * @internal
 */
export const makeLookups = (client: Client, bounded: (promise: Promise<unknown>) => Promise<unknown>) => {
  const scripts = client as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>
  let pending = new Map<string, Array<Waiter>>()

  const settle = (waiter: Waiter, error: unknown, reply?: ReadonlyArray<unknown>) => {
    try {
      waiter.done(error, reply)
    } catch {
      // `done` resumes a fiber and catches what it runs: nothing to do for one that throws anyway
    }
  }
  const send = (waiters: ReadonlyArray<Waiter>, issue: () => Promise<unknown>, answer: (reply: unknown) => void) => {
    let promise: Promise<unknown>
    try {
      promise = bounded(issue())
    } catch (error) {
      promise = Promise.reject(error)
    }
    promise.then(answer, (error) => {
      for (const waiter of waiters) settle(waiter, error ?? noReason)
    })
  }
  const one = (waiter: Waiter) =>
    send(
      [waiter],
      () => client.hmget(waiter.key, "j", "v", "r"),
      (reply) => settle(waiter, undefined, reply as Array<unknown>)
    )
  const many = (waiters: ReadonlyArray<Waiter>) =>
    send(waiters, () => scripts[readMany.name](waiters.length, ...waiters.map((waiter) => waiter.key)), (reply) => {
      if (!Array.isArray(reply) || reply.length !== 4 * waiters.length) {
        const error = new Error(`unexpected reply to a lookup of ${waiters.length} sessions`)
        for (const waiter of waiters) settle(waiter, error)
        return
      }
      const flat: ReadonlyArray<unknown> = reply
      for (let i = 0; i < waiters.length; i++) {
        const error = flat[4 * i + 3]
        if (typeof error === "string") settle(waiters[i], new Error(error))
        else settle(waiters[i], undefined, [value(flat[4 * i]), value(flat[4 * i + 1]), value(flat[4 * i + 2])])
      }
    })

  const flush = () => {
    const buckets = pending
    pending = new Map()
    for (const waiters of buckets.values()) {
      for (let i = 0; i < waiters.length; i += BATCH) {
        const chunk = waiters.length <= BATCH ? waiters : waiters.slice(i, i + BATCH)
        if (chunk.length === 1) one(chunk[0])
        else many(chunk)
      }
    }
  }

  return (base: string, key: string, done: Done): void => {
    // the lookups of this tick leave together, once the current microtasks have run
    if (pending.size === 0) process.nextTick(flush)
    const waiters = pending.get(base)
    if (waiters === undefined) pending.set(base, [{ key, done }])
    else waiters.push({ key, done })
  }
}
