/**
 * The store contract on SQLite: the store's own database (`SessionStore/Sqlite`), in memory and
 * in a file, and on an application's `SqliteClient` (`SessionStore/Sql` over `@effect/sql-sqlite-node`).
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import { afterAll, describe } from "@effect/vitest"
import { Layer } from "effect"
import * as SqlStore from "effect-session/SessionStore/Sql"
import * as SqliteStore from "effect-session/SessionStore/Sqlite"
import { scratchDirectory } from "../sql/support.js"
import { storeContract } from "./store-contract.js"

const files = scratchDirectory("contract")
afterAll(() => files.remove())

describe("sqlite", () => {
  storeContract("sqlite :memory:", () => SqliteStore.layer({ filename: ":memory:" }))
  storeContract("sqlite file", () => SqliteStore.layer({ filename: files.next("contract.db") }))
  storeContract(
    "sqlite on a SqliteClient",
    () => SqlStore.layer({ prefix: "app_" }).pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" })))
  )
})
