/**
 * A Redis Cluster losing a master while two application instances serve traffic: typed errors
 * during the failover (never a defect), no session released twice, and service again once the
 * replica has taken over, without rebuilding either layer.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, ManagedRuntime, Redacted } from "effect"
import { AuthManager, SessionManager } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { Redis } from "ioredis"
import { startCluster } from "./cluster.js"
import { freshPrefix } from "./server.js"
import { request, sleep } from "./support.js"

const cluster = await startCluster()
afterAll(() => cluster?.stop(), 30_000)

/**
 * The port of the master serving the slot of `{prefix}` (the one-bucket tag, which the sweep of a
 * spread store drains); every master serves some of the spread store's buckets too.
 */
const masterOf = async (url: string, prefix: string): Promise<number> => {
  const client = new Redis(url)
  client.on("error", () => {})
  try {
    const slot = Number(await client.call("CLUSTER", "KEYSLOT", `{${prefix}}`))
    const slots = (await client.call("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>
    const range = slots.find(([start, end]) => start <= slot && slot <= end)
    if (range === undefined) throw new Error(`no master serves slot ${slot}`)
    return Number(range[2][1])
  } finally {
    client.disconnect()
  }
}

const instance = (urls: ReadonlyArray<string>, prefix: string) =>
  ManagedRuntime.make(
    SessionManager.layer({ cleanupAnonymousSessionTime: "1 second", sweepInterval: "200 millis" }).pipe(
      Layer.provideMerge(RedisStore.layer({ nodes: urls, prefix, commandTimeout: "500 millis" })),
      Layer.provideMerge(AuthManager.layerMock({ users: { alice: {} } }))
    )
  )

type Instance = ReturnType<typeof instance>

/** One request cycle: open, look up twice, close every other session (the sweep gets the rest). */
const cycle = (i: number) =>
  Effect.gen(function*() {
    const session = yield* SessionManager.openSession(request(i % 3 === 0 ? "alice" : undefined))
    const token = Redacted.value(session.token!)
    yield* SessionManager.getSession(request(), token)
    yield* SessionManager.getSession(request(), token)
    if (i % 2 === 0) yield* SessionManager.closeSession(session)
  })

describe.skipIf(cluster === undefined)("Redis Cluster faults", () => {
  it.live(
    "a master killed under traffic from two instances: typed errors, no double release, service resumes",
    () =>
      Effect.gen(function*() {
        const prefix = freshPrefix("failover")
        const instances = [instance(cluster!.urls, prefix), instance(cluster!.urls, prefix)]
        yield* Effect.addFinalizer(() => Effect.promise(() => Promise.all(instances.map((i) => i.dispose()))))
        const exits: Array<Exit.Exit<unknown, unknown>> = []
        let stop = false
        const traffic = (runtime: Instance) =>
          Effect.promise(async () => {
            for (let i = 0; i < 5000 && !stop; i++) {
              exits.push(await runtime.runPromiseExit(cycle(i)))
              await sleep(5)
            }
          })
        // both layers built and serving before the fault
        for (const runtime of instances) yield* Effect.promise(() => runtime.runPromise(cycle(1)))
        const running = yield* Effect.fork(Effect.all(instances.map(traffic), { concurrency: "unbounded" }))
        yield* Effect.sleep("700 millis")
        const port = yield* Effect.promise(() => masterOf(cluster!.urls[0], prefix))
        const master = cluster!.nodes.find((node) => node.port === port)!
        yield* Effect.promise(() => master.kill())
        yield* Effect.promise(() => cluster!.waitHealthy(30_000))
        yield* Effect.sleep("2 seconds")
        stop = true
        yield* running.await

        // failures during the failover are typed store errors (or a session lost with the master).
        // Which kinds show depends on timing: ioredis retries a command a closed connection failed
        // (retryDelayOnFailover, up to maxRedirections), so a quick failover shows only as writes
        // lost with the master, a slower one as SessionStoreError too; each bucket's share of the
        // traffic goes to the killed master.
        const failures = exits.filter(Exit.isFailure)
        expect(failures.length, "operations failed during the failover").toBeGreaterThan(0)
        for (const exit of failures) {
          expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
          const error = Cause.failureOption(exit.cause)
          expect(error._tag === "Some" && (error.value as { _tag: string })._tag).toMatch(
            /^(SessionStoreError|InvalidSession)$/
          )
        }
        expect(exits.filter(Exit.isSuccess).length).toBeGreaterThan(0)

        // both instances serve again, on the same layers
        for (const runtime of instances) {
          let served = false
          for (let attempt = 0; attempt < 300 && !served; attempt++) {
            served = Exit.isSuccess(yield* Effect.promise(() => runtime.runPromiseExit(cycle(1))))
            if (!served) yield* Effect.sleep("100 millis")
          }
          expect(served, "an instance serves again within 30 s").toBe(true)
        }

        // let both sweepers claim what is left, then: no session was released twice
        yield* Effect.sleep("2500 millis")
        const released = yield* Effect.promise(() =>
          Promise.all(
            instances.map((runtime) =>
              runtime.runPromise(Effect.flatMap(AuthManager.MockAuthManager, (mock) => mock.released))
            )
          )
        )
        const all = released.flat()
        expect(all.length).toBeGreaterThan(0)
        expect(new Set(all).size).toBe(all.length)
      }).pipe(Effect.scoped),
    120_000
  )
})
