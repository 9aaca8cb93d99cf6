/**
 * A fault-injecting session store, for tests: wraps any store and, on the calls you choose, adds
 * latency, fails with `SessionStoreError` (`Unavailable` or `Timeout`), holds a write until a
 * concurrent delete of the same session has landed, acknowledges a write without applying it, or
 * applies a batch of calls in another order than they arrived.
 *
 * Faults can be given when the store is built and changed mid-test through the `FaultControl`
 * service. Every delay is measured with `Clock`, so `TestClock` drives them.
 *
 * ```ts
 * import { Layer } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // a memory store whose `get` fails twice, then recovers
 * const FlakyStore = Faults.layer({ faults: [Faults.failure({ on: "get", times: 2 })] }).pipe(
 *   Layer.provide(SessionStore.layerMemory)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as json from "../internal/json.js"
import type * as Session from "../Session.js"
import { SessionStoreError } from "../SessionError.js"
import * as SessionStore from "../SessionStore.js"

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

/**
 * The operations of the store contract, as named in `SessionStore.Service`.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const writes: ReadonlyArray<Faults.Operation> = ["insert", "touch", "update", "rekey", "remove"]
 * export const slowWrites = Faults.latency("50 millis", { on: writes })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Operation =
  | "insert"
  | "get"
  | "touch"
  | "update"
  | "rekey"
  | "remove"
  | "revoke"
  | "list"
  | "listByPrincipal"
  | "claimExpired"
  | "count"

/**
 * Every operation, in contract order.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * console.log(Faults.operations.length) // 11
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const operations: ReadonlyArray<Operation> = [
  "insert",
  "get",
  "touch",
  "update",
  "rekey",
  "remove",
  "revoke",
  "list",
  "listByPrincipal",
  "claimExpired",
  "count"
]

/**
 * One call the faulty store received: its operation, the session key it names (for `insert`,
 * `get`, `touch`, `update`, `rekey`, `remove`), the principal it names (`revoke`, `listByPrincipal`), and its
 * sequence number in this store (from 1).
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // every third call that names a session fails
 * export const flaky = Faults.failure({ on: (call: Faults.Call) => call.key !== undefined && call.n % 3 === 0 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly operation: Operation
  readonly key?: string
  readonly principalId?: string
  readonly n: number
}

/**
 * Which calls a fault applies to: one operation, several, or a predicate on the call.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const onlyRemovals: Faults.CallFilter = "remove"
 * const writesOfOneSession = (key: string): Faults.CallFilter => (call) => call.key === key && call.operation !== "get"
 * export const faults = [Faults.latency("1 second", { on: onlyRemovals }), Faults.failure({ on: writesOfOneSession("k") })]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CallFilter = Operation | ReadonlyArray<Operation> | ((call: Call) => boolean)

/**
 * Where a fault acts: `"before"` the inner store sees the call (the call is delayed or never
 * reaches it) or `"after"` it has been applied (the answer is delayed or lost, the write landed).
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // the removal happens, but the caller hears of a timeout
 * export const ambiguousRemove = Faults.failure({ on: "remove", reason: "Timeout", phase: "after" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "before" | "after"

/**
 * A fault, made with `latency`, `failure`, `landAfterRemove`, `loseWrite` or `reorder`. `times`
 * bounds how many matching calls it affects (default: every one).
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const faults: ReadonlyArray<Faults.Fault> = [Faults.latency("5 millis"), Faults.failure({ on: "get", times: 1 })]
 * export const FaultyStore = Faults.layer({ faults })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | {
    readonly _tag: "Latency"
    readonly on: CallFilter
    readonly duration: Duration.Duration
    readonly phase: Phase
    readonly times?: number
  }
  | {
    readonly _tag: "Failure"
    readonly on: CallFilter
    readonly reason: "Unavailable" | "Timeout"
    readonly phase: Phase
    readonly times?: number
  }
  | {
    readonly _tag: "LandAfterRemove"
    readonly on: CallFilter
    readonly timeout?: Duration.Duration
    readonly times?: number
  }
  | { readonly _tag: "LoseWrite"; readonly on: CallFilter; readonly times?: number }
  | {
    readonly _tag: "Reorder"
    readonly on: CallFilter
    readonly count: number
    readonly order: (count: number) => ReadonlyArray<number>
    readonly timeout?: Duration.Duration
    readonly times?: number
  }

/**
 * Options of the faulty store: the faults active from the start.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const options: Faults.Options = { faults: [Faults.reorder(2, { on: ["update", "remove"] })] }
 * export const FaultyStore = Faults.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly faults?: ReadonlyArray<Fault>
}

/**
 * The test controls of a faulty store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const storeDownThenUp = (control: Faults.Control) =>
 *   Effect.gen(function*() {
 *     yield* control.inject(Faults.failure())
 *     // ... exercise the code under test ...
 *     yield* control.clear
 *     return yield* control.counts
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Control {
  /** Adds faults (they act on calls made from now on, after the ones already active). */
  readonly inject: (...faults: ReadonlyArray<Fault>) => Effect.Effect<void>
  /** Removes every fault (calls already held are let through). */
  readonly clear: Effect.Effect<void>
  /** How many calls each operation received. */
  readonly counts: Effect.Effect<{ readonly [operation in Operation]: number }>
  /** How many calls are in progress (waiting on a fault or on the inner store). */
  readonly inFlight: Effect.Effect<number>
  /** How many injected failures have been raised so far. */
  readonly failuresRaised: Effect.Effect<number>
}

/**
 * The controls of the faulty store built by `layer`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // from now on, every `touch` fails with a store timeout
 * const storeTimesOut = Effect.flatMap(Faults.FaultControl, (control) =>
 *   control.inject(Faults.failure({ on: "touch", reason: "Timeout" })))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class FaultControl extends Context.Tag("effect-session/SessionStore/Faults/FaultControl")<
  FaultControl,
  Control
>() {}

/**
 * A faulty store and its controls, as built by `make`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * export const program = Effect.gen(function*() {
 *   const faulty: Faults.FaultyStore = yield* Faults.make(yield* SessionStore.makeMemory)
 *   return faulty.store.persistent
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultyStore {
  readonly store: SessionStore.Service
  readonly control: Control
}

// ---------------------------------------------------------------------------------------------
// Fault constructors
// ---------------------------------------------------------------------------------------------

/**
 * Adds `duration` (measured by `Clock`) to the matching calls, before they reach the inner store
 * (default) or after it answered (`phase: "after"`: the write has landed, the answer is late).
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const slowWrites = Faults.latency("200 millis", { on: ["touch", "update"] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const latency = (
  duration: Duration.DurationInput,
  options: { readonly on?: CallFilter; readonly phase?: Phase; readonly times?: number } = {}
): Fault => ({
  _tag: "Latency",
  on: options.on ?? operations,
  duration: Duration.decode(duration),
  phase: options.phase ?? "before",
  ...(options.times === undefined ? {} : { times: options.times })
})

/**
 * Fails the matching calls with `SessionStoreError` (`Unavailable` by default, or `Timeout`).
 * With `phase: "before"` (default) the inner store never sees the call; with `"after"` the call is
 * applied and its answer lost: the caller sees an error although the write landed.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const storeDownForThreeCalls = Faults.failure({ times: 3 })
 * const claimFailsOnce = Faults.failure({ on: "claimExpired", reason: "Timeout", times: 1 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const failure = (
  options: {
    readonly on?: CallFilter
    readonly reason?: "Unavailable" | "Timeout"
    readonly phase?: Phase
    readonly times?: number
  } = {}
): Fault => ({
  _tag: "Failure",
  on: options.on ?? operations,
  reason: options.reason ?? "Unavailable",
  phase: options.phase ?? "before",
  ...(options.times === undefined ? {} : { times: options.times })
})

/**
 * Holds each matching write (default: `touch` and `update`) until its session has been removed from
 * the inner store (by `remove`, `claimExpired`, `rekey` or an eviction), then lets it through: a
 * write that lands after a concurrent delete, deterministically. A call whose session is already
 * gone goes through at once; with `timeout`, a call still held after it goes through anyway.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // the next update of this session lands only after a logout removed it
 * const lateUpdate = (key: string) =>
 *   Faults.landAfterRemove({ on: (call) => call.operation === "update" && call.key === key, times: 1 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const landAfterRemove = (
  options: { readonly on?: CallFilter; readonly timeout?: Duration.DurationInput; readonly times?: number } = {}
): Fault => ({
  _tag: "LandAfterRemove",
  on: options.on ?? ["touch", "update"],
  ...(options.timeout === undefined ? {} : { timeout: Duration.decode(options.timeout) }),
  ...(options.times === undefined ? {} : { times: options.times })
})

/**
 * Acknowledges the matching writes (`insert`, `touch`, `update`, `remove`) without applying them:
 * the answer is what the write would have returned, the inner store is unchanged (a write lost
 * after its acknowledgement, as by a failover). Other operations are not affected.
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const lostTouches = Faults.loseWrite({ on: "touch" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const loseWrite = (options: { readonly on?: CallFilter; readonly times?: number } = {}): Fault => ({
  _tag: "LoseWrite",
  on: options.on ?? ["insert", "touch", "update", "remove"],
  ...(options.times === undefined ? {} : { times: options.times })
})

/**
 * Buffers the next `count` matching calls and applies them to the inner store in another order
 * (reversed by default, or the permutation `order(count)` of arrival indexes), each caller getting
 * its own answer. With `timeout`, a batch still incomplete after it is applied as it stands.
 * `times` counts batches (default: one).
 *
 * @example
 * ```ts
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * // the next two writes land in the reverse order
 * const swapped = Faults.reorder(2, { on: ["touch", "update", "remove"], timeout: "1 second" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const reorder = (
  count: number,
  options: {
    readonly on?: CallFilter
    readonly order?: (count: number) => ReadonlyArray<number>
    readonly timeout?: Duration.DurationInput
    readonly times?: number
  } = {}
): Fault => ({
  _tag: "Reorder",
  on: options.on ?? operations,
  count: Math.max(1, Math.floor(count)),
  order: options.order ?? ((n) => Array.from({ length: n }, (_, i) => n - 1 - i)),
  ...(options.timeout === undefined ? {} : { timeout: Duration.decode(options.timeout) }),
  times: options.times ?? 1
})

// ---------------------------------------------------------------------------------------------
// Implementation
// ---------------------------------------------------------------------------------------------

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

/**
 * Wraps a store with fault injection and returns it with its controls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "effect-session"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const program = Effect.gen(function*() {
 *   const inner = yield* SessionStore.makeMemory
 *   const { control, store } = yield* Faults.make(inner, { faults: [Faults.failure({ on: "count" })] })
 *   const error = yield* Effect.flip(store.count)
 *   console.log(error.reason) // "Unavailable"
 *   yield* control.clear
 *   return yield* store.count
 * })
 * console.log(Effect.runSync(program)) // { anonymous: 0, authenticated: 0 }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
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

/**
 * Wraps the `SessionStore` in context with fault injection, providing the faulty store as
 * `SessionStore` and its controls as `FaultControl`.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { AuthManager, SessionManager, SessionStore } from "effect-session"
 * import * as Faults from "effect-session/SessionStore/Faults"
 *
 * const TestLayer = SessionManager.layer({ sweepInterval: "off" }).pipe(
 *   Layer.provideMerge(Faults.layer()),
 *   Layer.provide(SessionStore.layerMemory),
 *   Layer.provideMerge(AuthManager.layerMock())
 * )
 * const program = Effect.gen(function*() {
 *   const faults = yield* Faults.FaultControl
 *   yield* faults.inject(Faults.failure({ on: "touch", times: 1 }))
 * })
 * Effect.runPromise(Effect.scoped(Effect.provide(program, TestLayer)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<SessionStore.SessionStore | FaultControl, never, SessionStore.SessionStore> =>
  Layer.effectContext(
    Effect.flatMap(SessionStore.SessionStore, (inner) =>
      Effect.map(make(inner, options), ({ control, store }) =>
        Context.make(SessionStore.SessionStore, store).pipe(Context.add(FaultControl, control))))
  )
