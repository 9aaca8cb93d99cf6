/**
 * Revocation without exceptions (I8) across instances on one Redis: instance B rotates a
 * principal's sessions in a loop while instance A calls `closeAllOf`. 0.1.0 answered
 * `{ closed: 0 }` here with every session alive; now, whatever the interleaving, no session of
 * hers (nor anything it became) is served by either instance once `closeAllOf` has answered, and
 * each is released exactly once. On one redis-server (one bucket: revocation is one script) and on
 * a Redis Cluster in the spread layout (16 buckets: marks in every bucket, then removal).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Ref, Scope } from "effect"
import type { Session } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { twoInstances } from "../support/two-instances.js"
import { startCluster } from "./cluster.js"
import { freshPrefix, startRedis } from "./server.js"
import { request } from "./support.js"

const [server, cluster] = await Promise.all([startRedis(), startCluster()])
afterAll(() => Promise.all([server?.stop(), cluster?.stop()]), 30_000)

/** Two managers ("instances"), each with its own Redis client, on one prefix of one server or cluster. */
const twoInstancesOn = (target: RedisStore.Options) => {
  const prefix = freshPrefix("revocation")
  return twoInstances(() => RedisStore.layer({ ...target, prefix }))
}

const targets: ReadonlyArray<readonly [string, RedisStore.Options]> = [
  ...(server === undefined ? [] : [["one redis-server", { url: server.url }]] as const),
  ...(cluster === undefined ? [] : [["a Redis Cluster, spread layout", { nodes: cluster.urls }]] as const)
]

describe.skipIf(targets.length === 0)("closeAllOf against an instance rotating on the same Redis", () => {
  for (const [name, target] of targets) {
    // after how long (real time, so that real commands interleave) instance A revokes
    for (const revokeAfterMs of [0, 2, 5, 15]) {
      it.live(
        `${name}: nothing survives, revoked after ${revokeAfterMs} ms of rotations`,
        () =>
          Effect.gen(function*() {
            const { a, b, released, scope } = yield* twoInstancesOn(target)
            const opened = yield* Effect.forEach([1, 2, 3, 4], () => b.openSession(request("alice")))
            const bob = yield* b.openSession(request("bob"))
            const seen = yield* Ref.make<Array<Session.Session>>([...opened])
            const rotating = yield* Effect.forEach(opened, (first) =>
              Effect.gen(function*() {
                let current = first
                for (let round = 0; round < 200; round++) {
                  const next = yield* Effect.exit(b.rotateSession(current))
                  if (Exit.isFailure(next)) return
                  current = next.value
                  yield* Ref.update(seen, (all) => [...all, current])
                }
              }).pipe(Effect.fork))
            yield* Effect.sleep(revokeAfterMs)
            const report = yield* a.closeAllOf("alice")
            expect(report.failures).toEqual([])
            yield* Fiber.joinAll(rotating)
            // every token ever handed out for alice is refused by both instances
            for (const session of yield* Ref.get(seen)) {
              for (const instance of [a, b]) {
                const error = yield* Effect.flip(instance.getSession(request(), session.token!))
                expect(error._tag).toBe("InvalidSession")
              }
            }
            expect(yield* a.sessionsOf("alice")).toEqual([])
            expect(yield* b.sessionsOf("alice")).toEqual([])
            // released exactly once each, by whichever instance ended it (a marked session: by the
            // request or the sweep that found it)
            yield* a.cleanSessions
            yield* b.cleanSessions
            const keys = yield* released
            expect(keys).toHaveLength(4)
            expect(new Set(keys).size).toBe(4)
            // another principal is untouched
            yield* a.getSession(request(), bob.token!)
            yield* Scope.close(scope, Exit.void)
          }),
        60_000
      )
    }
  }
})
