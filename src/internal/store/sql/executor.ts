/**
 * How the store runs its statements: one at a time (`run`), or several in one transaction that
 * holds the store's write lock (`locked`). Two implementations: on an `@effect/sql` `SqlClient`
 * (here), and on a `better-sqlite3` database the store owns (sqliteDatabase.ts).
 *
 * The write lock serializes every statement that inserts or deletes sessions or moves one between
 * principals (openings, rekeys, removals, revocations, sweeps), so caps, counts and eviction
 * decide on a state nothing else changes meanwhile. Lookups, touches and data patches never take
 * it: they are single statements, or compare-and-set on the row's version. On PostgreSQL the lock
 * is a transaction-scoped advisory lock, taken first, before any row lock, so the only waits are
 * for it or for a row another statement is updating, which never waits for it: no deadlock. On
 * SQLite it is the database's own write lock (`BEGIN IMMEDIATE`).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { SessionStoreError } from "../../../SessionError.js"
import { bind, type Query } from "./queries.js"
import type { Dialect } from "./schema.js"
import { lockKeys, type Names } from "./settings.js"

/** Parameter values by name. @internal */
export type Values = { readonly [name: string]: unknown }

/** @internal */
export interface Runner {
  readonly run: (
    operation: string,
    query: Query,
    values: Values
  ) => Effect.Effect<ReadonlyArray<any>, SessionStoreError>
}

/** @internal */
export interface Executor extends Runner {
  readonly dialect: Dialect
  /**
   * Reads the rows under one key (what `get` selects), batched with the reads of other fibers
   * when the executor can (several keys in one statement); otherwise absent, and the store runs
   * `get` itself.
   */
  readonly lookup?: (operation: string, key: string) => Effect.Effect<ReadonlyArray<any>, SessionStoreError>
  /** Runs `body` in one transaction holding the store's write lock; rolled back on any failure. */
  readonly locked: <A, E>(
    operation: string,
    body: (tx: Runner) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | SessionStoreError>
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

type Reason = SessionStoreError["reason"]

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH"])

/** What a driver error means for the caller, from PostgreSQL's SQLSTATE or SQLite's result code. */
const reasonOf = (error: unknown): Reason => {
  for (let cause = error, depth = 0; cause !== null && typeof cause === "object" && depth < 5; depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string") {
      if (code === "23505" || code === "40001" || code === "40P01") return "Conflict"
      if (code === "55P03" || code === "57014" || code === "ETIMEDOUT") return "Timeout"
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "Timeout"
      if (code.startsWith("SQLITE_CONSTRAINT_PRIMARYKEY") || code.startsWith("SQLITE_CONSTRAINT_UNIQUE")) {
        return "Conflict"
      }
      if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") return "Corrupt"
      if (CONNECTION_CODES.has(code)) return "Unavailable"
    }
    const message = (cause as { readonly message?: unknown }).message
    if (typeof message === "string" && /timeout|timed out/i.test(message)) return "Timeout"
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return "Unavailable"
}

/** Whether a failure is a missing table (PostgreSQL `42P01`, SQLite "no such table"). @internal */
export const isMissingTable = (error: SessionStoreError): boolean => {
  for (let cause: unknown = error.cause, depth = 0; cause !== null && typeof cause === "object" && depth < 5; depth++) {
    if ((cause as { readonly code?: unknown }).code === "42P01") return true
    const message = (cause as { readonly message?: unknown }).message
    if (typeof message === "string" && message.includes("no such table")) return true
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return false
}

/** The typed failure of a statement (built without re-validation: it is ours). @internal */
export const failure = (operation: string, cause: unknown): SessionStoreError =>
  cause instanceof SessionStoreError
    ? cause
    : new SessionStoreError({ reason: reasonOf(cause), operation, cause }, true)

/**
 * How a transaction starts: PostgreSQL bounds its lock waits and statements by the store's timeout
 * (a wait beyond it is a `Timeout`, never a hang), then takes the advisory lock; SQLite takes the
 * write lock at once, so a transaction never fails half-way on a lock upgrade.
 *
 * @internal
 */
export const beginOf = (dialect: Dialect, names: Names, timeout: number): string => {
  if (dialect === "sqlite") return "BEGIN IMMEDIATE"
  const [classId, objectId] = lockKeys(names)
  return `BEGIN; SET LOCAL lock_timeout = ${timeout}; SET LOCAL statement_timeout = ${timeout}; ` +
    `SELECT pg_advisory_xact_lock(${classId}, ${objectId})`
}

// ---------------------------------------------------------------------------------------------
// On a SqlClient
// ---------------------------------------------------------------------------------------------

/**
 * An executor on a `SqlClient`. Each statement runs on a connection of its own (`reserve`), never
 * inside a transaction the caller may have open on the same client: a logout must not be undone
 * by the rollback of someone else's transaction.
 *
 * @internal
 */
export const fromClient = (sql: SqlClient.SqlClient, dialect: Dialect, names: Names, timeout: number): Executor => {
  const begin = beginOf(dialect, names, timeout)
  const on = (connection: Connection): Runner => ({
    run: (operation, query, values) =>
      Effect.mapError(
        connection.execute(query.text, bind(query, values), undefined),
        (error) => failure(operation, error)
      )
  })
  const withConnection = <A, E>(
    operation: string,
    use: (connection: Connection) => Effect.Effect<A, E>
  ): Effect.Effect<A, E | SessionStoreError> =>
    Effect.scoped(
      Effect.flatMap(Effect.mapError(sql.reserve, (error) => failure(operation, error)), use)
    )
  return {
    dialect,
    run: (operation, query, values) =>
      withConnection(operation, (connection) => on(connection).run(operation, query, values)),
    locked: (operation, body) =>
      Effect.uninterruptible(withConnection(operation, (connection) => {
        const statement = (text: string) =>
          Effect.mapError(connection.executeUnprepared(text, [], undefined), (error) => failure(operation, error))
        // a BEGIN that failed half-way (the lock wait timed out) still leaves a transaction to end
        return Effect.flatMap(Effect.exit(Effect.zipRight(statement(begin), body(on(connection)))), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.zipRight(
              // a failed COMMIT leaves the transaction undone: roll back, then report it
              Effect.tapError(statement("COMMIT"), () =>
                Effect.ignore(statement("ROLLBACK"))),
              exit
            )
            : Effect.zipRight(Effect.ignore(statement("ROLLBACK")), exit))
      }))
  }
}
