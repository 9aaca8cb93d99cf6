/**
 * An executor on a `pg` pool the store owns: each statement is one `pool.query` of a named
 * prepared statement (PostgreSQL parses and plans it once per connection, not on every call), with
 * one `Effect.async` around it and nothing else. Through a `SqlClient`, the same statement also pays
 * a tracing span, a scope and a reserved connection per call, and an unnamed statement that the
 * server parses and plans every time.
 *
 * A transaction (`locked`) runs on one connection taken from the pool for its duration; a
 * connection that failed is given back with its error, so the pool drops it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pg from "pg"
import type { SessionStoreError } from "../../../SessionError.js"
import { beginOf, type Executor, failure, type Runner } from "./executor.js"
import { bind, type Queries, queries, type Query } from "./queries.js"
import type { Names } from "./settings.js"

/** A short name per statement text: the same text always gets the same name. */
const nameOf = (text: string, names: Map<string, string>): string => {
  let name = names.get(text)
  if (name === undefined) {
    let hash = 0x811c9dc5
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
    name = `effect_session_${(hash >>> 0).toString(36)}_${text.length.toString(36)}`
    names.set(text, name)
  }
  return name
}

type Queryable = Pick<Pg.ClientBase, "query">

/** Keys read by one batched statement, at most. */
const BATCH = 128

interface Waiter {
  readonly operation: string
  readonly key: string
  readonly resume: (rows: Effect.Effect<ReadonlyArray<any>, SessionStoreError>) => void
}

/**
 * Reads by key, batched: at most `limit` reads in flight (one per connection of the pool); a read
 * that arrives while they all are waits, and goes with the others that arrived meanwhile in one
 * `key = ANY($1)` statement. With one request in flight nothing waits (one key, one statement);
 * under load, one statement serves many lookups. Each batch reads at one snapshot, taken after every
 * read in it was asked for and before any is answered: still one atomic read each.
 */
const batchedLookup = (
  pool: Pg.Pool,
  q: Queries,
  limit: number,
  named: (text: string) => string
): NonNullable<Executor["lookup"]> => {
  let pending: Array<Waiter> = []
  let inFlight = 0
  const dispatch = () => {
    while (inFlight < limit && pending.length > 0) {
      const batch = pending.length <= BATCH ? pending : pending.slice(0, BATCH)
      pending = pending.length <= BATCH ? [] : pending.slice(BATCH)
      inFlight++
      const single = batch.length === 1
      const config: Pg.QueryConfig = single
        ? { name: named(q.get.text), text: q.get.text, values: [batch[0].key] }
        : { name: named(q.getMany.text), text: q.getMany.text, values: [batch.map((waiter) => waiter.key)] }
      pool.query(config, (error: Error | null, result: Pg.QueryResult) => {
        inFlight--
        if (error) {
          for (const waiter of batch) waiter.resume(Effect.fail(failure(waiter.operation, error)))
        } else if (single) {
          batch[0].resume(Effect.succeed(result.rows))
        } else {
          const byKey = new Map<string, unknown>()
          for (const row of result.rows) byKey.set(row.key, row)
          for (const waiter of batch) {
            const row = byKey.get(waiter.key)
            waiter.resume(Effect.succeed(row === undefined ? [] : [row]))
          }
        }
        dispatch()
      })
    }
  }
  // no canceler: it costs more than the lookup's own Effect steps; an interrupted reader's answer
  // arrives later and is dropped
  return (operation, key) =>
    Effect.async((resume) => {
      pending.push({ operation, key, resume })
      dispatch()
    })
}

/** @internal */
export const fromPool = (pool: Pg.Pool, names: Names, timeout: number, poolSize: number): Executor => {
  const statementNames = new Map<string, string>()
  const named = (text: string) => nameOf(text, statementNames)
  const begin = beginOf("pg", names, timeout)
  const query = (
    target: Queryable | Pg.Pool,
    operation: string,
    q: Query,
    values: { readonly [name: string]: unknown }
  ): Effect.Effect<ReadonlyArray<any>, SessionStoreError> =>
    Effect.async((resume) => {
      const config: Pg.QueryConfig = { text: q.text, values: bind(q, values) }
      // DDL and other statements without parameters run unnamed (once each)
      if (q.params.length > 0) config.name = named(q.text)
      ;(target as Queryable).query(config, (error: Error | null, result: Pg.QueryResult) =>
        resume(error ? Effect.fail(failure(operation, error)) : Effect.succeed(result.rows)))
    })
  const simple = (client: Pg.PoolClient, operation: string, text: string) =>
    Effect.async<void, SessionStoreError>((resume) => {
      client.query(text, (error: Error | null) => resume(error ? Effect.fail(failure(operation, error)) : Effect.void))
    })
  const connect = (operation: string) =>
    Effect.async<Pg.PoolClient, SessionStoreError>((resume) => {
      pool.connect((error, client) =>
        resume(error || client === undefined ? Effect.fail(failure(operation, error)) : Effect.succeed(client))
      )
    })
  return {
    dialect: "pg",
    lookup: batchedLookup(pool, queries("pg", names), poolSize, named),
    run: (operation, q, values) => query(pool, operation, q, values),
    locked: <A, E>(operation: string, body: (tx: Runner) => Effect.Effect<A, E>) =>
      Effect.uninterruptible(Effect.gen(function*() {
        const client = yield* connect(operation)
        const tx: Runner = { run: (op, q, values) => query(client, op, q, values) }
        // a BEGIN that failed half-way (the lock wait timed out) still leaves a transaction to end
        const exit = yield* Effect.exit(Effect.zipRight(simple(client, operation, begin), body(tx)))
        const ended = yield* Effect.exit(simple(client, operation, Exit.isSuccess(exit) ? "COMMIT" : "ROLLBACK"))
        // a connection whose transaction could not be ended is not reused: the pool drops it
        client.release(Exit.isFailure(ended) ? true : undefined)
        if (Exit.isFailure(ended) && Exit.isSuccess(exit)) return yield* Effect.failCause(ended.cause)
        return yield* exit
      }))
  }
}
