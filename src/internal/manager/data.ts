/**
 * The manager's data operations: per-key patches of the stored record (never a write-back of a
 * stale copy), `updateData` as a compare-and-set retried a bounded number of times.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Session from "../../Session.js"
import type { InvalidSession, SessionDataError, SessionStoreError } from "../../SessionError.js"
import type { Service } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as expiry from "../expiry.js"
import * as json from "../json.js"
import { conflict, type Context, expire, gone, withToken } from "./context.js"

const MAX_UPDATE_ATTEMPTS = 16

/** @internal */
export type DataOperations = Pick<Service, "getData" | "setData" | "updateData" | "removeData">

/** @internal */
export const make = (context: Context): DataOperations => {
  const { policy, store, traced } = context

  // The stored record of a live session, read at `now`.
  const load = (key: string, now: number): Effect.Effect<Session.Record, InvalidSession | SessionStoreError> =>
    Effect.flatMap(store.get(key), (stored) => {
      if (Option.isNone(stored)) return gone(context, key, now, { _tag: "Missing" })
      return expiry.limitOf(stored.value, policy, now) === undefined
        ? Effect.succeed(stored.value)
        : expire(context, stored.value, now)
    })

  // Applies a patch; `None` when its `expect` no longer matches (another writer came first).
  const patch = (
    session: Pick<Session.Session, "key" | "token">,
    change: SessionStore.DataPatch,
    now: number
  ): Effect.Effect<Option.Option<Session.Session>, InvalidSession | SessionStoreError> =>
    Effect.flatMap(store.update(session.key, change, expiry.cutoffAt(policy, now)), (result) => {
      switch (result._tag) {
        case "Written":
          return Effect.succeed(Option.some(withToken(result.record, session.token)))
        case "Conflict":
          return Effect.succeed(Option.none())
        default:
          return gone(context, session.key, now, result)
      }
    })

  const patchOnce = (
    operation: string,
    session: Pick<Session.Session, "key" | "token">,
    change: SessionStore.DataPatch
  ) =>
    Effect.clockWith((clock) =>
      Effect.flatMap(
        patch(session, change, clock.unsafeCurrentTimeMillis()),
        Option.match({ onNone: () => Effect.fail(conflict(operation)), onSome: Effect.succeed })
      )
    )

  const getData: Service["getData"] = (session, dataKey) =>
    Effect.clockWith((clock) =>
      Effect.flatMap(load(session.key, clock.unsafeCurrentTimeMillis()), (record) => Session.get(record, dataKey))
    )

  const setData: Service["setData"] = (session, dataKey, value) =>
    Effect.flatMap(
      Session.encode(dataKey, value),
      (encoded) => patchOnce("setData", session, { set: [[dataKey.name, encoded]] })
    ).pipe(traced("SessionManager.setData"))

  const updateData: Service["updateData"] = (session, dataKey, f) => {
    const attempt = (
      n: number
    ): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError> =>
      Effect.clockWith((clock) => {
        const now = clock.unsafeCurrentTimeMillis()
        return Effect.flatMap(load(session.key, now), (record) => {
          const stored = json.valueOf(record.data, dataKey.name)
          const current = stored === undefined
            ? Effect.succeedNone
            : Effect.map(Session.decode(dataKey, stored), Option.some)
          return current.pipe(
            Effect.flatMap((value) => Session.encode(dataKey, f(value))),
            Effect.flatMap((encoded) =>
              patch(session, { set: [[dataKey.name, encoded]], expect: { name: dataKey.name, value: stored } }, now)
            ),
            Effect.flatMap(Option.match({
              onSome: Effect.succeed,
              onNone: () => n >= MAX_UPDATE_ATTEMPTS ? Effect.fail(conflict("updateData")) : attempt(n + 1)
            }))
          )
        })
      })
    return attempt(1).pipe(traced("SessionManager.updateData"))
  }

  const removeData: Service["removeData"] = (session, ...names) =>
    patchOnce("removeData", session, { remove: names }).pipe(traced("SessionManager.removeData"))

  return { getData, setData, updateData, removeData }
}
