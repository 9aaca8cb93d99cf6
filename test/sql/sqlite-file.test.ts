/**
 * SQLite files across processes: sessions survive the process that opened them (a new process on
 * the same file serves them, data included), and two processes sharing one file hand every session
 * to exactly one of them.
 */
import { afterAll, describe, expect, it } from "vitest"
import { eventually, scratchDirectory, startInstance } from "./support.js"

const files = scratchDirectory("sqlite-file")
afterAll(() => files.remove())

describe("a SQLite session file", () => {
  it("reopened by a new process keeps its sessions and their data; a logout stays a logout", async () => {
    const env = { SESSION_SQLITE: files.next("sessions.db") }
    const first = await startInstance("first", env)
    const alice = await first.ok("open", { user: "alice" })
    await first.ok("setNote", { token: alice.token, value: { cart: ["book"], "quote\"d": "%_\u0000" } })
    const anonymous = await first.ok("open")
    const closed = await first.ok("open", { user: "bob" })
    await first.ok("close", { token: closed.token })
    await first.stop()

    const second = await startInstance("second", env)
    try {
      const read = await second.ok("get", { token: alice.token })
      expect(read.principal).toBe("alice")
      expect(read.data).toEqual({ note: { cart: ["book"], "quote\"d": "%_\u0000" } })
      expect((await second.ok("get", { token: anonymous.token })).key).toBe(anonymous.key)
      expect((await second.call("get", { token: closed.token })).error).toEqual({
        _tag: "InvalidSession",
        reason: "Unknown"
      })
      expect(await second.ok("count")).toEqual({ anonymous: 1, authenticated: 1 })
      await second.ok("close", { token: alice.token })
      expect(await second.ok("released")).toEqual([alice.key])
      expect(second.defects).toEqual([])
    } finally {
      await second.stop()
    }
  }, 240_000)

  it(
    "shared by two processes: a logout in one holds in the other; both sweepers release each session once",
    async () => {
      const env = {
        SESSION_SQLITE: files.next("shared.db"),
        MANAGER_OPTIONS: JSON.stringify({
          cleanupAnonymousSessionTime: "1 second",
          sweepInterval: "50 millis",
          sweepBatchSize: 3
        })
      }
      const one = await startInstance("one", env)
      const two = await startInstance("two", env)
      try {
        const alice = await one.ok("open", { user: "alice" })
        expect((await two.ok("get", { token: alice.token })).principal).toBe("alice")
        await two.ok("closeAllOf", { user: "alice" })
        expect((await one.call("get", { token: alice.token })).error?._tag).toBe("InvalidSession")

        const opened = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? one : two).ok("open")))
        const expected = new Set<string>(opened.map((s) => s.key))
        const released = async () =>
          [...(await one.ok("released")), ...(await two.ok("released"))].filter((key: string) => expected.has(key))
        await eventually(async () => (await released()).length >= expected.size)
        await new Promise((resolve) => setTimeout(resolve, 300))
        const all = await released()
        expect(all).toHaveLength(expected.size)
        expect(new Set(all)).toEqual(expected)
        expect(one.defects).toEqual([])
        expect(two.defects).toEqual([])
      } finally {
        await Promise.all([one.stop(), two.stop()])
      }
    },
    240_000
  )
})
