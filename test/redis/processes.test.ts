/**
 * Two application instances in two OS processes sharing one Redis: what one does, the other sees
 * at once; a logout is never undone by a request in flight elsewhere; with both sweepers running,
 * every expired session is released exactly once across the two.
 */
import { SessionToken } from "effect-session"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Instance as Worker, startProcess } from "../support/instance.js"
import { freshPrefix, startRedis } from "./server.js"
import { keysOf, rawClient, scoreOf, sleep } from "./support.js"

const server = await startRedis()
const raw = server === undefined ? undefined : rawClient(server.url)

const workerPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts")
const startWorker = (name: string, env: Record<string, string>): Promise<Worker> => startProcess(name, workerPath, env)

describe.skipIf(server === undefined)("two processes sharing one Redis", () => {
  const prefix = freshPrefix("procs")
  const keys = keysOf(prefix)
  let one: Worker
  let two: Worker

  beforeAll(async () => {
    const env = {
      REDIS_URL: server!.url,
      SESSION_REDIS_PREFIX: prefix,
      // anonymous sessions expire after 1 second of inactivity; both sweepers run every 50 ms in
      // small batches, so they interleave
      MANAGER_OPTIONS: JSON.stringify({
        cleanupAnonymousSessionTime: "1 second",
        sweepInterval: "50 millis",
        sweepBatchSize: 3
      })
    }
    ;[one, two] = await Promise.all([startWorker("one", env), startWorker("two", env)])
  }, 120_000)

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()])
    raw?.disconnect()
    await server?.stop()
  }, 30_000)

  it("a session opened on one is seen by the other; a logout on one is refused by the other at once", async () => {
    const session = await one.ok("open", { user: "alice" })
    expect((await two.ok("get", { token: session.token })).principal).toBe("alice")
    await two.ok("setData", { token: session.token, name: "cart", value: [1, 2] })
    expect(await one.ok("getData", { token: session.token, name: "cart" })).toEqual([1, 2])

    await one.ok("close", { token: session.token })
    const refused = await two.call("get", { token: session.token })
    expect(refused.error).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
    // the other instance closing it again releases nothing more
    await two.ok("close", { token: session.token })
    const released = [...(await one.ok("released")), ...(await two.ok("released"))]
    expect(released.filter((key: string) => key === session.key)).toHaveLength(1)
  })

  it("rotation on one kills the old token on the other", async () => {
    const session = await one.ok("open", { user: "bob" })
    const rotated = await one.ok("rotate", { token: session.token })
    expect((await two.call("get", { token: session.token })).error).toEqual({
      _tag: "InvalidSession",
      reason: "Unknown"
    })
    expect((await two.ok("get", { token: rotated.token })).key).toBe(rotated.key)
  })

  it("a request in flight across a logout cannot bring the session back", async () => {
    const session = await one.ok("open", { user: "alice" })
    // instance two has loaded the session (a request in progress)...
    await two.ok("get", { token: session.token })
    // ...instance one logs it out...
    await one.ok("close", { token: session.token })
    // ...and the rest of the request on two fails instead of reviving it
    const write = await two.call("setData", { token: session.token, name: "late", value: 1 })
    expect(write.error).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
    expect((await two.call("getData", { token: session.token, name: "late" })).error).toEqual({
      _tag: "InvalidSession",
      reason: "Unknown"
    })
    expect(await raw!.exists(keys.record(session.key))).toBe(0)

    // the same with writes racing the logout: each write lands before it or fails, none after
    const racing = await one.ok("open", { user: "alice" })
    const writes = Array.from(
      { length: 30 },
      (_, i) =>
        two.call("setData", { token: racing.token, name: `k${i}`, value: i }).then((reply) => ({
          reply,
          at: Date.now()
        }))
    )
    await sleep(2)
    const closed = await one.call("close", { token: racing.token }).then((reply) => ({ reply, at: Date.now() }))
    expect(closed.reply.ok).toBe(true)
    const outcomes = await Promise.all(writes)
    for (const { reply } of outcomes) {
      if (!reply.ok) expect(reply.error).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
    }
    const late = await two.call("setData", { token: racing.token, name: "after", value: 1 })
    expect(late.error).toEqual({ _tag: "InvalidSession", reason: "Unknown" })
    expect(await raw!.exists(keys.record(racing.key))).toBe(0)
    expect(await scoreOf(raw!, keys.principal("alice"), racing.key)).toBeNull()
    expect(SessionToken.hash(racing.token)).toBe(racing.key)
  })

  it("both sweepers running: every expired session is released exactly once across the two", async () => {
    const opened = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? one : two).ok("open"))
    )
    const expected = new Set<string>(opened.map((s: { key: string }) => s.key))
    expect(expected.size).toBe(60)
    // wait (bounded) until both sweepers have claimed them all
    const deadline = Date.now() + 20_000
    let claimed: Array<string> = []
    while (Date.now() < deadline) {
      const all = [...(await one.ok("released")), ...(await two.ok("released"))] as Array<string>
      claimed = all.filter((key) => expected.has(key))
      if (claimed.length >= expected.size) break
      await sleep(100)
    }
    await sleep(300) // a duplicate would show up now
    const fromOne = (await one.ok("released")) as Array<string>
    const fromTwo = (await two.ok("released")) as Array<string>
    const merged = [...fromOne, ...fromTwo].filter((key) => expected.has(key))
    expect(merged).toHaveLength(expected.size) // none released twice...
    expect(new Set(merged)).toEqual(expected) // ...and none missing
    expect(await one.ok("count")).toMatchObject({ anonymous: 0 })
    expect(one.defects).toEqual([])
    expect(two.defects).toEqual([])
  }, 40_000)
})
