/**
 * What the SQL children measure of ours: the manager on a given store layer (no background sweep,
 * caps out of the way, a touch due once a minute), holding the sessions of `keys`.
 */
import * as SessionManager from "effect-session/SessionManager"
import * as SessionStore from "effect-session/SessionStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { anonymous, benchAuth, managerOptions, recordOf } from "../../lib/fixtures.js"

export interface Ours {
  readonly manager: SessionManager.Service
  readonly store: SessionStore.Service
  readonly dispose: () => Promise<void>
}

export const oursOn = async (
  store: Layer.Layer<SessionStore.SessionStore, unknown>,
  keys: ReadonlyArray<string>,
  options: { readonly concurrency: number; readonly manager?: SessionManager.Options }
): Promise<Ours> => {
  const runtime = ManagedRuntime.make(
    SessionManager.layer({ ...managerOptions, touchInterval: "1 minute", ...options.manager }).pipe(
      Layer.provideMerge(store),
      Layer.provide(benchAuth),
      Layer.orDie
    )
  )
  const [manager, sessions] = await runtime.runPromise(
    Effect.all([SessionManager.SessionManager, SessionStore.SessionStore])
  )
  const now = Date.now()
  await runtime.runPromise(
    Effect.forEach(keys, (key) => sessions.insert(recordOf(key, anonymous, now), SessionStore.unlimited), {
      concurrency: options.concurrency,
      discard: true
    })
  )
  return { manager, store: sessions, dispose: () => runtime.dispose() }
}

/** Runs the child's store by name and prints its result as one JSON line (the parent reads the last line). */
export const runChild = (store: string, runners: Record<string, () => Promise<object>>): void => {
  const runner = runners[store]
  const main = async () => {
    if (runner === undefined) throw new Error(`unknown store ${store}: ${Object.keys(runners).join(", ")}`)
    process.stdout.write(JSON.stringify({ store, ...(await runner()) }) + "\n")
  }
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
