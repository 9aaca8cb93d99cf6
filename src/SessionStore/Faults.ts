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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "../internal/store/faults.js"
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
  internal.make(inner, options)

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
