/**
 * An executor on a `better-sqlite3` database the store owns: statements run synchronously, each
 * prepared once, with none of a `SqlClient`'s per-statement machinery (a span, a scope, a
 * semaphore, a prepared-statement cache lookup through `Effect`'s `Cache`), which costs ten times
 * the point select itself.
 *
 * A transaction (`locked`) runs whole in one synchronous step, so no other fiber's statement can
 * land inside it on the shared connection; `BEGIN IMMEDIATE` takes the database's write lock first
 * (other processes wait up to the busy timeout, then `Timeout`).
 *
 * @internal
 */
import type BetterSqlite3 from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type { SessionStoreError } from "../../../SessionError.js"
import { type Executor, failure, type Runner } from "./executor.js"
import { bind, type Query } from "./queries.js"

/** @internal */
export const fromDatabase = (db: BetterSqlite3.Database, runtime: Runtime.Runtime<never>): Executor => {
  const prepared = new Map<string, BetterSqlite3.Statement>()
  const statement = (text: string): BetterSqlite3.Statement => {
    let found = prepared.get(text)
    if (found === undefined) {
      found = db.prepare(text)
      prepared.set(text, found)
    }
    return found
  }
  const execute = (query: Query, values: { readonly [name: string]: unknown }): ReadonlyArray<any> => {
    const s = statement(query.text)
    const params = bind(query, values)
    if (s.reader) return s.all(...params)
    s.run(...params)
    return []
  }
  const runner: Runner = {
    run: (operation, query, values) =>
      Effect.suspend(() => {
        try {
          return Effect.succeed(execute(query, values))
        } catch (error) {
          return Effect.fail(failure(operation, error))
        }
      })
  }
  const end = (text: "COMMIT" | "ROLLBACK"): unknown => {
    try {
      db.exec(text)
      return undefined
    } catch (error) {
      return error
    }
  }
  return {
    dialect: "sqlite",
    run: runner.run,
    locked: <A, E>(operation: string, body: (tx: Runner) => Effect.Effect<A, E>) =>
      Effect.suspend((): Effect.Effect<A, E | SessionStoreError> => {
        try {
          db.exec("BEGIN IMMEDIATE")
        } catch (error) {
          return Effect.fail(failure(operation, error))
        }
        // the body is synchronous (statements and pure steps): run to completion, nothing interleaves
        const exit = Runtime.runSyncExit(runtime)(body(runner))
        if (Exit.isSuccess(exit)) {
          const error = end("COMMIT")
          if (error === undefined) return exit
          end("ROLLBACK")
          return Effect.fail(failure(operation, error))
        }
        end("ROLLBACK")
        return exit
      })
  }
}
