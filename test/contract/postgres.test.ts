/**
 * The store contract on PostgreSQL (a throwaway server, fresh table prefix per test): through the
 * store's own pool (`SessionStore/Pg`) and on an application's `PgClient` (`SessionStore/Sql`).
 * Never skipped in CI: with `CI` set and no PostgreSQL binaries, `startPostgres` throws.
 */
import { PgClient } from "@effect/sql-pg"
import { afterAll, describe } from "@effect/vitest"
import { Layer, Redacted } from "effect"
import * as PgStore from "effect-session/SessionStore/Pg"
import * as SqlStore from "effect-session/SessionStore/Sql"
import { freshPrefix, startPostgres } from "../sql/postgres.js"
import { storeContract } from "./store-contract.js"

const server = await startPostgres()
afterAll(() => server?.stop())

describe.skipIf(server === undefined)("postgres", () => {
  storeContract("postgres", () => PgStore.layer({ url: server!.url(), prefix: freshPrefix("contract"), poolSize: 20 }))
  storeContract(
    "postgres on a PgClient",
    () =>
      SqlStore.layer({ prefix: freshPrefix("client") }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(server!.url()), maxConnections: 20 }))
      )
  )
})
