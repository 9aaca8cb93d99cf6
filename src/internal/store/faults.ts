/**
 * The fault-injecting store behind `SessionStore/Faults`: the wrapper around each call (faults
 * matched in order, latency, failures before or after the call, held and lost writes, reordered
 * batches) and the controls.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Session from "../../Session.js"
import { SessionStoreError } from "../../SessionError.js"
import * as SessionStore from "../../SessionStore.js"
import type { Call, CallFilter, Control, Fault, FaultyStore, Operation, Options } from "../../SessionStore/Faults.js"
import * as json from "../json.js"

const matches = (filter: CallFilter, call: Call): boolean =>
  typeof filter === "function"
    ? filter(call)
    : typeof filter === "string"
    ? filter === call.operation
    : filter.includes(call.operation)

interface ActiveFault {
  readonly fault: Fault
  remaining: number
}

interface Batch {
  readonly fault: Fault & { readonly _tag: "Reorder" }
  readonly entries: Array<Effect.Effect<void>>
  flushed: boolean
}

/** @internal */
export const make = (inner: SessionStore.Service, options: Options = {}): Effect.Effect<FaultyStore> =>
  Effect.sync(() => {
    let active: Array<ActiveFault> = []
    let sequence = 0
    let inFlight = 0
    let failuresRaised = 0
    const counts: { [operation in Operation]: number } = {
      insert: 0,
      get: 0,
      touch: 0,
      update: 0,
      rekey: 0,
      remove: 0,
      revoke: 0,
      list: 0,
      listByPrincipal: 0,
      claimExpired: 0,
      count: 0
    }
    const batches = new Map<Fault, Batch>()
    // writes held until their session is removed, by session key
    const held = new Map<string, Set<Deferred.Deferred<void>>>()

    const add = (faults: ReadonlyArray<Fault>) => {
      for (const fault of faults) active.push({ fault, remaining: fault.times ?? Infinity })
    }
    add(options.faults ?? [])

    // Takes the first active fault of a kind matching the call, consuming one of its `times`.
    const take = <T extends Fault["_tag"]>(
      tag: T,
      call: Call,
      where?: (fault: Fault & { readonly _tag: T }) => boolean
    ): (Fault & { readonly _tag: T }) | undefined => {
      for (const entry of active) {
        const fault = entry.fault
        if (fault._tag !== tag || entry.remaining <= 0) continue
        const typed = fault as Fault & { readonly _tag: T }
        if (where !== undefined && !where(typed)) continue
        if (!matches(fault.on, call)) continue
        if (tag !== "Reorder") entry.remaining--
        return typed
      }
      return undefined
    }

    const signalRemoved = (keys: ReadonlyArray<string>) =>
      Effect.forEach(keys, (key) => {
        const waiters = held.get(key)
        if (waiters === undefined) return Effect.void
        held.delete(key)
        return Effect.forEach(waiters, (waiter) => Deferred.succeed(waiter, undefined), { discard: true })
      }, { discard: true })

    const fail = (call: Call, reason: "Unavailable" | "Timeout") =>
      Effect.suspend(() => {
        failuresRaised++
        return Effect.fail(
          new SessionStoreError({ reason, operation: call.operation, cause: "injected by SessionStore/Faults" })
        )
      })

    const holdUntilRemoved = (call: Call, fault: Fault & { readonly _tag: "LandAfterRemove" }) =>
      call.key === undefined ? Effect.void : Effect.gen(function*() {
        const key = call.key!
        const waiter = yield* Deferred.make<void>()
        const waiters = held.get(key) ?? new Set()
        waiters.add(waiter)
        held.set(key, waiters)
        const present = yield* Effect.either(inner.get(key))
        if (present._tag === "Left" || Option.isNone(present.right)) {
          waiters.delete(waiter)
          if (waiters.size === 0 && held.get(key) === waiters) held.delete(key)
          return
        }
        const wait = Deferred.await(waiter)
        yield* fault.timeout === undefined ? wait : Effect.timeoutTo(wait, {
          duration: fault.timeout,
          onSuccess: () => undefined,
          onTimeout: () => undefined
        })
        waiters.delete(waiter)
      })

    // Queues a call in the current batch of a reorder fault; the call that completes the batch (or
    // the first whose timeout elapses) applies the batch in the fault's order.
    const inBatch = <A, E>(
      fault: Fault & { readonly _tag: "Reorder" },
      effect: Effect.Effect<A, E>
    ): Effect.Effect<A, E> =>
      Effect.gen(function*() {
        let batch = batches.get(fault)
        const entry = active.find((candidate) => candidate.fault === fault)
        if ((batch === undefined || batch.flushed) && (entry === undefined || entry.remaining <= 0)) {
          // the fault was used up (or cleared) while this call was on its way: no batch to wait for
          return yield* effect
        }
        if (batch === undefined || batch.flushed) {
          batch = { fault, entries: [], flushed: false }
          batches.set(fault, batch)
        }
        const current = batch
        const result = yield* Deferred.make<Exit.Exit<A, E>>()
        current.entries.push(Effect.flatMap(Effect.exit(effect), (exit) => Deferred.succeed(result, exit)))
        const flush = Effect.suspend(() => {
          if (current.flushed) return Effect.void
          current.flushed = true
          if (batches.get(fault) === current) batches.delete(fault)
          if (entry !== undefined) entry.remaining--
          const n = current.entries.length
          const order = fault.order(n)
          const indexes = order.length === n && new Set(order).size === n && order.every((i) => i >= 0 && i < n)
            ? order
            : Array.from({ length: n }, (_, i) => i)
          return Effect.forEach(indexes, (i) => current.entries[i], { discard: true })
        })
        if (current.entries.length >= fault.count) {
          yield* flush
        } else {
          const wait = Deferred.await(result)
          yield* fault.timeout === undefined
            ? wait
            : Effect.timeoutTo(wait, {
              duration: fault.timeout,
              onSuccess: () => undefined,
              onTimeout: () => undefined
            })
          yield* flush
        }
        return yield* Effect.flatten(Deferred.await(result))
      })

    const lost = <A>(call: Call, answer: Effect.Effect<A, SessionStoreError>) =>
      take("LoseWrite", call) === undefined ? undefined : answer

    // Runs one call through the active faults.
    const run = <A, E>(
      operation: Operation,
      ids: { readonly key?: string; readonly principalId?: string },
      body: Effect.Effect<A, E>,
      options: {
        readonly lose?: (call: Call) => Effect.Effect<A, SessionStoreError> | undefined
        readonly removed?: (value: A) => ReadonlyArray<string>
      } = {}
    ): Effect.Effect<A, E | SessionStoreError> =>
      Effect.suspend(() => {
        const call: Call = { operation, n: ++sequence, ...ids }
        counts[operation]++
        inFlight++
        const steps: Array<Effect.Effect<void, SessionStoreError>> = []
        const delayBefore = take("Latency", call, (fault) => fault.phase === "before")
        if (delayBefore !== undefined) steps.push(Effect.sleep(delayBefore.duration))
        const before = take("Failure", call, (fault) => fault.phase === "before")
        if (before !== undefined) steps.push(fail(call, before.reason))
        const hold = take("LandAfterRemove", call)
        if (hold !== undefined) steps.push(holdUntilRemoved(call, hold))
        const reordered = take("Reorder", call)
        const lossy = options.lose?.(call)
        const applied: Effect.Effect<A, E | SessionStoreError> = lossy ?? body.pipe(
          Effect.tap((value) => options.removed === undefined ? Effect.void : signalRemoved(options.removed(value)))
        )
        const delayAfter = take("Latency", call, (fault) => fault.phase === "after")
        const after = take("Failure", call, (fault) => fault.phase === "after")
        const answered = (reordered === undefined ? applied : inBatch(reordered, applied)).pipe(
          Effect.tap(() => delayAfter === undefined ? Effect.void : Effect.sleep(delayAfter.duration)),
          Effect.tap(() => after === undefined ? Effect.void : fail(call, after.reason))
        )
        return Effect.zipRight(Effect.all(steps, { discard: true }), answered).pipe(
          Effect.ensuring(Effect.sync(() => inFlight--))
        )
      })

    const removedKeys = (records: ReadonlyArray<Session.Record>) => records.map((record) => record.key)

    const store: SessionStore.Service = {
      persistent: inner.persistent,
      // the policy check and the partitioning are the inner store's rules, not calls to fault
      ...(inner.validatePolicy === undefined ? {} : { validatePolicy: inner.validatePolicy }),
      ...(inner.sameBucket === undefined ? {} : { sameBucket: inner.sameBucket }),
      insert: (record, limits) =>
        run("insert", { key: record.key }, inner.insert(record, limits), {
          lose: (call) => lost(call, Effect.succeed([])),
          removed: removedKeys
        }),
      get: (key) => run("get", { key }, inner.get(key)),
      touch: (key, cutoff, touchBefore = cutoff.now) =>
        run("touch", { key }, inner.touch(key, cutoff, touchBefore), {
          lose: (call) =>
            lost(
              call,
              Effect.map(inner.get(key), (stored): SessionStore.TouchResult => {
                if (Option.isNone(stored)) return { _tag: "Missing" }
                if (SessionStore.isExpired(stored.value, cutoff)) return { _tag: "Expired", record: stored.value }
                if (stored.value.lastUsedAt > touchBefore) return { _tag: "Read", record: stored.value }
                return { _tag: "Written", record: { ...stored.value, lastUsedAt: cutoff.now } }
              })
            )
        }),
      update: (key, patch, cutoff) =>
        run("update", { key }, inner.update(key, patch, cutoff), {
          lose: (call) =>
            lost(
              call,
              Effect.map(inner.get(key), (stored): SessionStore.WriteResult => {
                if (Option.isNone(stored)) return { _tag: "Missing" }
                if (SessionStore.isExpired(stored.value, cutoff)) return { _tag: "Expired", record: stored.value }
                const data = json.applyPatch(stored.value.data, patch)
                return data === undefined
                  ? { _tag: "Conflict", record: stored.value }
                  : { _tag: "Written", record: { ...stored.value, data, lastUsedAt: cutoff.now } }
              })
            )
        }),
      rekey: (key, next, limits, cutoff) =>
        run("rekey", { key }, inner.rekey(key, next, limits, cutoff), {
          removed: (result) => result._tag === "Rekeyed" ? [key, ...removedKeys(result.evicted)] : []
        }),
      remove: (key, options) =>
        run("remove", { key }, inner.remove(key, options), {
          lose: (call) => lost(call, inner.get(key)),
          removed: (removed) => Option.isSome(removed) ? [removed.value.key] : []
        }),
      revoke: (principalId, options) =>
        run("revoke", { principalId }, inner.revoke(principalId, options), {
          removed: (result) => removedKeys(result.removed)
        }),
      list: run("list", {}, inner.list),
      listByPrincipal: (principalId) => run("listByPrincipal", { principalId }, inner.listByPrincipal(principalId)),
      claimExpired: (cutoff, max) => run("claimExpired", {}, inner.claimExpired(cutoff, max), { removed: removedKeys }),
      count: run("count", {}, inner.count)
    }

    const control: Control = {
      inject: (...faults) => Effect.sync(() => add(faults)),
      clear: Effect.suspend(() => {
        active = []
        const waiting = [...held.values()].flatMap((set) => [...set])
        held.clear()
        const pending = [...batches.values()]
        batches.clear()
        return Effect.zipRight(
          Effect.forEach(waiting, (waiter) => Deferred.succeed(waiter, undefined), { discard: true }),
          Effect.forEach(pending, (batch) => {
            if (batch.flushed) return Effect.void
            batch.flushed = true
            return Effect.forEach(batch.entries, (entry) => entry, { discard: true })
          }, { discard: true })
        )
      }),
      counts: Effect.sync(() => ({ ...counts })),
      inFlight: Effect.sync(() => inFlight),
      failuresRaised: Effect.sync(() => failuresRaised)
    }
    return { store, control }
  })
