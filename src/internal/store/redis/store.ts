/**
 * The Redis store: each operation one script (one atomic step on the server), except a lookup
 * whose touch is due (a read-only script, then the touch) and a corrupt value found by a read
 * (removed by a follow-up write).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { Cluster } from "ioredis"
import type * as Session from "../../../Session.js"
import type { SessionConfigError } from "../../../SessionError.js"
import { SessionLimitError, SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { shortId } from "../../../SessionToken.js"
import { isExpired } from "../../expiry.js"
import { type Client, commands, isOutOfMemory, isWrongType } from "./client.js"
import { canonical, DATA, dataFields, decodeRecord, encodeRecord, numberArg, principalFields } from "./codec.js"
import { FORMAT_VERSION } from "./lua.js"
import * as scripts from "./scripts.js"
import { type Settings, validatePolicy } from "./settings.js"

class BadReply extends Error {}

const asArray = (value: unknown): ReadonlyArray<unknown> => {
  if (!Array.isArray(value)) throw new BadReply(`expected an array reply, got ${typeof value}`)
  return value
}
const asString = (value: unknown): string => {
  if (typeof value !== "string") throw new BadReply(`expected a string reply, got ${typeof value}`)
  return value
}
const asNumber = (value: unknown): number => {
  if (typeof value !== "number") throw new BadReply(`expected an integer reply, got ${typeof value}`)
  return value
}
const asStrings = (value: unknown): ReadonlyArray<string> => asArray(value).map(asString)

const MISSING = 77 // "M"
const CORRUPT = 67 // "C"
const READ = 82 // "R"
const WRITTEN = 87 // "W"
const EXPIRED = 69 // "E"

const missing: SessionStore.WriteResult & SessionStore.RekeyResult & SessionStore.TouchResult = { _tag: "Missing" }
const missingExit = Exit.succeed(missing)
const noneExit = Exit.succeed(Option.none<Session.Record>())
const FORMAT = "not a session record of this format"

/** Pages of `listByPrincipal` (and of `getMany`). */
const PAGE = 200
/** Script calls one `claimExpired` makes at most (each visits at most `scripts.CLAIM_BUDGET` entries). */
const MAX_CLAIM_CALLS = 4096

/** @internal */
export const make = (
  client: Client,
  settings: Settings
): Effect.Effect<SessionStore.Service> =>
  Effect.sync(() => {
    const { base } = settings
    const c = commands(client, settings)
    const indexKeys = [`${base}lru:anonymous`, `${base}lru:authenticated`, `${base}exp`, `${base}seq`, `${base}pp`]
    const withBase = (args: ReadonlyArray<string>) => [...indexKeys, base, ...args]
    const ttlArgs = [numberArg(settings.maxIdleTtl), numberArg(settings.expiryGrace)]
    const recordKey = (key: string) => `${base}s:${key}`

    const logCorrupt = (operation: string, key: string, reason: string) =>
      Effect.logWarning("session store: removed a foreign or corrupt value").pipe(
        Effect.annotateLogs({ session: shortId(key), operation, reason })
      )
    const logCorruptKeys = (operation: string, keys: ReadonlyArray<string>) =>
      keys.length === 0 ? Effect.void : Effect.forEach(keys, (key) => logCorrupt(operation, key, FORMAT), {
        discard: true
      })

    /** Removes a corrupt value still stored (a read-only script cannot) and logs it. */
    const dropStored = (operation: string, key: string, reason: string): Effect.Effect<void> =>
      Effect.zipRight(
        logCorrupt(operation, key, reason),
        c.run("drop", scripts.drop, withBase([key]), () => Effect.void).pipe(
          Effect.catchAll((error) => Effect.logWarning("session store: could not remove a corrupt value", error))
        )
      )

    /** Decodes records; `bad` answers for each one that does not decode (log it, remove it). */
    const decodeAll = (
      texts: ReadonlyArray<string>,
      bad: (key: string, reason: string) => Effect.Effect<void>
    ): Effect.Effect<Array<Session.Record>> => {
      const records: Array<Session.Record> = []
      const failed: Array<[string, string]> = []
      for (const text of texts) {
        const record = decodeRecord(text)
        if (typeof record === "string") failed.push([keyIn(text), record])
        else records.push(record)
      }
      return failed.length === 0
        ? Exit.succeed(records)
        : Effect.as(Effect.forEach(failed, ([key, reason]) => bad(key, reason)), records)
    }
    /** Records already removed from the store: those that do not decode are logged. */
    const decodeRemoved = (operation: string, texts: ReadonlyArray<string>) =>
      decodeAll(texts, (key, reason) => logCorrupt(operation, key, reason))
    /** Records still stored: those that do not decode are removed and logged. */
    const decodeStored = (operation: string, texts: ReadonlyArray<string>) =>
      decodeAll(texts, (key, reason) => dropStored(operation, key, reason))

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
        default:
          return storedRecord(operation, key, text, (record) => ({ _tag: "Conflict", record }))
      }
    }

    const cutoffArgs = (cutoff: SessionStore.Cutoff) => [
      numberArg(cutoff.now),
      numberArg(cutoff.idleBefore.anonymous),
      numberArg(cutoff.idleBefore.authenticated)
    ]
    const limitArgs = (limits: SessionStore.Limits) => [
      numberArg(limits.maxSessions),
      numberArg(limits.maxAnonymousSessions),
      numberArg(limits.maxSessionsPerPrincipal),
      limits.onLimit === "refuse" ? "1" : "0"
    ]
    const limitError = (name: string, limits: SessionStore.Limits) => {
      const limit = name === "maxSessions" || name === "maxAnonymousSessions" || name === "maxSessionsPerPrincipal"
        ? name
        : "maxSessions"
      return new SessionLimitError({ limit, max: limits[limit] })
    }
    const unencodable = (operation: string, reason: string) =>
      new SessionStoreError({ reason: "Corrupt", operation, cause: new Error(`cannot encode the record: ${reason}`) })
    const conflict = (operation: string) => Exit.fail(new SessionStoreError({ reason: "Conflict", operation }, true))

    const insert: SessionStore.Service["insert"] = (record, limits) =>
      Either.match(encodeRecord(record), {
        onLeft: (reason) => Effect.fail(unencodable("insert", reason)),
        onRight: (fields) =>
          c.run(
            "insert",
            scripts.insert,
            withBase([...ttlArgs, record.key, ...limitArgs(limits), ...fields]),
            (reply): Effect.Effect<Array<Session.Record>, SessionStoreError | SessionLimitError> => {
              const [tag, ...rest] = asArray(reply)
              switch (tag) {
                case "conflict":
                  return conflict("insert")
                case "limit":
                  return Effect.zipRight(
                    logCorruptKeys("insert", asStrings(rest[1])),
                    Exit.fail(limitError(asString(rest[0]), limits))
                  )
                default:
                  return Effect.zipRight(
                    logCorruptKeys("insert", asStrings(rest[1])),
                    decodeRemoved("insert", asStrings(rest[0]))
                  )
              }
            }
          )
      })

    // The lookup: one read-only command (HMGET of the record's JSON text and format version); a
    // record written before 0.2.0 (no JSON text yet) is read by a read-only script. Expiry is
    // decided here, with the one rule (expiry.ts).
    const read = <A>(
      operation: string,
      key: string,
      found: (record: Session.Record) => Effect.Effect<A, SessionStoreError>,
      absent: Effect.Effect<A>
    ): Effect.Effect<A, SessionStoreError> => {
      const redisKey = recordKey(key)
      const corrupt = (reason: string) => Effect.zipRight(dropStored(operation, key, reason), absent)
      return c.attempt(operation, () => client.hmget(redisKey, "j", "v"), (reply) => {
        const [text, version] = asArray(reply)
        if (typeof text === "string") {
          if (version !== FORMAT_VERSION) return corrupt(FORMAT)
          const record = decodeRecord(text)
          return typeof record === "string" ? corrupt(record) : found(record)
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
              return typeof record === "string" ? corrupt(record) : found(record)
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
      c.run(
        "touch",
        scripts.touch,
        withBase([...ttlArgs, key, ...cutoffArgs(cutoff), numberArg(touchBefore)]),
        (reply) => written("touch", key, asString(reply)) as Effect.Effect<SessionStore.TouchResult>,
        // Out of memory: Redis refuses writes, not reads. The session was read live a moment ago:
        // serve it untouched rather than fail every signed-in request.
        (cause) => isOutOfMemory(cause) ? Exit.succeed({ _tag: "Read", record: seen }) : undefined
      )

    const touch: SessionStore.Service["touch"] = (key, cutoff, touchBefore = cutoff.now) =>
      read("touch", key, (record): Effect.Effect<SessionStore.TouchResult, SessionStoreError> => {
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
      return c.run(
        "update",
        scripts.update,
        withBase(args),
        (reply) => written("update", key, asString(reply)) as Effect.Effect<SessionStore.WriteResult>
      )
    }

    const rekey: SessionStore.Service["rekey"] = (key, next, limits, cutoff) => {
      const overrides: Array<string> = []
      if (next.principal !== undefined) {
        const fields = principalFields(next.principal)
        if (Either.isLeft(fields)) return Effect.fail(unencodable("rekey", fields.left))
        overrides.push(...fields.right)
      }
      if (next.createdAt !== undefined) overrides.push("c", String(next.createdAt))
      if (next.expiresAt !== undefined) overrides.push("e", next.expiresAt === null ? "null" : String(next.expiresAt))
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
        ...limitArgs(limits),
        next.linkUntil === undefined ? "" : numberArg(next.linkUntil),
        String(overrides.length),
        ...overrides,
        ...data
      ]
      return c.run(
        "rekey",
        scripts.rekey,
        withBase(args),
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
                Exit.fail(limitError(asString(rest[0]), limits))
              )
            case "expired":
              return storedRecord("rekey", key, "E" + asString(rest[0]), (record) => ({ _tag: "Expired", record }))
            default:
              return Effect.gen(function*() {
                yield* logCorruptKeys("rekey", asStrings(rest[3]))
                const evicted = yield* decodeRemoved("rekey", asStrings(rest[2]))
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

    const remove: SessionStore.Service["remove"] = (key, options) =>
      c.run(
        "remove",
        scripts.remove,
        withBase([key, options?.followRotations === true ? "1" : "0"]),
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

    const getMany = (operation: string, args: ReadonlyArray<string>) =>
      c.run(operation, scripts.getMany, withBase(args), (reply) => {
        const [records, corrupt, next] = asArray(reply)
        return Effect.zipRight(
          logCorruptKeys(operation, asStrings(corrupt)),
          Effect.map(decodeStored(operation, asStrings(records)), (decoded) => ({ decoded, next: asNumber(next) }))
        )
      })

    // SCAN with a bounded COUNT on every master: each step is one short command; the whole listing
    // is linear in the size of the database (an admin operation).
    const pattern = `${base}s:*`
    const recordPrefix = `${base}s:`
    const list: SessionStore.Service["list"] = Effect.suspend(() => {
      const seen = new Set<string>()
      const out: Array<Session.Record> = []
      const nodes = client instanceof Cluster ? client.nodes("master") : [client]
      const step = (node: (typeof nodes)[number], cursor: string): Effect.Effect<void, SessionStoreError> =>
        c.attempt(
          "list",
          () => node.scan(cursor, "MATCH", pattern, "COUNT", settings.scanCount),
          (reply) => {
            const [nextCursor, keys] = asArray(reply)
            const fresh: Array<string> = []
            for (const redisKey of asStrings(keys)) {
              const key = redisKey.slice(recordPrefix.length)
              if (!seen.has(key)) {
                seen.add(key)
                fresh.push(key)
              }
            }
            const page = fresh.length === 0 ? Effect.void : Effect.map(
              getMany("list", ["keys", ...fresh]),
              ({ decoded }) => {
                out.push(...decoded)
              }
            )
            const following = asString(nextCursor)
            return following === "0" ? page : Effect.zipRight(page, step(node, following))
          }
        )
      return Effect.as(Effect.forEach(nodes, (node) => step(node, "0"), { discard: true }), out)
    })

    const listByPrincipal: SessionStore.Service["listByPrincipal"] = (principalId) => {
      const out: Array<Session.Record> = []
      const page = (start: number): Effect.Effect<Array<Session.Record>, SessionStoreError> =>
        Effect.flatMap(
          getMany("listByPrincipal", ["principal", principalId, String(start), String(PAGE)]),
          ({ decoded, next }) => {
            out.push(...decoded)
            return next < 0 ? Exit.succeed(out) : page(next)
          }
        )
      return page(0)
    }

    /** One bounded script call of the sweep. */
    const claimStep = (cutoff: SessionStore.Cutoff, max: number) =>
      c.run("claimExpired", scripts.claimExpired, withBase([...cutoffArgs(cutoff), String(max)]), (reply) => {
        const [claimed, corrupt, visited, more] = asArray(reply)
        return Effect.zipRight(
          logCorruptKeys("claimExpired", asStrings(corrupt)),
          Effect.map(decodeRemoved("claimExpired", asStrings(claimed)), (records) => ({
            records,
            visited: asNumber(visited),
            more: asNumber(more) === 1
          }))
        )
      })

    // Script calls until `max` records are claimed or nothing is left: each call is bounded, so
    // Redis is never blocked long, whatever number of dead index entries the sweep meets.
    const claimExpired: SessionStore.Service["claimExpired"] = (cutoff, max) => {
      const limit = Math.floor(Math.min(max, 1_000_000))
      if (!(limit >= 1)) return Effect.succeed([])
      const out: Array<Session.Record> = []
      const loop = (calls: number): Effect.Effect<Array<Session.Record>, SessionStoreError> =>
        Effect.flatMap(claimStep(cutoff, limit - out.length), ({ more, records }) => {
          out.push(...records)
          return more && out.length < limit && calls < MAX_CLAIM_CALLS ? loop(calls + 1) : Exit.succeed(out)
        })
      return loop(1)
    }

    const revoke: SessionStore.Service["revoke"] = (principalId, options) =>
      c.run("revoke", scripts.revoke, withBase([principalId, options?.except ?? ""]), (reply) => {
        const [removed, corrupt] = asArray(reply)
        return Effect.zipRight(
          logCorruptKeys("revoke", asStrings(corrupt)),
          Effect.map(decodeRemoved("revoke", asStrings(removed)), (records) => ({ removed: records, marked: 0 }))
        )
      })

    const count: SessionStore.Service["count"] = c.run("count", scripts.count, withBase([]), (reply) => {
      const [anonymous, authenticated] = asArray(reply)
      return Exit.succeed({ anonymous: asNumber(anonymous), authenticated: asNumber(authenticated) })
    })

    const service = {
      persistent: true,
      validatePolicy: (policy: SessionStore.Policy): Effect.Effect<void, SessionConfigError> =>
        validatePolicy(settings, policy),
      insert,
      get,
      touch,
      update,
      rekey,
      remove,
      revoke,
      list,
      listByPrincipal,
      claimExpired,
      count,
      claimStep: (_: SessionStore.Service, cutoff: SessionStore.Cutoff, max: number) => claimStep(cutoff, max)
    }
    return service as SessionStore.Service
  })

/** The key of a record's JSON text, for logs when it does not decode. */
const keyIn = (text: string): string => {
  const match = /^\{"k":("(?:[^"\\]|\\.)*")/.exec(text)
  if (match === null) return "?"
  try {
    return JSON.parse(match[1]) as string
  } catch {
    return "?"
  }
}

/** One bounded call of the sweep script, for tests: what it claimed, the entries it visited. @internal */
export const claimStep = (
  store: SessionStore.Service,
  cutoff: SessionStore.Cutoff,
  max: number
): Effect.Effect<
  { readonly records: ReadonlyArray<Session.Record>; readonly visited: number; readonly more: boolean },
  SessionStoreError
> => (store as unknown as { readonly claimStep: typeof claimStep }).claimStep(store, cutoff, max)
