/**
 * Every statement the store runs, written once with named parameters (`:name`) and compiled per
 * dialect when the store is built: PostgreSQL numbers its parameters (`$1`), SQLite takes `?` in
 * order. Only validated table names (settings.ts) are spliced into the text; every value is a
 * parameter.
 *
 * @internal
 */
import { COLUMNS } from "./codec.js"
import type { Dialect } from "./schema.js"
import { lockKeys, type Names } from "./settings.js"

/** A compiled statement: its text and the parameter names, in the order they are bound. @internal */
export interface Query {
  readonly text: string
  readonly params: ReadonlyArray<string>
}

const PARAM = /(?<!:):([a-z][A-Za-z]*)/g

/** @internal */
export const compile = (dialect: Dialect, template: string): Query => {
  const params: Array<string> = []
  const text = template.replace(PARAM, (_, name: string) => {
    if (dialect === "sqlite") {
      params.push(name)
      return "?"
    }
    const index = params.indexOf(name)
    if (index !== -1) return `$${index + 1}`
    params.push(name)
    return `$${params.length}`
  })
  return { text, params }
}

/** The values of a query's parameters, in binding order. @internal */
export const bind = (query: Query, values: { readonly [name: string]: unknown }): Array<unknown> => {
  const bound = new Array<unknown>(query.params.length)
  for (let i = 0; i < bound.length; i++) bound[i] = values[query.params[i]]
  return bound
}

const templates = (dialect: Dialect, n: Names) => {
  const s = n.sessions
  // statements that delete sessions hold the store's write lock (executor.ts) for their duration:
  // on PostgreSQL an uncorrelated sub-select, which the planner runs first (a one-time filter),
  // before the statement locks any row; SQLite's writes hold the database's write lock anyway.
  // The statement's snapshot predates that lock: one that must see every row committed while it
  // waited (a revocation) runs in `executor.locked` instead, which takes the lock first
  const [classId, objectId] = lockKeys(n)
  const locked = dialect === "pg" ? `(SELECT true FROM pg_advisory_xact_lock(${classId}, ${objectId}))` : "TRUE"
  // the next value of the order of use: a sequence on PostgreSQL; on SQLite (one writer at a time)
  // one more than the largest, read from the per-kind index
  const nextLru = dialect === "pg"
    ? `nextval('${n.sequence}')`
    : `(1 + max(coalesce((SELECT max(lru) FROM ${s} WHERE anonymous = FALSE), 0), ` +
      `coalesce((SELECT max(lru) FROM ${s} WHERE anonymous = TRUE), 0)))`
  const forUpdate = dialect === "pg" ? " FOR UPDATE" : ""
  const values = ":key, :principal, :anonymous, :attributes, :createdAt, :lastUsedAt, :expiresAt, :data"
  return {
    get: `SELECT ${COLUMNS} FROM ${s} WHERE key = :key`,
    // PostgreSQL only: the reads of several fibers in one statement (pgPool.ts)
    getMany: `SELECT ${COLUMNS} FROM ${s} WHERE key = ANY(:keys)`,
    getForUpdate: `SELECT ${COLUMNS} FROM ${s} WHERE key = :key${forUpdate}`,
    // compare-and-set on lru, the row's version: unchanged since the read, so still live
    touch: `UPDATE ${s} SET last_used_at = :now, lru = ${nextLru} WHERE key = :key AND lru = :lru RETURNING ${COLUMNS}`,
    update: `UPDATE ${s} SET data = :data, last_used_at = :now, lru = ${nextLru}
WHERE key = :key AND lru = :lru RETURNING ${COLUMNS}`,
    counts: `SELECT
  (SELECT n FROM ${n.counts} WHERE name = 'anonymous') AS anonymous,
  (SELECT n FROM ${n.counts} WHERE name = 'authenticated') AS authenticated,
  (SELECT n FROM ${n.counts} WHERE name = 'principals') AS principals,
  (SELECT n FROM ${n.principals} WHERE principal_id = :principal) AS held,
  (SELECT count(*) FROM ${s} WHERE key = :key) AS taken`,
    insert:
      `INSERT INTO ${s} (key, principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, lru)
VALUES (${values}, ${nextLru}) RETURNING id`,
    rekey:
      `UPDATE ${s} SET (key, principal_id, anonymous, attributes, created_at, last_used_at, expires_at, data, lru) =
(${values}, ${nextLru}) WHERE id = :id RETURNING ${COLUMNS}`,
    link: `INSERT INTO ${n.links} (key, id, until) VALUES (:key, :id, :until)
ON CONFLICT (key) DO UPDATE SET id = excluded.id, until = excluded.until`,
    leastRecentOfKind: `SELECT id, lru FROM ${s} WHERE anonymous = :anonymous AND id <> :exclude ORDER BY lru LIMIT 1`,
    leastRecentOfPrincipal: `SELECT id, lru FROM ${s}
WHERE principal_id = :principal AND anonymous = FALSE AND id <> :exclude ORDER BY last_used_at, lru LIMIT 1`,
    evict: `DELETE FROM ${s} WHERE ${locked} AND id = :id AND lru = :lru RETURNING ${COLUMNS}`,
    remove: `DELETE FROM ${s} WHERE ${locked} AND key = :key RETURNING ${COLUMNS}`,
    removeLinked: `DELETE FROM ${s} WHERE ${locked} AND id = (SELECT id FROM ${n.links} WHERE key = :key)
RETURNING ${COLUMNS}`,
    revoke: `DELETE FROM ${s}
WHERE ${locked} AND principal_id = :principal AND anonymous = FALSE AND key IS DISTINCT FROM :except
RETURNING ${COLUMNS}`,
    // candidates from each index (absolute expiry, idle per kind), then the rule again on the row
    // as it is when deleted (a session touched meanwhile is no longer idle)
    claim: `DELETE FROM ${s} WHERE ${locked} AND id IN (
  SELECT id FROM (SELECT id FROM ${s} WHERE expires_at <= :now ORDER BY expires_at LIMIT :max) AS absolute
  UNION SELECT id FROM (SELECT id FROM ${s} WHERE anonymous = TRUE AND last_used_at <= :anonymousBefore
    ORDER BY last_used_at LIMIT :max) AS idle_anonymous
  UNION SELECT id FROM (SELECT id FROM ${s} WHERE anonymous = FALSE AND last_used_at <= :authenticatedBefore
    ORDER BY last_used_at LIMIT :max) AS idle_authenticated
  LIMIT :max
) AND (expires_at <= :now OR (anonymous = TRUE AND last_used_at <= :anonymousBefore)
  OR (anonymous = FALSE AND last_used_at <= :authenticatedBefore))
RETURNING ${COLUMNS}`,
    pruneLinks:
      `DELETE FROM ${n.links} WHERE key IN (SELECT key FROM ${n.links} WHERE until <= :now ORDER BY until LIMIT :max)`,
    list: `SELECT ${COLUMNS} FROM ${s}`,
    listByPrincipal: `SELECT ${COLUMNS} FROM ${s} WHERE principal_id = :principal AND anonymous = FALSE ORDER BY lru`,
    count: `SELECT name, n FROM ${n.counts}`
  }
}

/** The compiled statements of one store. @internal */
export type Queries = { readonly [K in keyof ReturnType<typeof templates>]: Query }

/** @internal */
export const queries = (dialect: Dialect, names: Names): Queries => {
  const compiled: { [name: string]: Query } = {}
  for (const [name, template] of Object.entries(templates(dialect, names))) compiled[name] = compile(dialect, template)
  return compiled as Queries
}
