/**
 * The SQL session store: the contract's operations as statements (executor.ts runs them).
 *
 * - Lookups are one `SELECT` by key; a touch that is due, and a data patch, are then one
 *   compare-and-set `UPDATE` on the row's version (`lru`), retried from the read when a concurrent
 *   write changed the row. A touch that is not due writes nothing: one statement per lookup.
 * - Removals, revocations and sweeps are single `DELETE ... RETURNING` statements holding the
 *   store's write lock: a row is handed to exactly one caller. Openings and rekeys are transactions
 *   under that lock (admission.ts).
 * - A rekey updates the row in place (`key` changes, `id` stays), so a revocation or a removal
 *   racing it finds the row whatever its key, and a link from the old key to `id` lets
 *   `remove(followRotations)` close what any number of rotations made of it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Session from "../../../Session.js"
import { jsonEquals } from "../../../Session.js"
import { type SessionConfigError, SessionStoreError } from "../../../SessionError.js"
import type * as SessionStore from "../../../SessionStore.js"
import { isExpired } from "../../expiry.js"
import { makeRoom } from "./admission.js"
import { decode, encode, escapeId, kept, patched, type Row, type Stored } from "./codec.js"
import type { Executor, Runner } from "./executor.js"
import * as migration from "./migrate.js"
import { type Queries, queries, type Query } from "./queries.js"
import type { Settings } from "./settings.js"

/** Compare-and-set attempts of one touch or patch before it reports a `Conflict`. */
const ATTEMPTS = 100

const missing = { _tag: "Missing" } as const

/** What a compare-and-set step decides on the record it read: an answer, or a write. */
type Step<A> =
  | { readonly _tag: "Done"; readonly result: A }
  | { readonly _tag: "Write"; readonly query: Query; readonly data?: string }

/** @internal */
export const make = (
  executor: Executor,
  q: Queries,
  options: { readonly sweepBatchSize: number }
): SessionStore.Service => {
  // A row that does not decode (written by hand, or by another format) is removed and reported as
  // `Corrupt`: it is no session anyone can use or release.
  const one = (
    operation: string,
    rows: ReadonlyArray<Row>,
    runner: Runner = executor
  ): Effect.Effect<Stored | undefined, SessionStoreError> => {
    if (rows.length === 0) return Effect.succeed(undefined)
    const stored = decode(rows[0])
    if (typeof stored !== "string") return Effect.succeed(stored)
    return Effect.zipRight(
      Effect.zipRight(
        Effect.logWarning(`effect-session: removed an undecodable session row (${stored})`),
        Effect.ignore(runner.run(operation, q.evict, { id: rows[0].id, lru: rows[0].lru }))
      ),
      Effect.fail(new SessionStoreError({ reason: "Corrupt", operation }, true))
    )
  }

  // Rows already removed (claimed, revoked) or listed: an undecodable one is logged and left out.
  const many = (rows: ReadonlyArray<Row>): Effect.Effect<Array<Session.Record>> => {
    const records: Array<Session.Record> = []
    for (const row of rows) {
      const stored = decode(row)
      if (typeof stored !== "string") records.push(stored.record)
    }
    const skipped = rows.length - records.length
    return skipped === 0
      ? Effect.succeed(records)
      : Effect.as(Effect.logWarning(`effect-session: left out ${skipped} undecodable session rows`), records)
  }

  const lookup = executor.lookup ?? ((operation: string, key: string) => executor.run(operation, q.get, { key }))
  const read = (operation: string, key: string) =>
    Effect.flatMap(lookup(operation, key), (rows) => one(operation, rows))

  /**
   * Reads the live record under `key`, lets `decide` answer or ask for a write, and writes only if
   * the row's version is unchanged since the read (then it is still live at `cutoff`); otherwise
   * starts again from the read.
   */
  const compareAndSet = <A>(
    operation: string,
    key: string,
    cutoff: SessionStore.Cutoff,
    decide: (stored: Stored) => Step<A>,
    written: (record: Session.Record) => A
  ): Effect.Effect<
    A | typeof missing | { readonly _tag: "Expired"; readonly record: Session.Record },
    SessionStoreError
  > => {
    const attempt = (
      n: number
    ): Effect.Effect<
      A | typeof missing | { readonly _tag: "Expired"; readonly record: Session.Record },
      SessionStoreError
    > =>
      Effect.flatMap(read(operation, key), (stored) => {
        if (stored === undefined) return Effect.succeed(missing)
        if (isExpired(stored.record, cutoff)) return Effect.succeed({ _tag: "Expired", record: stored.record } as const)
        const step = decide(stored)
        if (step._tag === "Done") return Effect.succeed(step.result)
        if (n >= ATTEMPTS) return Effect.fail(new SessionStoreError({ reason: "Conflict", operation }, true))
        return Effect.flatMap(
          executor.run(operation, step.query, { key, lru: stored.lru, now: cutoff.now, data: step.data }),
          (rows) =>
            rows.length === 0
              ? attempt(n + 1)
              : Effect.map(one(operation, rows), (updated) => written(updated!.record))
        )
      })
    return attempt(0)
  }

  const rekey: SessionStore.Service["rekey"] = (key, next, limits, cutoff) =>
    executor.locked("rekey", (tx) =>
      Effect.gen(function*() {
        const stored = yield* one("rekey", yield* tx.run("rekey", q.getForUpdate, { key: escapeId(key) }), tx)
        if (stored === undefined) return missing
        const previous = stored.record
        if (isExpired(previous, cutoff)) return { _tag: "Expired", record: previous } as const
        const record: Session.Record = {
          key: next.key,
          principal: next.principal ?? previous.principal,
          createdAt: next.createdAt ?? previous.createdAt,
          lastUsedAt: cutoff.now,
          expiresAt: next.expiresAt === undefined ? previous.expiresAt : next.expiresAt,
          data: next.data ?? (next.keep === undefined ? previous.data : kept(previous.data, next.keep))
        }
        // in place: same row and id, new key (a taken key fails the statement: a Conflict, rolled back)
        const updated = yield* one("rekey", yield* tx.run("rekey", q.rekey, { ...values(record), id: stored.id }), tx)
        const evicted = yield* makeRoom(tx, q, "rekey", record, stored.id, limits)
        if (next.key !== key && next.linkUntil !== undefined) {
          yield* tx.run("rekey", q.link, { key: escapeId(key), id: stored.id, until: next.linkUntil })
        }
        return { _tag: "Rekeyed", previous, record: updated!.record, evicted } as const
      }))

  const removed = (rows: ReadonlyArray<Row>) =>
    Effect.map(one("remove", rows), (stored) => Option.fromNullable(stored?.record))

  return {
    persistent: true,
    insert: (record, limits) =>
      executor.locked("insert", (tx) =>
        Effect.flatMap(
          tx.run("insert", q.insert, values(record)),
          ([row]) => makeRoom(tx, q, "insert", record, row.id, limits)
        )),
    get: (key) => Effect.map(read("get", escapeId(key)), (stored) => Option.fromNullable(stored?.record)),
    touch: (key, cutoff, touchBefore = cutoff.now) =>
      compareAndSet<SessionStore.TouchResult>(
        "touch",
        escapeId(key),
        cutoff,
        (stored) =>
          stored.record.lastUsedAt > touchBefore
            ? { _tag: "Done", result: { _tag: "Read", record: stored.record } }
            : { _tag: "Write", query: q.touch },
        (record) => ({ _tag: "Written", record })
      ),
    update: (key, patch, cutoff) =>
      compareAndSet<SessionStore.WriteResult>(
        "update",
        escapeId(key),
        cutoff,
        (stored) => {
          const data = stored.record.data
          if (patch.expect !== undefined) {
            const current = Object.prototype.hasOwnProperty.call(data, patch.expect.name)
              ? data[patch.expect.name]
              : undefined
            if (!jsonEquals(current, patch.expect.value)) {
              return { _tag: "Done", result: { _tag: "Conflict", record: stored.record } }
            }
          }
          return { _tag: "Write", query: q.update, data: JSON.stringify(patched(data, patch)) }
        },
        (record) => ({ _tag: "Written", record })
      ),
    rekey,
    remove: (key, options) =>
      Effect.flatMap(
        executor.run("remove", q.remove, { key: escapeId(key) }),
        (rows) =>
          rows.length > 0 || options?.followRotations !== true
            ? removed(rows)
            // a new statement, so it sees the link a rotation it waited for has just committed
            : Effect.flatMap(executor.run("remove", q.removeLinked, { key: escapeId(key) }), removed)
      ),
    // In a transaction that takes the lock first: the DELETE's snapshot is then taken after every
    // opening that held the lock before it has committed (a lock taken inside the statement comes
    // after its snapshot, and would miss such a session: I8).
    revoke: (principalId, options) =>
      Effect.flatMap(
        executor.locked("revoke", (tx) =>
          tx.run("revoke", q.revoke, {
            principal: escapeId(principalId),
            except: options?.except === undefined ? null : escapeId(options.except)
          })),
        (rows) => Effect.map(many(rows), (records) => ({ removed: records, marked: 0 }))
      ),
    list: Effect.flatMap(executor.run("list", q.list, {}), many),
    listByPrincipal: (principalId) =>
      Effect.flatMap(executor.run("listByPrincipal", q.listByPrincipal, { principal: escapeId(principalId) }), many),
    claimExpired: (cutoff, max) => claimExpired(executor, q, options.sweepBatchSize, many, cutoff, max),
    count: Effect.map(executor.run("count", q.count, {}), (rows) => {
      let anonymous = 0
      let authenticated = 0
      for (const row of rows) {
        if (row.name === "anonymous") anonymous = Number(row.n)
        else if (row.name === "authenticated") authenticated = Number(row.n)
      }
      return { anonymous, authenticated }
    })
  }
}

const values = (record: Session.Record) => {
  const e = encode(record)
  return {
    key: e.key,
    principal: e.principal_id,
    anonymous: e.anonymous,
    attributes: e.attributes,
    createdAt: e.created_at,
    lastUsedAt: e.last_used_at,
    expiresAt: e.expires_at,
    data: e.data
  }
}

/**
 * Claims in batches of at most `batch` rows, each its own statement, so no transaction holds locks
 * for long. A batch that fails after others succeeded ends the claim with what was claimed: those
 * rows are gone from the store, and only the caller can release them.
 */
const claimExpired = (
  executor: Executor,
  q: Queries,
  batch: number,
  many: (rows: ReadonlyArray<Row>) => Effect.Effect<Array<Session.Record>>,
  cutoff: SessionStore.Cutoff,
  max: number
): Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError> => {
  const bounds = {
    now: cutoff.now,
    anonymousBefore: cutoff.idleBefore.anonymous,
    authenticatedBefore: cutoff.idleBefore.authenticated
  }
  const claimed: Array<Session.Record> = []
  const step: Effect.Effect<ReadonlyArray<Session.Record>, SessionStoreError> = Effect.suspend(() => {
    const size = Math.min(batch, max - claimed.length)
    if (size <= 0) return Effect.succeed(claimed)
    return Effect.matchEffect(executor.run("claimExpired", q.claim, { ...bounds, max: size }), {
      onFailure: (error) =>
        claimed.length === 0
          ? Effect.fail(error)
          : Effect.as(
            Effect.logWarning("effect-session: a sweep batch failed; the next sweep resumes", error),
            claimed
          ),
      onSuccess: (rows) =>
        Effect.flatMap(many(rows), (records) => {
          claimed.push(...records)
          return rows.length < size ? Effect.succeed(claimed) : step
        })
    })
  })
  // lapsed rotation links go with the sweep, in one bounded statement
  return Effect.zipRight(executor.run("claimExpired", q.pruneLinks, { now: cutoff.now, max: batch }), step)
}

/** Migrates (or checks the schema, with `migrate: false`), then builds the store. @internal */
export const build = (
  executor: Executor,
  settings: Settings
): Effect.Effect<SessionStore.Service, SessionConfigError | SessionStoreError> =>
  Effect.zipRight(
    settings.migrate
      ? migration.migrate(executor, executor.dialect, settings.names)
      : migration.check(executor, executor.dialect, settings.names),
    Effect.sync(() => make(executor, queries(executor.dialect, settings.names), settings))
  )
