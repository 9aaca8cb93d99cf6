/**
 * What the Redis store's operations share: the buckets and how a script is called on one, the
 * checks of a reply's shape, and the handling of records that do not decode (logged; removed when
 * still stored).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Session from "../../../Session.js"
import type { SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { shortId } from "../../../SessionToken.js"
import { bucketOf } from "./buckets.js"
import type { commands } from "./client.js"
import { decodeRecord } from "./codec.js"
import * as scripts from "./scripts.js"
import type { Settings } from "./settings.js"

class BadReply extends Error {}

/** @internal */
export const asArray = (value: unknown): ReadonlyArray<unknown> => {
  if (!Array.isArray(value)) throw new BadReply(`expected an array reply, got ${typeof value}`)
  return value
}
/** @internal */
export const asString = (value: unknown): string => {
  if (typeof value !== "string") throw new BadReply(`expected a string reply, got ${typeof value}`)
  return value
}
/** @internal */
export const asNumber = (value: unknown): number => {
  if (typeof value !== "number") throw new BadReply(`expected an integer reply, got ${typeof value}`)
  return value
}
/** @internal */
export const asStrings = (value: unknown): ReadonlyArray<string> => asArray(value).map(asString)

/** The status letters of the scripts' replies. @internal */
export const MISSING = 77 // "M"
/** @internal */
export const CORRUPT = 67 // "C"
/** @internal */
export const READ = 82 // "R"
/** @internal */
export const WRITTEN = 87 // "W"
/** @internal */
export const EXPIRED = 69 // "E"
/** @internal */
export const REVOKED = 86 // "V"

/** @internal */
export const missing: SessionStore.WriteResult & SessionStore.RekeyResult & SessionStore.TouchResult = {
  _tag: "Missing"
}
/** @internal */
export const missingExit = Exit.succeed(missing)
/** @internal */
export const noneExit = Exit.succeed(Option.none<Session.Record>())
/** @internal */
export const FORMAT = "not a session record of this format"

/** One slot bucket: its key base and the keys every script declares (see lua.ts). @internal */
export interface Bucket {
  readonly index: number
  readonly base: string
  readonly keys: ReadonlyArray<string>
}

/** @internal */
export const bucketAt = (index: number, base: string): Bucket => ({
  index,
  base,
  keys: [`${base}lru:anonymous`, `${base}lru:authenticated`, `${base}exp`, `${base}pp`, `${base}rv`]
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

/** The store's buckets, its script caller and the handling of records that do not decode. @internal */
export const makeShared = (c: ReturnType<typeof commands>, settings: Settings) => {
  const buckets = settings.bases.map((base, index) => bucketAt(index, base))
  const count = buckets.length
  const bucketFor = (key: string): Bucket => buckets[bucketOf(key, count)]

  /** Runs a script on a bucket (its declared keys and base, then `args`). */
  const run = <A, E>(
    operation: string,
    bucket: Bucket,
    script: scripts.Script,
    args: ReadonlyArray<string>,
    parse: (reply: unknown) => Effect.Effect<A, E | SessionStoreError>,
    recover?: (cause: unknown) => Effect.Effect<A, E | SessionStoreError> | undefined
  ): Effect.Effect<A, E | SessionStoreError> =>
    c.run(operation, script, [...bucket.keys, bucket.base, ...args], parse, recover)

  const logCorrupt = (operation: string, key: string, reason: string) =>
    Effect.logWarning("session store: removed a foreign or corrupt value").pipe(
      Effect.annotateLogs({ session: shortId(key), operation, reason })
    )
  const logCorruptKeys = (operation: string, keys: ReadonlyArray<string>) =>
    keys.length === 0 ? Effect.void : Effect.forEach(keys, (key) => logCorrupt(operation, key, FORMAT), {
      discard: true
    })

  /** Removes a corrupt value still stored (a read-only command cannot) and logs it. */
  const dropStored = (operation: string, key: string, reason: string): Effect.Effect<void> =>
    Effect.zipRight(
      logCorrupt(operation, key, reason),
      run("drop", bucketFor(key), scripts.drop, [key], () => Effect.void).pipe(
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

  /** The records of a reply `[records, corrupt keys, ...]`, already removed from the store. */
  const removedIn = (operation: string, reply: unknown): Effect.Effect<Array<Session.Record>> => {
    const [removed, corrupt] = asArray(reply)
    return Effect.zipRight(
      logCorruptKeys(operation, asStrings(corrupt)),
      decodeAll(asStrings(removed), (key, reason) => logCorrupt(operation, key, reason))
    )
  }

  return {
    commands: c,
    buckets,
    bucketFor,
    run,
    logCorrupt,
    logCorruptKeys,
    dropStored,
    removedIn,
    /** Records already removed from the store: those that do not decode are logged. */
    decodeRemoved: (operation: string, texts: ReadonlyArray<string>) =>
      decodeAll(texts, (key, reason) => logCorrupt(operation, key, reason)),
    /** Records still stored: those that do not decode are removed and logged. */
    decodeStored: (operation: string, texts: ReadonlyArray<string>) =>
      decodeAll(texts, (key, reason) => dropStored(operation, key, reason))
  }
}

/** @internal */
export type Shared = ReturnType<typeof makeShared>
