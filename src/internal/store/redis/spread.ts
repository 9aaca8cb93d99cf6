/**
 * The Redis store's operations over every bucket: revocation, the sweep, listings, counts and the
 * per-principal cap. With one bucket each is one script, as atomic as the memory store's; with
 * several, each bucket's step is atomic and the whole is not (what that means is said per
 * operation, and in the module docs of `SessionStore/Redis`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Cluster, Redis } from "ioredis"
import type * as Session from "../../../Session.js"
import { SessionLimitError, type SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import type { Client } from "./client.js"
import { cutoffArgs } from "./codec.js"
import { asArray, asNumber, asString, asStrings, type Bucket, bucketAt, type Shared } from "./replies.js"
import * as scripts from "./scripts.js"
import type { Settings } from "./settings.js"

/** Pages of `listByPrincipal` (and of `getMany`). */
const PAGE = 200
/** Script calls one `claimExpired` makes at most (each visits at most `lua.CLAIM_BUDGET` entries). */
const MAX_CLAIM_CALLS = 4096
/** Rounds of the per-principal trim (each: read every bucket, evict what is over the cap). */
const TRIM_ROUNDS = 3
/** Entries of each bucket one trim round reads at most. */
const TRIM_READ = 1000

/** The error of the cap a script or a check named. @internal */
export const limitError = (name: string, limits: SessionStore.Limits): SessionLimitError => {
  const limit = name === "maxSessions" || name === "maxAnonymousSessions" || name === "maxSessionsPerPrincipal"
    ? name
    : "maxSessions"
  return new SessionLimitError({ limit, max: limits[limit] })
}

const everything: SessionStore.Cutoff = { now: Infinity, idleBefore: { anonymous: Infinity, authenticated: Infinity } }

interface Heads {
  readonly bucket: Bucket
  readonly count: number
  /** Entries and scores, least recently used first. */
  readonly heads: ReadonlyArray<readonly [string, number]>
  readonly owns: boolean
}

/**
 * The per-principal cap over several buckets (with one bucket, the bucket's script enforces it
 * exactly and `around` adds nothing). A principal's sessions are spread over the buckets, so the
 * cap is checked around the bucket's step: `refuse` reads the principal's sessions in every bucket
 * first, `evictLeastRecentlyUsed` evicts its least recently used ones after. Concurrent openings
 * of one principal can therefore overshoot the cap by their number minus one: with `refuse` until
 * sessions end, with eviction until the last of them has trimmed (each trims after its own step).
 *
 * @internal
 */
export const principalCaps = (shared: Shared) => {
  const { buckets, run } = shared
  const several = buckets.length > 1

  const headsOf = (pid: string, n: number, key: string | undefined) =>
    Effect.forEach(buckets, (bucket) =>
      run(
        "principalHeads",
        bucket,
        scripts.principalHeads,
        [pid, String(n), key !== undefined && shared.bucketFor(key) === bucket ? key : ""],
        (reply): Effect.Effect<Heads> => {
          const [count, flat, owns] = asArray(reply)
          const entries = asStrings(flat)
          const heads: Array<readonly [string, number]> = []
          for (let i = 0; i + 1 < entries.length; i += 2) heads.push([entries[i], Number(entries[i + 1])])
          return Exit.succeed({ bucket, count: asNumber(count), heads, owns: asNumber(owns) === 1 })
        }
      ), { concurrency: "unbounded" })

  const total = (all: ReadonlyArray<Heads>) => all.reduce((sum, heads) => sum + heads.count, 0)

  /** Evicts the principal's least recently used sessions (never `keep`) until it holds `cap`, in bounded rounds. */
  const trim = (operation: string, pid: string, cap: number, keep: string, evicted: Array<Session.Record>) => {
    const round = (n: number): Effect.Effect<void, SessionStoreError> =>
      Effect.flatMap(headsOf(pid, 1, undefined), (first) => {
        const excess = total(first) - cap
        if (excess <= 0) return Effect.void
        const read = excess === 1 ? Effect.succeed(first) : headsOf(pid, Math.min(excess + 1, TRIM_READ), undefined)
        return Effect.flatMap(read, (all) => {
          const candidates: Array<readonly [string, number, Bucket]> = []
          for (const { bucket, heads } of all) {
            for (const [entry, score] of heads) {
              if (entry.slice(entry.indexOf(":") + 1) !== keep) candidates.push([entry, score, bucket])
            }
          }
          // least recently used first; equal times by the entry's server time (its first 16 digits)
          candidates.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
          const chosen = new Map<Bucket, Array<string>>()
          for (const [entry, , bucket] of candidates.slice(0, excess)) {
            chosen.set(bucket, [...(chosen.get(bucket) ?? []), entry])
          }
          if (chosen.size === 0) return Effect.void
          return Effect.forEach(
            chosen,
            ([bucket, entries]) =>
              run(
                operation,
                bucket,
                scripts.evictEntries,
                [pid, ...entries],
                (reply) =>
                  Effect.map(shared.removedIn(operation, reply), (records) => {
                    evicted.push(...records)
                  })
              ),
            { concurrency: "unbounded", discard: true }
          ).pipe(
            Effect.zipRight(n < TRIM_ROUNDS ? round(n + 1) : Effect.void)
          )
        })
      })
    return round(1)
  }

  const applies = (principal: Session.Principal, limits: SessionStore.Limits) =>
    several && !principal.anonymous && Number.isFinite(limits.maxSessionsPerPrincipal)

  /**
   * Before a step that adds a session of `principal` (`leaving`: the key a rekey moves away from,
   * not counted if the principal's): with `refuse`, fails when the principal holds its cap.
   */
  const admit = (
    principal: Session.Principal,
    limits: SessionStore.Limits,
    leaving?: string
  ): Effect.Effect<void, SessionStoreError | SessionLimitError> =>
    !applies(principal, limits) || limits.onLimit !== "refuse" ? Effect.void : Effect.flatMap(
      headsOf(principal.id, 0, leaving),
      (all) =>
        total(all) - all.filter((heads) => heads.owns).length >= limits.maxSessionsPerPrincipal
          ? Exit.fail(limitError("maxSessionsPerPrincipal", limits))
          : Effect.void
    )

  /**
   * After a step that added the session `added` of `principal`: with eviction, evicts the
   * principal's least recently used sessions over the cap and returns them. The step is done, so a
   * failure here is logged, not returned: the cap stays overshot until the principal's next
   * opening, and the sessions already evicted are still returned (their releases must run).
   */
  const trimmed = (
    principal: Session.Principal,
    limits: SessionStore.Limits,
    added: string
  ): Effect.Effect<ReadonlyArray<Session.Record>> => {
    if (!applies(principal, limits) || limits.onLimit === "refuse") return Exit.succeed([])
    const evicted: Array<Session.Record> = []
    return trim("insert", principal.id, limits.maxSessionsPerPrincipal, added, evicted).pipe(
      Effect.catchAll((error) => Effect.logWarning("session store: could not trim a principal to its cap", error)),
      Effect.as(evicted)
    )
  }

  return { admit, trimmed }
}

/** @internal */
export const make = (client: Client, settings: Settings, shared: Shared) => {
  const { buckets, run } = shared
  const several = buckets.length > 1
  const c = shared.commands

  // Revocation. One bucket: one script removes the principal's sessions (one atomic step).
  // Several: every bucket marks them first (each mark atomic with that bucket's lookups and
  // rotations, and a rotation never leaves its bucket), and only once every bucket has marked does
  // the revocation take (remove and return) what it marked. A bucket that fails to mark fails the
  // revocation (a typed error: what the other buckets marked stays unusable and the sweep releases
  // it); a bucket that fails to take leaves its sessions marked, for the sweep or their next
  // request, and they count in `marked`.
  const revoke: SessionStore.Service["revoke"] = (principalId, options) => {
    const except = options?.except ?? ""
    if (!several) {
      return run(
        "revoke",
        buckets[0],
        scripts.revoke,
        [principalId, except],
        (reply) => Effect.map(shared.removedIn("revoke", reply), (removed) => ({ removed, marked: 0 }))
      )
    }
    return Effect.flatMap(
      Effect.forEach(buckets, (bucket) =>
        run("revoke", bucket, scripts.mark, [principalId, except], (reply) => {
          const [marked, corrupt] = asArray(reply)
          return Effect.as(shared.logCorruptKeys("revoke", asStrings(corrupt)), [bucket, asStrings(marked)] as const)
        }), { concurrency: "unbounded" }),
      (marks) => {
        const marked = marks.filter(([, keys]) => keys.length > 0)
        const all = marked.reduce((sum, [, keys]) => sum + keys.length, 0)
        return Effect.map(
          Effect.forEach(
            marked,
            ([bucket, keys]) =>
              run("revoke", bucket, scripts.take, keys, (reply) => shared.removedIn("revoke", reply)).pipe(
                Effect.catchAll((error) =>
                  Effect.as(
                    Effect.logWarning("session store: revoked sessions left for the sweep to release", error),
                    []
                  )
                )
              ),
            { concurrency: "unbounded" }
          ),
          (taken) => {
            const removed = taken.flat()
            return { removed, marked: all - removed.length }
          }
        )
      }
    )
  }

  const getMany = (operation: string, bucket: Bucket, args: ReadonlyArray<string>) =>
    run(operation, bucket, scripts.getMany, args, (reply) => {
      const [records, corrupt, next] = asArray(reply)
      return Effect.zipRight(
        shared.logCorruptKeys(operation, asStrings(corrupt)),
        Effect.map(shared.decodeStored(operation, asStrings(records)), (decoded) => ({ decoded, next: asNumber(next) }))
      )
    })

  // SCAN with a bounded COUNT on every master: each step is one short command; the whole listing
  // is linear in the size of the database (an admin operation).
  const pattern = several ? `{${settings.prefix}#*}:s:*` : `${buckets[0].base}s:*`
  const byBase = new Map(buckets.map((bucket) => [bucket.base, bucket]))
  const list: SessionStore.Service["list"] = Effect.suspend(() => {
    const seen = new Set<string>()
    const out: Array<Session.Record> = []
    const nodes: ReadonlyArray<Redis> = client.isCluster ? (client as Cluster).nodes("master") : [client as Redis]
    const step = (node: (typeof nodes)[number], cursor: string): Effect.Effect<void, SessionStoreError> =>
      c.attempt(
        "list",
        () => node.scan(cursor, "MATCH", pattern, "COUNT", settings.scanCount),
        (reply) => {
          const [nextCursor, keys] = asArray(reply)
          const fresh = new Map<Bucket, Array<string>>()
          for (const redisKey of asStrings(keys)) {
            const cut = redisKey.indexOf("}:") + 2
            const bucket = byBase.get(redisKey.slice(0, cut))
            const key = redisKey.slice(cut + 2)
            if (bucket !== undefined && !seen.has(redisKey)) {
              seen.add(redisKey)
              fresh.set(bucket, [...(fresh.get(bucket) ?? []), key])
            }
          }
          const page = Effect.forEach(fresh, ([bucket, found]) =>
            Effect.map(getMany("list", bucket, ["keys", ...found]), ({ decoded }) => {
              out.push(...decoded)
            }), { discard: true })
          const following = asString(nextCursor)
          return following === "0" ? page : Effect.zipRight(page, step(node, following))
        }
      )
    return Effect.as(Effect.forEach(nodes, (node) => step(node, "0"), { discard: true }), out)
  })

  // Every bucket's part of the principal's sessions, in pages: each page is a consistent read of its
  // bucket; a session opened, rotated or closed while the listing runs may be seen or not.
  const listByPrincipal: SessionStore.Service["listByPrincipal"] = (principalId) =>
    Effect.map(
      Effect.forEach(buckets, (bucket) => {
        const out: Array<Session.Record> = []
        const page = (start: number): Effect.Effect<Array<Session.Record>, SessionStoreError> =>
          Effect.flatMap(
            getMany("listByPrincipal", bucket, ["principal", principalId, String(start), String(PAGE)]),
            ({ decoded, next }) => {
              out.push(...decoded)
              return next < 0 ? Exit.succeed(out) : page(next)
            }
          )
        return page(0)
      }, { concurrency: "unbounded" }),
      (parts) => parts.flat()
    )

  /** One bounded script call of the sweep in one bucket. */
  const claimStep = (bucket: Bucket, cutoff: SessionStore.Cutoff, max: number) =>
    run("claimExpired", bucket, scripts.claimExpired, [...cutoffArgs(cutoff), String(max)], (reply) => {
      const [claimed, corrupt, visited, more] = asArray(reply)
      return Effect.zipRight(
        shared.logCorruptKeys("claimExpired", asStrings(corrupt)),
        Effect.map(shared.decodeRemoved("claimExpired", asStrings(claimed)), (records) => ({
          records,
          visited: asNumber(visited),
          more: asNumber(more) === 1
        }))
      )
    })

  // A store of several buckets drains the single-slot layout (0.1.0's, and a store of one
  // bucket's): every session left there is claimed, whatever its times, and closed as Revoked.
  const legacy = several ? bucketAt(-1, settings.legacyBase) : undefined
  let first = 0

  // Script calls, bucket after bucket (starting one further each time, so that no bucket waits on
  // the others), until `max` records are claimed or nothing is left: each call is bounded, so Redis
  // is never blocked long, whatever number of dead index entries the sweep meets.
  const claimExpired: SessionStore.Service["claimExpired"] = (cutoff, max) => {
    const limit = Math.floor(Math.min(max, 1_000_000))
    if (!(limit >= 1)) return Effect.succeed([])
    const order = [...buckets.slice(first), ...buckets.slice(0, first)].map((bucket) => [bucket, cutoff] as const)
    if (legacy !== undefined) order.push([legacy, everything])
    first = (first + 1) % buckets.length
    const out: Array<Session.Record> = []
    let calls = 0
    const loop = (i: number): Effect.Effect<Array<Session.Record>, SessionStoreError> => {
      if (i >= order.length || out.length >= limit || calls >= MAX_CLAIM_CALLS) return Exit.succeed(out)
      calls++
      const [bucket, at] = order[i]
      return Effect.flatMap(claimStep(bucket, at, limit - out.length), ({ more, records }) => {
        out.push(...records)
        return loop(more ? i : i + 1)
      })
    }
    return loop(0)
  }

  const count: SessionStore.Service["count"] = Effect.map(
    Effect.forEach(buckets, (bucket) =>
      run("count", bucket, scripts.count, [], (reply) => {
        const [anonymous, authenticated] = asArray(reply)
        return Exit.succeed([asNumber(anonymous), asNumber(authenticated)] as const)
      }), { concurrency: "unbounded" }),
    (counts) => ({
      anonymous: counts.reduce((sum, [anonymous]) => sum + anonymous, 0),
      authenticated: counts.reduce((sum, [, authenticated]) => sum + authenticated, 0)
    })
  )

  return {
    revoke,
    list,
    listByPrincipal,
    claimExpired,
    count,
    /** One claim script call in the first bucket (tests). */
    claimStep: (cutoff: SessionStore.Cutoff, max: number) => claimStep(buckets[0], cutoff, max)
  }
}
