/**
 * The manager's data operations: per-key patches of the stored record (never a write-back of a
 * stale copy), `updateData` as a compare-and-set retried a bounded number of times. Values go
 * through their schema synchronously when it allows (`codec.ts`): no Effect per value.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Session from "../../Session.js"
import { type InvalidSession, type SessionDataError, SessionStoreError } from "../../SessionError.js"
import type { Service } from "../../SessionManager.js"
import type * as SessionStore from "../../SessionStore.js"
import * as codec from "../codec.js"
import * as expiry from "../expiry.js"
import * as json from "../json.js"
import { conflict, type Context, expire, gone, withToken } from "./context.js"

const MAX_UPDATE_ATTEMPTS = 16

/** @internal */
export type DataOperations = Pick<Service, "getData" | "setData" | "updateData" | "removeData">

/** @internal */
export const make = (context: Context): DataOperations => {
  const { clock, policy, store, traced } = context
  // A store that answers without I/O reads (a touch that is never due writes nothing) and writes
  // in the step that needs it, without an effect per store call.
  const touchSync = store.touch.sync
  const updateSync = store.update.sync

  // Runs `use` with the stored record of a live session (read now), or fails as the store's answer says.
  const withRecord = <A, E>(
    key: string,
    use: (record: Session.Record, now: number) => Effect.Effect<A, E>
  ): Effect.Effect<A, E | InvalidSession | SessionStoreError> =>
    touchSync !== undefined
      ? Effect.suspend((): Effect.Effect<A, E | InvalidSession | SessionStoreError> => {
        const now = clock.unsafeCurrentTimeMillis()
        const result = touchSync(key, expiry.cutoffAt(policy, now), -Infinity)
        return result._tag === "Read" || result._tag === "Written"
          ? use(result.record, now)
          : gone(context, key, now, result)
      })
      : Effect.flatMap(store.get(key), (stored): Effect.Effect<A, E | InvalidSession | SessionStoreError> => {
        const now = clock.unsafeCurrentTimeMillis()
        if (Option.isNone(stored)) return gone(context, key, now, { _tag: "Missing" })
        return expiry.limitOf(stored.value, policy, now) === undefined
          ? use(stored.value, now)
          : expire(context, stored.value, now)
      })

  // Applies a patch; `onConflict` when its `expect` no longer matches (another writer came first).
  // Called while the operation runs (inside a step), so a synchronous store is called at once.
  const patch = <E>(
    session: Pick<Session.Session, "key" | "token">,
    change: SessionStore.DataPatch,
    now: number,
    onConflict: () => Effect.Effect<Session.Session, E>
  ): Effect.Effect<Session.Session, E | InvalidSession | SessionStoreError> => {
    const cutoff = expiry.cutoffAt(policy, now)
    const answer = (
      result: SessionStore.WriteResult | SessionStoreError
    ): Effect.Effect<Session.Session, E | InvalidSession | SessionStoreError> => {
      if (result instanceof SessionStoreError) return Effect.fail(result)
      switch (result._tag) {
        case "Written":
          return Effect.succeed(withToken(result.record, session.token))
        case "Conflict":
          return onConflict()
        default:
          return gone(context, session.key, now, result)
      }
    }
    return updateSync !== undefined
      ? answer(updateSync(session.key, change, cutoff))
      : Effect.flatMap(store.update(session.key, change, cutoff), answer)
  }

  // A patch without `expect` conflicts only with a store that says so: fail, do not retry.
  const patchOnce = (
    operation: string,
    session: Pick<Session.Session, "key" | "token">,
    change: SessionStore.DataPatch
  ) =>
    Effect.suspend(() =>
      patch(session, change, clock.unsafeCurrentTimeMillis(), () => Effect.fail(conflict(operation)))
    )

  const getData: Service["getData"] = (session, dataKey) =>
    withRecord(session.key, (record) => Session.get(record, dataKey))

  const setData: Service["setData"] = (session, dataKey, value) =>
    Effect.flatMap(
      Session.encode(dataKey, value),
      (encoded) => patchOnce("setData", session, { set: [[dataKey.name, encoded]] })
    ).pipe(traced("SessionManager.setData"))

  // `f` of the stored value, encoded: an `Either` when the schema runs synchronously (no Effect
  // per value; `Session.encode` answers one then), an effect otherwise. `f` runs once.
  const next = <A, I extends Session.Json>(
    dataKey: Session.DataKey<A, I>,
    stored: Session.Json | undefined,
    f: (current: Option.Option<A>) => A
  ): Effect.Effect<Session.Json, SessionDataError> => {
    if (stored === undefined) return Session.encode(dataKey, f(Option.none()))
    const decoded = codec.decodeNow(dataKey, stored)
    if (decoded === undefined) {
      return Effect.flatMap(Session.decode(dataKey, stored), (value) => Session.encode(dataKey, f(Option.some(value))))
    }
    return Either.isLeft(decoded) ? Either.left(decoded.left) : Session.encode(dataKey, f(Option.some(decoded.right)))
  }

  // One compare-and-set: written only if the value is still the one `f` saw, else read again.
  const attempt = <A, I extends Session.Json>(
    session: Pick<Session.Session, "key" | "token">,
    dataKey: Session.DataKey<A, I>,
    f: (current: Option.Option<A>) => A,
    n: number
  ): Effect.Effect<Session.Session, InvalidSession | SessionStoreError | SessionDataError> =>
    withRecord(session.key, (record, now) => {
      const stored = json.valueOf(record.data, dataKey.name)
      const write = (encoded: Session.Json) =>
        patch(
          session,
          { set: [[dataKey.name, encoded]], expect: { name: dataKey.name, value: stored } },
          now,
          () => n >= MAX_UPDATE_ATTEMPTS ? Effect.fail(conflict("updateData")) : attempt(session, dataKey, f, n + 1)
        )
      const encoding = next(dataKey, stored, f)
      // a synchronous schema's answer is used as it is, without an effect step
      if (!Either.isEither(encoding)) return Effect.flatMap(encoding, write)
      const encoded = encoding as Either.Either<Session.Json, SessionDataError>
      return Either.isLeft(encoded) ? Effect.fail(encoded.left) : write(encoded.right)
    })

  const updateData: Service["updateData"] = (session, dataKey, f) =>
    attempt(session, dataKey, f, 1).pipe(traced("SessionManager.updateData"))

  const removeData: Service["removeData"] = (session, ...names) =>
    patchOnce("removeData", session, { remove: names }).pipe(traced("SessionManager.removeData"))

  return { getData, setData, updateData, removeData }
}
