/**
 * Runs the store's migrations (schema.ts) that the database has not seen, in one transaction under
 * the store's write lock: two processes starting at once do not both create the tables; the second
 * finds them made. Applied migrations are recorded in the store's own table (`<prefix>session_migrations`,
 * laid out as `@effect/sql`'s `Migrator` lays out `effect_sql_migrations`, which stays the app's).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { SessionConfigError, type SessionStoreError } from "../../../SessionError.js"
import { type Executor, isMissingTable } from "./executor.js"
import type { Query } from "./queries.js"
import { type Dialect, migrations, migrationsTable } from "./schema.js"
import type { Names } from "./settings.js"

const statement = (text: string): Query => ({ text, params: [] })

const latest = (names: Names) => statement(`SELECT max(migration_id) AS latest FROM ${names.migrations}`)

/** The schema version this code needs. @internal */
export const required = (dialect: Dialect, names: Names): number =>
  Math.max(...migrations(dialect, names).map((m) => m.id))

/** Applies the missing migrations; answers the ids it applied. @internal */
export const migrate = (
  executor: Executor,
  dialect: Dialect,
  names: Names
): Effect.Effect<ReadonlyArray<number>, SessionStoreError> =>
  executor.locked("migrate", (tx) =>
    Effect.gen(function*() {
      yield* tx.run("migrate", statement(migrationsTable(dialect, names)), {})
      const [row] = yield* tx.run("migrate", latest(names), {})
      const current = Number(row?.latest ?? 0)
      const applied: Array<number> = []
      for (const migration of migrations(dialect, names)) {
        if (migration.id <= current) continue
        for (const text of migration.statements) yield* tx.run("migrate", statement(text), {})
        yield* tx.run(
          "migrate",
          statement(
            `INSERT INTO ${names.migrations} (migration_id, name) VALUES (${migration.id}, '${migration.name}')`
          ),
          {}
        )
        applied.push(migration.id)
      }
      return applied
    }))

/**
 * Checks, without changing anything, that the schema is there and current (for `migrate: false`):
 * a missing or older schema is a configuration error, reported when the layer is built rather than
 * on the first request.
 *
 * @internal
 */
export const check = (
  executor: Executor,
  dialect: Dialect,
  names: Names
): Effect.Effect<void, SessionStoreError | SessionConfigError> => {
  const needed = required(dialect, names)
  const outdated = (found: string) =>
    new SessionConfigError({
      option: "migrate",
      reason: `the session tables (prefix ${JSON.stringify(names.prefix)}) are at migration ${found}, ` +
        `this version needs ${needed}: run the migration (SqlStore.migrate) or build the layer with migrate: true`
    })
  return Effect.matchEffect(executor.run("migrate", latest(names), {}), {
    onFailure: (error) => Effect.fail(isMissingTable(error) ? outdated("none (no migrations table)") : error),
    onSuccess: ([row]) => {
      const current = Number(row?.latest ?? 0)
      return current >= needed ? Effect.void : Effect.fail(outdated(String(current)))
    }
  })
}
