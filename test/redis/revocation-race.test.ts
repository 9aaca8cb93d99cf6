/**
 * Revocation without exceptions (I8) across instances on one Redis: instance B rotates a
 * principal's sessions in a loop while instance A calls `closeAllOf`. 0.1.0 answered
 * `{ closed: 0 }` here with every session alive; now, whatever the interleaving, no session of
 * hers (nor anything it became) is served by either instance once `closeAllOf` has answered, and
 * each is released exactly once. On one redis-server (one bucket: revocation is one script) and on
 * a Redis Cluster in the spread layout (16 buckets: marks in every bucket, then removal).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { revokeWhileRotating, twoInstances } from "../support/two-instances.js"
import { startCluster } from "./cluster.js"
import { freshPrefix, startRedis } from "./server.js"

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
            const instances = yield* twoInstancesOn(target)
            const report = yield* revokeWhileRotating(instances, {
              rounds: 200,
              wait: Effect.sleep(revokeAfterMs),
              between: Effect.void
            })
            expect(report.failures).toEqual([])
            yield* Scope.close(instances.scope, Exit.void)
          }),
        60_000
      )
    }
  }
})
