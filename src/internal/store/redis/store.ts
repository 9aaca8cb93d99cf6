/**
 * The Redis store: the operations on one session, each one script in the session's bucket (one
 * atomic step on the server), except a lookup (one read-only command, then the touch script when it
 * is due) and a corrupt value found by a read (removed by a follow-up write). The operations over
 * every bucket (revocation, the sweep, listings, counts, the per-principal cap) are in spread.ts.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Session from "../../../Session.js"
import type { SessionConfigError, SessionLimitError } from "../../../SessionError.js"
import { SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { isExpired } from "../../expiry.js"
import { bucketOf } from "./buckets.js"
import { type Client, commands, isOutOfMemory, isWrongType } from "./client.js"
import {
  canonical,
  cutoffArgs,
  DATA,
  dataFields,
  decodeRecord,
  encodeRecord,
  numberArg,
  principalFields
} from "./codec.js"
import { FORMAT_VERSION } from "./lua.js"
import {
  asArray,
  asString,
  asStrings,
  type Bucket,
  CORRUPT,
  EXPIRED,
  FORMAT,
  makeShared,
  MISSING,
  missing,
  missingExit,
  noneExit,
  READ,
  REVOKED,
  WRITTEN
} from "./replies.js"
import * as scripts from "./scripts.js"
import { type Settings, validatePolicy } from "./settings.js"
import * as spread from "./spread.js"

const samePrincipal = (a: Session.Principal, b: Session.Principal) => a.id === b.id && a.anonymous === b.anonymous

/** @internal */
export const make = (
  client: Client,
  settings: Settings
): Effect.Effect<SessionStore.Service> =>
  Effect.sync(() => {
    const c = commands(client, settings)
    const shared = makeShared(c, settings)
    const { bucketFor, dropStored, logCorrupt, logCorruptKeys, run } = shared
    const several = shared.buckets.length > 1
    const ttlArgs = [numberArg(settings.maxIdleTtl), numberArg(settings.expiryGrace)]
    const principals = spread.principalCaps(shared)

    /** One record of a write script's reply (status letter first): the record, or Missing if corrupt. */
    const storedRecord = <A>(
      operation: string,
      key: string,
      text: string,
      answer: (record: Session.Record) => A
    ): Effect.Effect<A | typeof missing> => {
      const record = decodeRecord(text, 1)
      return typeof record === "string"
        ? Effect.as(dropStored(operation, key, record), missing)
        : Exit.succeed(answer(record))
    }

    /** The reply of a write script (a status letter, then the record): the store's answer. */
    const written = (
      operation: string,
      key: string,
      text: string
    ): Effect.Effect<SessionStore.TouchResult | SessionStore.WriteResult> => {
      switch (text.charCodeAt(0)) {
        case MISSING:
          return missingExit
        case CORRUPT:
          return Effect.as(logCorrupt(operation, key, FORMAT), missing)
        case WRITTEN:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Written", record }))
        case READ:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Read", record }))
        case EXPIRED:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Expired", record }))
        case REVOKED:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Revoked", record }))
        default:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Conflict", record }))
      }
    }

    // Over several buckets, maxSessions and maxAnonymousSessions hold per bucket, a share each (the
    // shares add up to the cap; at least 1: a cap below the number of buckets holds as that number),
    // and the per-principal cap is enforced around the bucket's step (spread.ts).
    const B = shared.buckets.length
    const share = (cap: number, bucket: Bucket) =>
      !several || !Number.isFinite(cap)
        ? cap
        : Math.max(1, Math.floor(cap / B) + (bucket.index < cap % B ? 1 : 0))
    const limitArgs = (limits: SessionStore.Limits, bucket: Bucket) => [
      numberArg(share(limits.maxSessions, bucket)),
      numberArg(share(limits.maxAnonymousSessions, bucket)),
      numberArg(several ? Infinity : limits.maxSessionsPerPrincipal),
      limits.onLimit === "refuse" ? "1" : "0"
    ]
    const unencodable = (operation: string, reason: string) =>
      new SessionStoreError({ reason: "Corrupt", operation, cause: new Error(`cannot encode the record: ${reason}`) })
    const conflict = (operation: string) => Exit.fail(new SessionStoreError({ reason: "Conflict", operation }, true))

    const insertStep = (record: Session.Record, limits: SessionStore.Limits, fields: ReadonlyArray<string>) =>
      run(
        "insert",
        bucketFor(record.key),
        scripts.insert,
        [...ttlArgs, record.key, ...limitArgs(limits, bucketFor(record.key)), ...fields],
        (reply): Effect.Effect<Array<Session.Record>, SessionStoreError | SessionLimitError> => {
          const [tag, ...rest] = asArray(reply)
          switch (tag) {
            case "conflict":
              return conflict("insert")
            case "limit":
              return Effect.zipRight(
                logCorruptKeys("insert", asStrings(rest[1])),
                Exit.fail(spread.limitError(asString(rest[0]), limits))
              )
            default:
              return Effect.zipRight(
                logCorruptKeys("insert", asStrings(rest[1])),
                shared.decodeRemoved("insert", asStrings(rest[0]))
              )
          }
        }
      )

    const insert: SessionStore.Service["insert"] = (record, limits) =>
      Either.match(encodeRecord(record), {
        onLeft: (reason) => Effect.fail(unencodable("insert", reason)),
        onRight: (fields) =>
          Effect.zipRight(
            principals.admit(record.principal, limits),
            Effect.flatMap(insertStep(record, limits, fields), (evicted) =>
              Effect.map(
                principals.trimmed(record.principal, limits, record.key),
                (more) => more.length === 0 ? evicted : [...evicted, ...more]
              ))
          )
      })

    // The lookup: one read-only command (HMGET of the record's JSON text, format version and
    // revocation mark), shared with the other lookups of the tick (lookups.ts); a record written before 0.2.0 (no JSON text yet) is read by a read-only
    // script. Expiry is decided here, with the one rule (expiry.ts).
    const read = <A>(
      operation: string,
      key: string,
      found: (record: Session.Record, revoked: boolean) => Effect.Effect<A, SessionStoreError>,
      absent: Effect.Effect<A>
    ): Effect.Effect<A, SessionStoreError> => {
      const bucket = bucketFor(key)
      const redisKey = `${bucket.base}s:${key}`
      const corrupt = (reason: string) => Effect.zipRight(dropStored(operation, key, reason), absent)
      return c.lookup(operation, bucket.base, redisKey, (reply) => {
        const [text, version, revoked] = asArray(reply)
        if (typeof text === "string") {
          if (version !== FORMAT_VERSION) return corrupt(FORMAT)
          const record = decodeRecord(text)
          return typeof record === "string" ? corrupt(record) : found(record, typeof revoked === "string")
        }
        if (version === null || version === undefined) return absent
        return c.run(operation, scripts.read, [redisKey, key], (legacy) => {
          const text = asString(legacy)
          switch (text.charCodeAt(0)) {
            case MISSING:
              return absent
            case CORRUPT:
              return corrupt(FORMAT)
            default: {
              const record = decodeRecord(text, 1)
              return typeof record === "string" ? corrupt(record) : found(record, text.charCodeAt(0) === REVOKED)
            }
          }
        })
      }, (cause) => isWrongType(cause) ? corrupt(FORMAT) : undefined)
    }

    const get: SessionStore.Service["get"] = (key) =>
      read("get", key, (record) => Exit.succeed(Option.some(record)), noneExit)

    const touchWrite = (
      key: string,
      cutoff: SessionStore.Cutoff,
      touchBefore: number,
      seen: Session.Record
    ): Effect.Effect<SessionStore.TouchResult, SessionStoreError> =>
      run(
        "touch",
        bucketFor(key),
        scripts.touch,
        [...ttlArgs, key, ...cutoffArgs(cutoff), numberArg(touchBefore)],
        (reply) => written("touch", key, asString(reply)) as Effect.Effect<SessionStore.TouchResult>,
        // Out of memory: Redis refuses writes, not reads. The session was read live a moment ago:
        // serve it untouched rather than fail every signed-in request.
        (cause) => isOutOfMemory(cause) ? Exit.succeed({ _tag: "Read", record: seen }) : undefined
      )

    const touch: SessionStore.Service["touch"] = (key, cutoff, touchBefore = cutoff.now) =>
      read("touch", key, (record, revoked): Effect.Effect<SessionStore.TouchResult, SessionStoreError> => {
        if (revoked) return Exit.succeed({ _tag: "Revoked", record })
        if (isExpired(record, cutoff)) return Exit.succeed({ _tag: "Expired", record })
        if (record.lastUsedAt > touchBefore) return Exit.succeed({ _tag: "Read", record })
        return touchWrite(key, cutoff, touchBefore, record)
      }, missingExit)

    const update: SessionStore.Service["update"] = (key, patch, cutoff) => {
      const expect = patch.expect === undefined
        ? ["none", "", ""]
        : patch.expect.value === undefined
        ? ["absent", DATA + patch.expect.name, ""]
        : ["equal", DATA + patch.expect.name, canonical(patch.expect.value)]
      const removed = (patch.remove ?? []).map((name) => DATA + name)
      const set = (patch.set ?? []).flatMap(([name, value]) => [DATA + name, canonical(value)])
      const args = [...ttlArgs, key, ...cutoffArgs(cutoff), ...expect, String(removed.length), ...removed, ...set]
      return run(
        "update",
        bucketFor(key),
        scripts.update,
        args,
        (reply) => written("update", key, asString(reply)) as Effect.Effect<SessionStore.WriteResult>
      )
    }

    const rekeyStep = (
      key: string,
      next: SessionStore.Rekey,
      limits: SessionStore.Limits,
      cutoff: SessionStore.Cutoff,
      overrides: ReadonlyArray<string>
    ) => {
      const data = next.data !== undefined
        ? ["replace", ...dataFields(next.data)]
        : next.keep !== undefined
        ? ["keep", ...next.keep]
        : ["carry"]
      const args = [
        ...ttlArgs,
        key,
        next.key,
        ...cutoffArgs(cutoff),
        ...limitArgs(limits, bucketFor(key)),
        next.linkUntil === undefined ? "" : numberArg(next.linkUntil),
        String(overrides.length),
        ...overrides,
        ...data
      ]
      return run(
        "rekey",
        bucketFor(key),
        scripts.rekey,
        args,
        (reply): Effect.Effect<SessionStore.RekeyResult, SessionStoreError | SessionLimitError> => {
          const [tag, ...rest] = asArray(reply)
          switch (tag) {
            case "missing":
              return missingExit
            case "corrupt":
              return Effect.as(logCorrupt("rekey", key, FORMAT), missing)
            case "conflict":
              return conflict("rekey")
            case "limit":
              return Effect.zipRight(
                logCorruptKeys("rekey", asStrings(rest[1])),
                Exit.fail(spread.limitError(asString(rest[0]), limits))
              )
            case "expired":
              return storedRecord("rekey", key, "E" + asString(rest[0]), (record) => ({ _tag: "Expired", record }))
            case "revoked":
              return storedRecord("rekey", key, "V" + asString(rest[0]), (record) => ({ _tag: "Revoked", record }))
            default:
              return Effect.gen(function*() {
                yield* logCorruptKeys("rekey", asStrings(rest[3]))
                const evicted = yield* shared.decodeRemoved("rekey", asStrings(rest[2]))
                const previous = decodeRecord(asString(rest[0]))
                const record = decodeRecord(asString(rest[1]))
                if (typeof previous === "string" || typeof record === "string") {
                  yield* dropStored("rekey", next.key, typeof previous === "string" ? previous : String(record))
                  return missing
                }
                return { _tag: "Rekeyed", previous, record, evicted } as const
              })
          }
        }
      )
    }

    const rekey: SessionStore.Service["rekey"] = (key, next, limits, cutoff) => {
      // a rotation stays in its bucket (one slot, one atomic step): the manager mints keys that do
      // (sameBucket); another key is refused as unusable, like a taken one
      if (bucketFor(next.key) !== bucketFor(key)) return conflict("rekey")
      const overrides: Array<string> = []
      if (next.principal !== undefined) {
        const fields = principalFields(next.principal)
        if (Either.isLeft(fields)) return Effect.fail(unencodable("rekey", fields.left))
        overrides.push(...fields.right)
      }
      if (next.createdAt !== undefined) overrides.push("c", String(next.createdAt))
      if (next.expiresAt !== undefined) overrides.push("e", next.expiresAt === null ? "null" : String(next.expiresAt))
      const step = rekeyStep(key, next, limits, cutoff, overrides)
      const principal = next.principal
      if (principal === undefined) return step
      return Effect.flatMap(
        Effect.catchTag(
          Effect.as(principals.admit(principal, limits, key), undefined),
          "SessionLimitError",
          (error) => refusedUnlessEnded(key, cutoff, error)
        ),
        (ended) =>
          ended !== undefined ? Exit.succeed(ended) : Effect.flatMap(step, (result) => {
            // a rotation within one principal does not change how many sessions it holds
            if (result._tag !== "Rekeyed" || samePrincipal(result.previous.principal, principal)) {
              return Exit.succeed(result)
            }
            return Effect.map(
              principals.trimmed(principal, limits, next.key),
              (more) => more.length === 0 ? result : { ...result, evicted: [...result.evicted, ...more] }
            )
          })
      )
    }

    // A cap refused a rekey before its step (spread.ts): as the step would, answer first for a
    // session that is gone, revoked or expired (a concurrent rotation may have moved it), and
    // refuse only a live one.
    const refusedUnlessEnded = (
      key: string,
      cutoff: SessionStore.Cutoff,
      error: SessionLimitError
    ): Effect.Effect<SessionStore.RekeyResult, SessionStoreError | SessionLimitError> =>
      Effect.flatMap(
        read(
          "rekey",
          key,
          (record, revoked): Effect.Effect<SessionStore.RekeyResult | undefined> =>
            Exit.succeed(
              revoked
                ? { _tag: "Revoked", record }
                : isExpired(record, cutoff)
                ? { _tag: "Expired", record }
                : undefined
            ),
          missingExit
        ),
        (ended) => ended === undefined ? Exit.fail(error) : Exit.succeed(ended)
      )

    const remove: SessionStore.Service["remove"] = (key, options) =>
      run(
        "remove",
        bucketFor(key),
        scripts.remove,
        [key, options?.followRotations === true ? "1" : "0"],
        (reply): Effect.Effect<Option.Option<Session.Record>> => {
          const text = asString(reply)
          switch (text.charCodeAt(0)) {
            case MISSING:
              return noneExit
            case CORRUPT:
              return Effect.as(logCorrupt("remove", key, FORMAT), Option.none())
            default: {
              const record = decodeRecord(text, 1)
              return typeof record === "string"
                ? Effect.as(logCorrupt("remove", key, record), Option.none())
                : Exit.succeed(Option.some(record))
            }
          }
        }
      )

    const across = spread.make(client, settings, shared)
    const service: SessionStore.Service & { readonly claimStep: typeof across.claimStep } = {
      persistent: true,
      validatePolicy: (policy: SessionStore.Policy): Effect.Effect<void, SessionConfigError> =>
        validatePolicy(settings, policy),
      ...(several ? { sameBucket: (a: string, b: string) => bucketOf(a, B) === bucketOf(b, B) } : {}),
      insert,
      get,
      touch,
      update,
      rekey,
      remove,
      revoke: across.revoke,
      list: across.list,
      listByPrincipal: across.listByPrincipal,
      claimExpired: across.claimExpired,
      count: across.count,
      claimStep: across.claimStep
    }
    return service
  })

/** One bounded call of the sweep script in the first bucket, for tests: what it claimed, the entries it visited. @internal */
export const claimStep = (
  store: SessionStore.Service,
  cutoff: SessionStore.Cutoff,
  max: number
): Effect.Effect<
  { readonly records: ReadonlyArray<Session.Record>; readonly visited: number; readonly more: boolean },
  SessionStoreError
> =>
  (store as unknown as {
    readonly claimStep: (cutoff: SessionStore.Cutoff, max: number) => ReturnType<typeof claimStep>
  })
    .claimStep(cutoff, max)
