/**
 * The schema of the SQL store, per dialect, as numbered migrations.
 *
 * - `sessions`: one row per session. `key` is the session key (escaped, see codec.ts); `id` names
 *   the session for its whole life (a rekey changes `key` in place, so `id`, the row and its locks
 *   stay: a revocation running concurrently with a rotation deletes what the rotation produced);
 *   `lru` orders last uses (a sequence: ties in the same millisecond go by order of use) and is the
 *   row's version for compare-and-set. Indexes: principal (listings, per-principal caps), recently
 *   used order per kind (eviction), idle deadline per kind and absolute expiry (the sweep).
 * - `session_links`: rotated-away keys and the `id` they lead to, until `until`.
 * - `session_counts` and `session_principals`: sessions per kind, principals holding sessions and
 *   sessions per principal, kept by triggers in the same transaction as each change, so caps are
 *   checked in constant time.
 *
 * @internal
 */
import type { Names } from "./settings.js"

/** @internal */
export type Dialect = "pg" | "sqlite"

/** @internal */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly statements: ReadonlyArray<string>
}

const pg = (n: Names): ReadonlyArray<string> => [
  `CREATE SEQUENCE ${n.sequence}`,
  `CREATE TABLE ${n.sessions} (
  key text PRIMARY KEY,
  id bigint NOT NULL DEFAULT nextval('${n.sequence}'),
  principal_id text NOT NULL,
  anonymous boolean NOT NULL,
  attributes text,
  created_at double precision NOT NULL,
  last_used_at double precision NOT NULL,
  expires_at double precision,
  data text NOT NULL,
  lru bigint NOT NULL DEFAULT nextval('${n.sequence}')
)`,
  `CREATE UNIQUE INDEX ${n.sessions}_id ON ${n.sessions} (id)`,
  `CREATE INDEX ${n.sessions}_principal ON ${n.sessions} (principal_id, lru) WHERE anonymous = FALSE`,
  `CREATE INDEX ${n.sessions}_lru ON ${n.sessions} (anonymous, lru)`,
  `CREATE INDEX ${n.sessions}_idle ON ${n.sessions} (anonymous, last_used_at)`,
  `CREATE INDEX ${n.sessions}_expiry ON ${n.sessions} (expires_at) WHERE expires_at IS NOT NULL`,
  `CREATE TABLE ${n.links} (key text PRIMARY KEY, id bigint NOT NULL, until double precision NOT NULL)`,
  `CREATE INDEX ${n.links}_until ON ${n.links} (until)`,
  `CREATE TABLE ${n.counts} (name text PRIMARY KEY, n bigint NOT NULL)`,
  `INSERT INTO ${n.counts} (name, n) VALUES ('anonymous', 0), ('authenticated', 0), ('principals', 0)`,
  `CREATE TABLE ${n.principals} (principal_id text PRIMARY KEY, n bigint NOT NULL)`,
  // one principal's count moves by delta; the count of principals follows when it starts or ends
  `CREATE FUNCTION ${n.prefix}session_count_principal(pid text, delta bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  held bigint;
BEGIN
  INSERT INTO ${n.principals} AS p (principal_id, n) VALUES (pid, delta)
    ON CONFLICT (principal_id) DO UPDATE SET n = p.n + delta
    RETURNING p.n INTO held;
  IF delta > 0 AND held = delta THEN
    UPDATE ${n.counts} SET n = n + 1 WHERE name = 'principals';
  ELSIF held <= 0 THEN
    DELETE FROM ${n.principals} WHERE principal_id = pid;
    UPDATE ${n.counts} SET n = n - 1 WHERE name = 'principals';
  END IF;
END $$`,
  // after each INSERT or DELETE statement, from its transition table (one update per counter)
  `CREATE FUNCTION ${n.prefix}session_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
  anon bigint;
  auth bigint;
BEGIN
  SELECT count(*) FILTER (WHERE anonymous), count(*) FILTER (WHERE NOT anonymous) INTO anon, auth FROM changed;
  IF anon > 0 THEN
    UPDATE ${n.counts} SET n = n + sign * anon WHERE name = 'anonymous';
  END IF;
  IF auth > 0 THEN
    UPDATE ${n.counts} SET n = n + sign * auth WHERE name = 'authenticated';
    PERFORM ${n.prefix}session_count_principal(principal_id, sign * c)
      FROM (SELECT principal_id, count(*) AS c FROM changed WHERE NOT anonymous GROUP BY principal_id
            ORDER BY principal_id) AS per_principal;
  END IF;
  RETURN NULL;
END $$`,
  `CREATE TRIGGER ${n.sessions}_inserted AFTER INSERT ON ${n.sessions}
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION ${n.prefix}session_counted()`,
  `CREATE TRIGGER ${n.sessions}_deleted AFTER DELETE ON ${n.sessions}
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION ${n.prefix}session_counted()`,
  // a rekey that changes the principal moves one session between kinds or principals
  `CREATE FUNCTION ${n.prefix}session_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ${n.counts} SET n = n - 1 WHERE name = CASE WHEN OLD.anonymous THEN 'anonymous' ELSE 'authenticated' END;
  UPDATE ${n.counts} SET n = n + 1 WHERE name = CASE WHEN NEW.anonymous THEN 'anonymous' ELSE 'authenticated' END;
  IF NOT OLD.anonymous THEN
    PERFORM ${n.prefix}session_count_principal(OLD.principal_id, -1);
  END IF;
  IF NOT NEW.anonymous THEN
    PERFORM ${n.prefix}session_count_principal(NEW.principal_id, 1);
  END IF;
  RETURN NULL;
END $$`,
  `CREATE TRIGGER ${n.sessions}_moved AFTER UPDATE OF principal_id, anonymous ON ${n.sessions} FOR EACH ROW
  WHEN (OLD.principal_id IS DISTINCT FROM NEW.principal_id OR OLD.anonymous IS DISTINCT FROM NEW.anonymous)
  EXECUTE FUNCTION ${n.prefix}session_moved()`
]

/** The SQLite triggers' bodies for one side of a change (`old` removed, `new` added). */
const sqliteCount = (n: Names, row: "old" | "new"): string => {
  const delta = row === "new" ? "+ 1" : "- 1"
  const kind = `CASE WHEN ${row}.anonymous THEN 'anonymous' ELSE 'authenticated' END`
  return row === "new"
    ? `UPDATE ${n.counts} SET n = n ${delta} WHERE name = ${kind};
  INSERT INTO ${n.principals} (principal_id, n) SELECT new.principal_id, 1 WHERE NOT new.anonymous
    ON CONFLICT (principal_id) DO UPDATE SET n = n + 1;
  UPDATE ${n.counts} SET n = n + 1 WHERE name = 'principals' AND NOT new.anonymous
    AND (SELECT n FROM ${n.principals} WHERE principal_id = new.principal_id) = 1;`
    : `UPDATE ${n.counts} SET n = n ${delta} WHERE name = ${kind};
  UPDATE ${n.principals} SET n = n - 1 WHERE principal_id = old.principal_id AND NOT old.anonymous;
  UPDATE ${n.counts} SET n = n - 1 WHERE name = 'principals' AND NOT old.anonymous
    AND (SELECT n FROM ${n.principals} WHERE principal_id = old.principal_id) = 0;
  DELETE FROM ${n.principals} WHERE principal_id = old.principal_id AND n = 0;`
}

const sqlite = (n: Names): ReadonlyArray<string> => [
  // AUTOINCREMENT: an id is never reused, so a rotation link never leads to another session
  `CREATE TABLE ${n.sessions} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  principal_id TEXT NOT NULL,
  anonymous INTEGER NOT NULL,
  attributes TEXT,
  created_at REAL NOT NULL,
  last_used_at REAL NOT NULL,
  expires_at REAL,
  data TEXT NOT NULL,
  lru INTEGER NOT NULL
)`,
  `CREATE INDEX ${n.sessions}_principal ON ${n.sessions} (principal_id, lru) WHERE anonymous = FALSE`,
  `CREATE INDEX ${n.sessions}_lru ON ${n.sessions} (anonymous, lru)`,
  `CREATE INDEX ${n.sessions}_idle ON ${n.sessions} (anonymous, last_used_at)`,
  `CREATE INDEX ${n.sessions}_expiry ON ${n.sessions} (expires_at) WHERE expires_at IS NOT NULL`,
  `CREATE TABLE ${n.links} (key TEXT PRIMARY KEY, id INTEGER NOT NULL, until REAL NOT NULL)`,
  `CREATE INDEX ${n.links}_until ON ${n.links} (until)`,
  `CREATE TABLE ${n.counts} (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
  `INSERT INTO ${n.counts} (name, n) VALUES ('anonymous', 0), ('authenticated', 0), ('principals', 0)`,
  `CREATE TABLE ${n.principals} (principal_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
  `CREATE TRIGGER ${n.sessions}_inserted AFTER INSERT ON ${n.sessions} BEGIN
  ${sqliteCount(n, "new")}
END`,
  `CREATE TRIGGER ${n.sessions}_deleted AFTER DELETE ON ${n.sessions} BEGIN
  ${sqliteCount(n, "old")}
END`,
  `CREATE TRIGGER ${n.sessions}_moved AFTER UPDATE OF principal_id, anonymous ON ${n.sessions}
  WHEN old.principal_id IS NOT new.principal_id OR old.anonymous IS NOT new.anonymous BEGIN
  ${sqliteCount(n, "old")}
  ${sqliteCount(n, "new")}
END`
]

/** The migrations of a store, in order. @internal */
export const migrations = (dialect: Dialect, names: Names): ReadonlyArray<Migration> => [
  { id: 1, name: "sessions", statements: dialect === "pg" ? pg(names) : sqlite(names) }
]

/** The migrations table, laid out as `@effect/sql`'s `Migrator` lays out its own. @internal */
export const migrationsTable = (dialect: Dialect, names: Names): string =>
  dialect === "pg"
    ? `CREATE TABLE IF NOT EXISTS ${names.migrations} (
  migration_id integer PRIMARY KEY,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  name text NOT NULL
)`
    : `CREATE TABLE IF NOT EXISTS ${names.migrations} (
  migration_id integer PRIMARY KEY NOT NULL,
  created_at datetime NOT NULL DEFAULT current_timestamp,
  name VARCHAR(255) NOT NULL
)`

/** The whole schema as one SQL script (what the layer's migration runs), for a DBA to read or run. @internal */
export const script = (dialect: Dialect, names: Names): string =>
  [
    migrationsTable(dialect, names),
    ...migrations(dialect, names).flatMap((m) => [
      ...m.statements,
      `INSERT INTO ${names.migrations} (migration_id, name) VALUES (${m.id}, '${m.name}')`
    ])
  ].map((statement) => `${statement};\n`).join("\n")
