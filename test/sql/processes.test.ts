/**
 * Two application instances in two OS processes sharing one PostgreSQL: a session opened in one is
 * revoked from the other (and stays revoked, whatever the first does with it); a logout on one is
 * refused by the other at once; with both sweepers running, every expired session is released
 * exactly once across the two.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freshPrefix, startPostgres } from "./postgres.js"
import { eventually, type Instance, startInstance } from "./support.js"

const server = await startPostgres()

describe.skipIf(server === undefined)("two processes sharing one PostgreSQL", () => {
  let one: Instance
  let two: Instance

  beforeAll(async () => {
    const env = {
      DATABASE_URL: server!.url(),
      SESSION_SQL_PREFIX: freshPrefix("procs"),
      // anonymous sessions expire after 1 second unused; both sweepers run every 50 ms in small
      // batches, so they interleave
      MANAGER_OPTIONS: JSON.stringify({
        cleanupAnonymousSessionTime: "1 second",
        sweepInterval: "50 millis",
        sweepBatchSize: 3
      })
    }
    // one after the other: the second finds the tables the first created
    one = await startInstance("one", env)
    two = await startInstance("two", env)
  }, 240_000)

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()])
    await server?.stop()
  }, 30_000)

  const released = async () => [...(await one.ok("released")), ...(await two.ok("released"))] as Array<string>

  it("sessions opened in one and revoked in the other are refused everywhere, released once", async () => {
    const opened = await Promise.all(Array.from({ length: 5 }, () => one.ok("open", { user: "alice" })))
    const bob = await one.ok("open", { user: "bob" })
    for (const session of opened) expect((await two.ok("get", { token: session.token })).principal).toBe("alice")

    const report = await two.ok("closeAllOf", { user: "alice" })
    expect(report.closed).toBe(5)
    for (const session of opened) {
      for (const instance of [one, two]) {
        expect((await instance.call("get", { token: session.token })).error?._tag).toBe("InvalidSession")
        expect((await instance.call("rotate", { token: session.token })).error?._tag).toBe("InvalidSession")
      }
    }
    const keys = new Set(opened.map((s) => s.key))
    expect((await released()).filter((key) => keys.has(key))).toHaveLength(5)
    expect((await one.ok("get", { token: bob.token })).principal).toBe("bob")
  })

  it("a revocation racing rotations in the other process leaves nothing usable", async () => {
    const sessions = await Promise.all(Array.from({ length: 4 }, () => one.ok("open", { user: "alice" })))
    const tokens = sessions.map((s) => s.token as string)
    // process one keeps rotating every session while process two revokes them all
    const rotating = Promise.all(sessions.map(async (session) => {
      let token = session.token as string
      for (let i = 0; i < 10; i++) {
        const reply = await one.call("rotate", { token })
        if (!reply.ok) return
        token = reply.value.token
        tokens.push(token)
      }
    }))
    await new Promise((resolve) => setTimeout(resolve, 5))
    await two.ok("closeAllOf", { user: "alice" })
    // once the revocation has answered, a rotation still in flight finds nothing to rotate
    await rotating
    for (const token of tokens) {
      expect((await one.call("get", { token })).error?._tag).toBe("InvalidSession")
      expect((await two.call("get", { token })).error?._tag).toBe("InvalidSession")
    }
    expect(await two.ok("count")).toMatchObject({ authenticated: 1 }) // bob's, from the first test
  })

  it("a logout in one is refused by the other at once, and data written in one is read in the other", async () => {
    const session = await one.ok("open", { user: "bob" })
    await two.ok("setNote", { token: session.token, value: { cart: [1, 2] } })
    expect((await one.ok("get", { token: session.token })).data).toEqual({ note: { cart: [1, 2] } })
    await one.ok("close", { token: session.token })
    expect((await two.call("get", { token: session.token })).error).toEqual({
      _tag: "InvalidSession",
      reason: "Unknown"
    })
    expect((await two.call("setNote", { token: session.token, value: 1 })).error?._tag).toBe("InvalidSession")
    await two.ok("close", { token: session.token })
    expect((await released()).filter((key) => key === session.key)).toHaveLength(1)
  })

  it("both sweepers running: every expired session is released exactly once across the two", async () => {
    const opened = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? one : two).ok("open")))
    const expected = new Set<string>(opened.map((s) => s.key))
    expect(expected.size).toBe(60)
    await eventually(async () => (await released()).filter((key) => expected.has(key)).length >= expected.size)
    await new Promise((resolve) => setTimeout(resolve, 300)) // a double release would show up now
    const fromOne = (await one.ok("released")) as Array<string>
    const fromTwo = (await two.ok("released")) as Array<string>
    const merged = [...fromOne, ...fromTwo].filter((key) => expected.has(key))
    expect(merged).toHaveLength(expected.size)
    expect(new Set(merged)).toEqual(expected)
    // both took part (small batches, 50 ms apart)
    expect(fromOne.some((key) => expected.has(key)) && fromTwo.some((key) => expected.has(key))).toBe(true)
    expect(await one.ok("count")).toMatchObject({ anonymous: 0 })
    expect(one.defects).toEqual([])
    expect(two.defects).toEqual([])
  }, 60_000)
})
