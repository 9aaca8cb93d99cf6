/**
 * Model-based testing of `SessionManager`: random sequences of operations (some of them run as
 * concurrent groups) are run against the real manager over a given store and against a small pure
 * reference model; after every step the observable state must agree: what every operation
 * answered, which sessions the store holds (principal, times, data), which sessions are live, the
 * principal indexes, and which releases ran (each exactly once).
 *
 * The model knows the 0.2.0 rules: a change of principal starts with empty data except what the
 * caller keeps (I9); closing a rotated-away token closes what it became while its link lives;
 * `closeAllOf` is one atomic revocation (I8); a lookup writes `lastUsedAt` only when the touch
 * interval has passed (checked after every step: idle expiry is never late and at most one interval
 * early); the per-principal cap and the fair share at `maxSessions`; `openSessionFor` with initial
 * data; `lookupSession`'s `touched`; `validateSession` replacements, whose data is held to the rules
 * of `setData` before any store sees it (a refusal is the same typed failure on every store).
 *
 * A concurrent group is accepted when some order of its operations, applied one by one to the
 * model, gives the same answers and the same final state (linearizability). Evictions take the
 * least recently used session, ties (same `lastUsedAt`) by order of use; as the order of a group's
 * writes may only show later, at an eviction on a tie, the model keeps one state per order still
 * possible, until a step rules it out (see `runScenario`). One relaxation: an
 * operation that found a session expired may report `Expired` although a concurrent operation of
 * the same group closed it first (the model, serialized, would say `Unknown`). Another: an operation
 * on a session a concurrent `closeAllOf` of the same group revokes may report `Revoked` where the
 * model says `Unknown` (a store that revokes with marks first, `RevokeResult.marked`). A third, for
 * the same stores: a sweep in the group of a `closeAllOf` may also count sessions that revocation
 * covers (it claims what was marked before the revocation removes it), and the revocation may leave
 * uncounted expired sessions the sweep claimed before it marked them (see `spreadRevocation`).
 */
import { describe, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Layer, Logger, Option, Redacted, Schema, Scope, TestClock } from "effect"
import { TestContext } from "effect"
import type { Session } from "effect-session"
import { AuthManager, Session as SessionModule, SessionManager, SessionStore, SessionToken } from "effect-session"
import { describeExit, forgedToken, malformedToken, managerLayer, request, settle } from "./support.js"

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

export type Who = "anon" | "alice" | "bob" | "mallory"
export type User = "alice" | "bob"
export type DataName = "a" | "b"

/** Initial data of `openSessionFor`: none, one value, or a value that is not JSON (refused). */
export type InitialData = "none" | "invalid" | { readonly name: DataName; readonly value: number }

export type Op =
  | { readonly _tag: "Open"; readonly who: Who }
  | { readonly _tag: "OpenFor"; readonly who: Exclude<Who, "mallory">; readonly data: InitialData }
  | { readonly _tag: "Get"; readonly h: number }
  | { readonly _tag: "GetForged"; readonly malformed: boolean }
  | { readonly _tag: "Reject"; readonly h: number }
  | { readonly _tag: "Replace"; readonly h: number; readonly valid: boolean }
  | { readonly _tag: "Rotate"; readonly h: number }
  | {
    readonly _tag: "Login"
    readonly h: number
    readonly who: User
    readonly keep?: ReadonlyArray<DataName> | undefined
  }
  | { readonly _tag: "Close"; readonly h: number }
  | { readonly _tag: "CloseFailing"; readonly h: number }
  | { readonly _tag: "CloseAllOf"; readonly who: User; readonly except: number | null }
  | { readonly _tag: "SetData"; readonly h: number; readonly name: DataName; readonly value: number }
  | { readonly _tag: "UpdateData"; readonly h: number; readonly name: DataName; readonly delta: number }
  | { readonly _tag: "Advance"; readonly ms: number }
  | { readonly _tag: "Clean" }
  | { readonly _tag: "Concurrent"; readonly ops: ReadonlyArray<Op> }

// a handle counts back from the newest token: small numbers (recent, likely live sessions) are frequent
const handle = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 3 }) }, { weight: 1, arbitrary: fc.nat({ max: 15 }) })
const user = fc.constantFrom<User>("alice", "bob")
const dataName = fc.constantFrom<DataName>("a", "b")
const initialData: fc.Arbitrary<InitialData> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<InitialData>("none") },
  { weight: 2, arbitrary: fc.record({ name: dataName, value: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 1, arbitrary: fc.constant<InitialData>("invalid") }
)
const keep = fc.option(fc.subarray<DataName>(["a", "b"]), { nil: undefined })

const groupable = (h: fc.Arbitrary<number>): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<Who>("anon", "alice", "bob", "mallory").map((who): Op => ({ _tag: "Open", who }))
    },
    {
      weight: 2,
      arbitrary: fc.record({ who: fc.constantFrom<Exclude<Who, "mallory">>("anon", "alice", "bob"), data: initialData })
        .map(({ data, who }): Op => ({ _tag: "OpenFor", who, data }))
    },
    { weight: 4, arbitrary: h.map((h): Op => ({ _tag: "Get", h })) },
    { weight: 1, arbitrary: fc.boolean().map((malformed): Op => ({ _tag: "GetForged", malformed })) },
    { weight: 2, arbitrary: h.map((h): Op => ({ _tag: "Rotate", h })) },
    {
      weight: 3,
      arbitrary: fc.record({ h, who: user, keep }).map(({ h, keep, who }): Op => ({ _tag: "Login", h, who, keep }))
    },
    { weight: 2, arbitrary: h.map((h): Op => ({ _tag: "Close", h })) },
    {
      weight: 3,
      arbitrary: fc.record({ who: user, except: fc.option(h, { nil: null }) }).map(({ except, who }): Op => ({
        _tag: "CloseAllOf",
        who,
        except
      }))
    },
    {
      weight: 3,
      arbitrary: fc.record({ h, name: dataName, value: fc.integer({ min: 0, max: 9 }) }).map((
        { h, name, value }
      ): Op => ({ _tag: "SetData", h, name, value }))
    },
    {
      weight: 3,
      arbitrary: fc.record({ h, name: dataName, delta: fc.integer({ min: 1, max: 3 }) }).map((
        { delta, h, name }
      ): Op => ({ _tag: "UpdateData", h, name, delta }))
    },
    { weight: 1, arbitrary: fc.constant<Op>({ _tag: "Clean" }) }
  )

/** Operations that may run in a concurrent group (no clock moves, no global mock switches). */
export const groupableOp: fc.Arbitrary<Op> = groupable(handle)

/** One step of a scenario. */
export const stepOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: groupableOp },
  // short moves (within a touch interval) as well as long ones (past idle limits)
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 1_000 }).map((ms): Op => ({ _tag: "Advance", ms })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 12_000 }).map((ms): Op => ({ _tag: "Advance", ms })) },
  {
    weight: 3,
    arbitrary: fc.array(groupableOp, { minLength: 2, maxLength: 4 }).map((ops): Op => ({ _tag: "Concurrent", ops }))
  },
  // races on the newest sessions: every operation of the group names one of the two newest tokens
  {
    weight: 3,
    arbitrary: fc.array(groupable(fc.nat({ max: 1 })), { minLength: 2, maxLength: 3 }).map((ops): Op => ({
      _tag: "Concurrent",
      ops
    }))
  },
  { weight: 1, arbitrary: handle.map((h): Op => ({ _tag: "Reject", h })) },
  {
    weight: 1,
    arbitrary: fc.record({ h: handle, valid: fc.boolean() }).map(({ h, valid }): Op => ({ _tag: "Replace", h, valid }))
  },
  { weight: 1, arbitrary: handle.map((h): Op => ({ _tag: "CloseFailing", h })) }
)

const openOp: fc.Arbitrary<Op> = fc.constantFrom<Who>("anon", "alice", "bob").map((who): Op => ({ _tag: "Open", who }))

/** A scenario: a few openings (so that later steps find live sessions), then random steps. */
export const scenario = (maxLength: number): fc.Arbitrary<ReadonlyArray<Op>> =>
  fc.tuple(fc.array(openOp, { minLength: 1, maxLength: 5 }), fc.array(stepOp, { minLength: 1, maxLength }))
    .map(([opens, steps]) => [...opens, ...steps])

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

/** The configuration the model and the manager share. */
export interface ModelConfig {
  readonly idleAnonymous: number
  readonly idleAuthenticated: number
  readonly absolute: number
  readonly maxSessions: number
  readonly maxAnonymousSessions: number
  /** `undefined`: the manager's default (100, or none when `maxSessions` is below 100). */
  readonly maxSessionsPerPrincipal: number | undefined
  readonly onLimit: "evictLeastRecentlyUsed" | "refuse"
  /** The sweep period, or `undefined` when the sweeper is off. */
  readonly sweepEvery: number | undefined
  /** `undefined`: the manager's default (the shorter of 1 minute and a tenth of the shortest idle limit). */
  readonly touchInterval: number | "always" | undefined
}

export const managerOptions = (config: ModelConfig): SessionManager.Options => ({
  idleTimeout: config.idleAuthenticated,
  cleanupSessionTime: "off",
  cleanupAnonymousSessionTime: config.idleAnonymous,
  absoluteLifetime: config.absolute,
  sweepInterval: config.sweepEvery ?? "off",
  maxSessions: config.maxSessions,
  maxAnonymousSessions: config.maxAnonymousSessions,
  ...(config.maxSessionsPerPrincipal === undefined ? {} : { maxSessionsPerPrincipal: config.maxSessionsPerPrincipal }),
  ...(config.touchInterval === undefined ? {} : { touchInterval: config.touchInterval }),
  onLimit: config.onLimit,
  // far beyond any scenario's time span: otherwise every auth and release call leaves a timer that
  // TestClock.adjust would wake (and wait on) one by one, which only costs time here
  authTimeout: "100 days",
  releaseTimeout: "100 days"
})

/** The touch interval in force, in milliseconds (0: every lookup writes). */
export const touchIntervalOf = (config: ModelConfig): number =>
  config.touchInterval === "always"
    ? 0
    : config.touchInterval ??
      Math.max(1, Math.min(60_000, Math.min(config.idleAnonymous, config.idleAuthenticated) / 10))

const perPrincipalCapOf = (config: ModelConfig): number =>
  config.maxSessionsPerPrincipal ?? (config.maxSessions < 100 ? Infinity : 100)

/** How long a rotated-away token keeps leading to its successor (for `closeSession`). */
const linkGraceOf = (config: ModelConfig): number => Math.min(60 * 60 * 1000, config.absolute)

interface MRecord {
  key: string
  /** The key the session was opened with: rotations keep it, so links lead to the current key. */
  family: string
  principalId: string
  anonymous: boolean
  createdAt: number
  lastUsedAt: number
  /** The state's count of uses when `lastUsedAt` was last written: orders ties of `lastUsedAt`. */
  used: number
  /** When a request last used the session (a lookup that did not write included). */
  usedAt: number
  expiresAt: number | null
  data: Record<string, number>
}

/**
 * One possible state of the system. The order of use among a concurrent group's writes (which
 * orders ties of `lastUsedAt`) is unknown: the suite keeps one state per still-possible order
 * (see `runScenario`), each with its own count of uses.
 */
interface MState {
  now: number
  /** How many times a `lastUsedAt` was written. */
  uses: number
  live: Map<string, MRecord>
  released: Array<string>
  /** Keys closed because they expired: the manager keeps answering `Expired` for them. */
  tombstones: Map<string, string>
  /** Rotated-away keys, to the family whose current session they lead to, until a deadline. */
  links: Map<string, { readonly family: string; readonly until: number }>
}

const cloneState = (state: MState): MState => ({
  now: state.now,
  uses: state.uses,
  live: new Map([...state.live].map(([key, record]) => [key, { ...record, data: { ...record.data } }])),
  released: [...state.released],
  tombstones: new Map(state.tombstones),
  links: new Map(state.links)
})

const keyOf = (token: string) => SessionToken.hash(token)

const principalOf = (who: Exclude<Who, "mallory">) =>
  who === "anon" ? { id: "anonymous", anonymous: true } : { id: who, anonymous: false }

const dataString = (data: Session.Data) => JSON.stringify(Object.keys(data).sort().map((name) => [name, data[name]]))

/** The data a valid replacement from `validateSession` holds. */
const replacementData: Record<string, number> = { a: 7 }

const picked = (data: Record<string, number>, names: ReadonlyArray<string>): Record<string, number> => {
  const result: Record<string, number> = {}
  for (const name of names) if (name in data) result[name] = data[name]
  return result
}

/** What the real system showed after a step: whether a store kept a link past its deadline (`closing`). */
interface Hints {
  readonly liveKeys: ReadonlySet<string>
}

class Model {
  constructor(readonly config: ModelConfig, readonly state: MState, readonly hints: Hints) {}

  expiryLimit(record: MRecord, now = this.state.now): "Idle" | "Absolute" | undefined {
    if (record.expiresAt !== null && record.expiresAt <= now) return "Absolute"
    const idle = record.anonymous ? this.config.idleAnonymous : this.config.idleAuthenticated
    return now - record.lastUsedAt >= idle ? "Idle" : undefined
  }

  close(record: MRecord, expired?: string) {
    this.state.live.delete(record.key)
    this.state.released.push(record.key)
    if (expired !== undefined) this.state.tombstones.set(record.key, expired)
  }

  sweep(): number {
    let closed = 0
    for (const record of [...this.state.live.values()]) {
      const limit = this.expiryLimit(record)
      if (limit !== undefined) {
        this.close(record, limit)
        closed++
      }
    }
    return closed
  }

  /** The answer for a key the store does not hold: `Expired` if it expired, else `Unknown`. */
  gone(key: string): string {
    const limit = this.state.tombstones.get(key)
    return limit === undefined ? "InvalidSession:Unknown" : `InvalidSession:Expired:${limit}`
  }

  advance(ms: number) {
    const target = this.state.now + ms
    const every = this.config.sweepEvery
    if (every !== undefined) {
      for (let tick = (Math.floor(this.state.now / every) + 1) * every; tick <= target; tick += every) {
        this.state.now = tick
        this.sweep()
      }
    }
    this.state.now = target
  }

  /** A use that writes `lastUsedAt` (now), in order of use. */
  used(record: MRecord): MRecord {
    record.lastUsedAt = this.state.now
    record.used = ++this.state.uses
    return record
  }

  /** The least recently used of `candidates`; ties (same `lastUsedAt`) by order of use. */
  lru(candidates: ReadonlyArray<MRecord>): MRecord | undefined {
    let oldest: MRecord | undefined
    for (const record of candidates) {
      if (
        oldest === undefined || record.lastUsedAt < oldest.lastUsedAt ||
        (record.lastUsedAt === oldest.lastUsedAt && record.used < oldest.used)
      ) oldest = record
    }
    return oldest
  }

  /**
   * The authenticated session an authenticated opening evicts at `maxSessions`: its principal's own
   * least recently used while it holds more than its fair share (`maxSessions` divided by the
   * principals holding sessions, itself included), otherwise the least recently used of all.
   */
  authenticatedVictim(record: MRecord): MRecord | undefined {
    const authenticated = [...this.state.live.values()].filter((r) => !r.anonymous)
    const own = authenticated.filter((r) => r.principalId === record.principalId)
    const principals = new Set(authenticated.map((r) => r.principalId).concat(record.principalId)).size
    return this.lru(own.length > this.config.maxSessions / principals ? own : authenticated)
  }

  /** Evicts a record to respect a cap: one already expired is buried, as the sweep would have. */
  evict(record: MRecord) {
    this.close(record, this.expiryLimit(record))
  }

  /**
   * Admits a record under the caps, as the store contract says: evicted records, or the cap that
   * refused.
   */
  admit(record: MRecord): string | undefined {
    const all = [...this.state.live.values()]
    const anonymous = all.filter((r) => r.anonymous)
    const ofPrincipal = all.filter((r) => !r.anonymous && r.principalId === record.principalId)
    const perPrincipal = perPrincipalCapOf(this.config)
    const refuse = this.config.onLimit === "refuse"
    if (!record.anonymous && ofPrincipal.length >= perPrincipal && refuse) {
      return "maxSessionsPerPrincipal"
    }
    if (record.anonymous && anonymous.length >= this.config.maxAnonymousSessions && refuse) {
      return "maxAnonymousSessions"
    }
    if (all.length >= this.config.maxSessions && (refuse || (record.anonymous && anonymous.length === 0))) {
      return "maxSessions"
    }
    const live = () => [...this.state.live.values()]
    if (record.anonymous) {
      while (live().filter((r) => r.anonymous).length >= this.config.maxAnonymousSessions) {
        this.evict(this.lru(live().filter((r) => r.anonymous))!)
      }
    } else {
      while (live().filter((r) => !r.anonymous && r.principalId === record.principalId).length >= perPrincipal) {
        this.evict(this.lru(live().filter((r) => !r.anonymous && r.principalId === record.principalId))!)
      }
    }
    while (this.state.live.size >= this.config.maxSessions) {
      const anonymousLeft = live().filter((r) => r.anonymous)
      const victim = anonymousLeft.length > 0
        ? this.lru(anonymousLeft)
        : record.anonymous
        ? undefined
        : this.authenticatedVictim(record)
      if (victim === undefined) break
      this.evict(victim)
    }
    this.state.live.set(record.key, record)
    return undefined
  }

  // The common prefix of every operation on an existing session: unknown, or expired (closed).
  lookup(token: string): MRecord | string {
    if (!SessionToken.isWellFormed(token)) return "InvalidSession:Malformed"
    const record = this.state.live.get(keyOf(token))
    if (record === undefined) return this.gone(keyOf(token))
    const limit = this.expiryLimit(record)
    if (limit !== undefined) {
      this.close(record, limit)
      return `InvalidSession:Expired:${limit}`
    }
    return record
  }

  /**
   * The session `closeSession` closes for a key: the session itself, or, for a rotated-away key,
   * the session its rotations lead to. Stores keep a link at least until its deadline and may drop
   * it afterwards: past it, the real store decides (through the hints).
   */
  closing(key: string): MRecord | undefined {
    const record = this.state.live.get(key)
    if (record !== undefined) return record
    const link = this.state.links.get(key)
    if (link === undefined) return undefined
    const successor = [...this.state.live.values()].find((r) => r.family === link.family)
    if (successor === undefined) return undefined
    return link.until > this.state.now || !this.hints.liveKeys.has(successor.key) ? successor : undefined
  }

  /** A new session record, as `openSession` and `openSessionFor` store it. */
  opened(key: string, who: Exclude<Who, "mallory">, data: Record<string, number>): MRecord {
    const principal = principalOf(who)
    return this.used({
      key,
      family: key,
      principalId: principal.id,
      anonymous: principal.anonymous,
      createdAt: this.state.now,
      lastUsedAt: this.state.now,
      used: 0,
      usedAt: this.state.now,
      expiresAt: this.state.now + this.config.absolute,
      data
    })
  }

  /**
   * Applies one operation (tokens already resolved) and returns the expected answer. `observed`
   * gives the tokens the real system minted, for operations that create sessions.
   */
  apply(op: ResolvedOp, observedToken: string | undefined): string {
    const state = this.state
    const minted = observedToken === undefined ? "<no token>" : keyOf(observedToken)
    switch (op._tag) {
      case "Open":
      case "OpenFor": {
        if (op.who === "mallory") return "ExplicitLogin"
        if (op._tag === "OpenFor" && op.data === "invalid") return "SessionDataError:NotJson"
        const data = op._tag === "OpenFor" && typeof op.data === "object" ? { [op.data.name]: op.data.value } : {}
        const record = this.opened(minted, op.who, data)
        const refused = this.admit(record)
        if (refused !== undefined) return `SessionLimitError:${refused}`
        return observedToken === undefined ? "ok:<expected a token>" : `ok:${record.principalId}`
      }
      case "Get":
      case "Reject": {
        const found = this.lookup(op.token)
        if (typeof found === "string") return found
        // a lookup writes lastUsedAt only when the touch interval has passed
        const touched = found.lastUsedAt <= state.now - touchIntervalOf(this.config)
        if (touched) this.used(found)
        found.usedAt = state.now
        if (op._tag === "Reject") {
          this.close(found)
          return "InvalidSession:Rejected"
        }
        return `ok:${found.principalId}:${dataString(found.data)}:${touched ? "touched" : "read"}`
      }
      case "Replace": {
        const found = this.lookup(op.token)
        if (typeof found === "string") return found
        if (found.lastUsedAt <= state.now - touchIntervalOf(this.config)) this.used(found)
        found.usedAt = state.now
        // a replacement that is not JSON is refused before any store sees it, on every store
        if (!op.valid) return "AuthManagerError:validateSession:Invalid"
        const next = this.used({ ...found, key: minted, data: { ...replacementData } })
        state.live.delete(found.key)
        this.admit(next)
        state.links.set(found.key, { family: found.family, until: state.now + linkGraceOf(this.config) })
        return `ok:${next.principalId}:${dataString(next.data)}`
      }
      case "Rotate":
      case "Login": {
        const found = this.lookup(op.token)
        if (typeof found === "string") return found
        const principal = op._tag === "Login"
          ? principalOf(op.who)
          : { id: found.principalId, anonymous: found.anonymous }
        const login = found.principalId !== principal.id || found.anonymous !== principal.anonymous
        const next = this.used({
          ...found,
          // data never crosses principals, except the keys the caller keeps
          data: login ? picked(found.data, op._tag === "Login" ? op.keep ?? [] : []) : { ...found.data },
          key: minted,
          principalId: principal.id,
          anonymous: principal.anonymous,
          usedAt: state.now,
          ...(login ? { createdAt: state.now, expiresAt: state.now + this.config.absolute } : {})
        })
        state.live.delete(found.key)
        const refused = this.admit(next)
        if (refused !== undefined) {
          state.live.set(found.key, found)
          return `SessionLimitError:${refused}`
        }
        state.links.set(found.key, { family: found.family, until: state.now + linkGraceOf(this.config) })
        return observedToken === undefined ? "ok:<expected a token>" : `ok:${principal.id}`
      }
      case "Close":
      case "CloseFailing": {
        if (!SessionToken.isWellFormed(op.token)) return "ok"
        const key = keyOf(op.token)
        const record = this.closing(key)
        if (record === undefined) return "ok"
        this.close(record)
        // the mock fails the release of the named key only, not of a successor
        return op._tag === "CloseFailing" && record.key === key ? "SessionCloseError:Failed" : "ok"
      }
      case "CloseAllOf": {
        // one atomic revocation: every stored session of the principal but `except`, expired or not
        const exceptKey = op.except === null ? undefined : keyOf(op.except)
        const revoked = [...state.live.values()].filter((record) =>
          !record.anonymous && record.principalId === op.who && record.key !== exceptKey
        )
        for (const record of revoked) this.close(record)
        return `ok:${revoked.length}:0`
      }
      case "SetData":
      case "UpdateData": {
        const found = this.lookup(op.token)
        if (typeof found === "string") return found
        found.data[op.name] = op._tag === "SetData" ? op.value : (found.data[op.name] ?? 0) + op.delta
        this.used(found).usedAt = state.now
        return `ok:${dataString(found.data)}`
      }
      case "Clean":
        return `ok:${this.sweep()}`
      case "GetForged":
        return op.malformed ? "InvalidSession:Malformed" : "InvalidSession:Unknown"
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Running against the real manager
// ---------------------------------------------------------------------------------------------

type ResolvedOp =
  | { readonly _tag: "Open"; readonly who: Who }
  | { readonly _tag: "OpenFor"; readonly who: Exclude<Who, "mallory">; readonly data: InitialData }
  | { readonly _tag: "Get" | "Reject" | "Rotate" | "Close" | "CloseFailing"; readonly token: string }
  | { readonly _tag: "Replace"; readonly token: string; readonly valid: boolean }
  | {
    readonly _tag: "Login"
    readonly token: string
    readonly who: User
    readonly keep?: ReadonlyArray<DataName> | undefined
  }
  | { readonly _tag: "CloseAllOf"; readonly who: User; readonly except: string | null }
  | { readonly _tag: "SetData"; readonly token: string; readonly name: DataName; readonly value: number }
  | { readonly _tag: "UpdateData"; readonly token: string; readonly name: DataName; readonly delta: number }
  | { readonly _tag: "Clean" }
  | { readonly _tag: "GetForged"; readonly malformed: boolean }

const resolve = (op: Op, handles: ReadonlyArray<string>): ResolvedOp | undefined => {
  const token = (h: number) => handles.length === 0 ? forgedToken : handles[handles.length - 1 - (h % handles.length)]
  switch (op._tag) {
    case "Open":
    case "OpenFor":
    case "Clean":
    case "GetForged":
      return op
    case "Get":
    case "Reject":
    case "Rotate":
    case "Close":
    case "CloseFailing":
      return { _tag: op._tag, token: token(op.h) }
    case "Login":
      return { _tag: "Login", token: token(op.h), who: op.who, keep: op.keep }
    case "Replace":
      return { _tag: "Replace", token: token(op.h), valid: op.valid }
    case "CloseAllOf":
      return { _tag: "CloseAllOf", who: op.who, except: op.except === null ? null : token(op.except) }
    case "SetData":
      return { _tag: "SetData", token: token(op.h), name: op.name, value: op.value }
    case "UpdateData":
      return { _tag: "UpdateData", token: token(op.h), name: op.name, delta: op.delta }
    case "Advance":
    case "Concurrent":
      return undefined
  }
}

const dataKeys = {
  a: SessionModule.dataKey("a", Schema.Number),
  b: SessionModule.dataKey("b", Schema.Number)
}

interface Observation {
  readonly answer: string
  readonly token: string | undefined
}

const session = (token: string) => ({ key: keyOf(token), token: Redacted.make(token) })

/** Runs one resolved operation against the real manager. */
const runReal = (
  op: ResolvedOp
): Effect.Effect<Observation, never, SessionManager.SessionManager | AuthManager.MockAuthManager> =>
  Effect.gen(function*() {
    const manager = yield* SessionManager.SessionManager
    const mock = yield* AuthManager.MockAuthManager
    const tokenOf = (s: Session.Session) => s.token === undefined ? undefined : Redacted.value(s.token)
    const withToken = (exit: Exit.Exit<Session.Session, unknown>, answer: (s: Session.Session) => string) => ({
      answer: describeExit(exit, answer),
      token: Exit.isSuccess(exit) ? tokenOf(exit.value) : undefined
    })
    const plain = (exit: Exit.Exit<unknown, unknown>, answer?: (value: any) => string): Observation => ({
      answer: describeExit(exit, answer),
      token: undefined
    })
    switch (op._tag) {
      case "Open":
        return withToken(
          yield* Effect.exit(manager.openSession(request(op.who === "anon" ? undefined : op.who))),
          (s) => `ok:${s.principal.id}`
        )
      case "OpenFor":
        return withToken(
          yield* Effect.exit(
            manager.openSessionFor(
              principalOf(op.who),
              op.data === "none"
                ? undefined
                : {
                  data: op.data === "invalid"
                    ? { a: BigInt(1) as unknown as number }
                    : { [op.data.name]: op.data.value }
                }
            )
          ),
          (s) => `ok:${s.principal.id}`
        )
      case "Get": {
        const exit = yield* Effect.exit(manager.lookupSession(request(), op.token))
        return {
          answer: describeExit(
            exit,
            ({ session: s, touched }) => `ok:${s.principal.id}:${dataString(s.data)}:${touched ? "touched" : "read"}`
          ),
          token: Exit.isSuccess(exit) ? tokenOf(exit.value.session) : undefined
        }
      }
      case "GetForged":
        return plain(yield* Effect.exit(manager.getSession(request(), op.malformed ? malformedToken : forgedToken)))
      case "Reject": {
        const key = keyOf(op.token)
        yield* mock.setRejectSession((s) => s.key === key)
        const exit = yield* Effect.exit(manager.getSession(request(), op.token))
        yield* mock.setRejectSession(() => false)
        return withToken(exit, (s) => `ok:${s.principal.id}:${dataString(s.data)}`)
      }
      case "Replace": {
        const key = keyOf(op.token)
        const data = op.valid ? replacementData : { a: new Date(0) as unknown as number }
        yield* mock.setReplaceSession((s) => s.key === key ? { ...s, data } : undefined)
        const exit = yield* Effect.exit(manager.getSession(request(), op.token))
        yield* mock.setReplaceSession(() => undefined)
        return withToken(exit, (s) => `ok:${s.principal.id}:${dataString(s.data)}`)
      }
      case "Rotate":
        return withToken(yield* Effect.exit(manager.rotateSession(session(op.token))), (s) => `ok:${s.principal.id}`)
      case "Login":
        return withToken(
          yield* Effect.exit(
            manager.rotateSession(
              session(op.token),
              op.keep === undefined
                ? { principal: principalOf(op.who) }
                : { principal: principalOf(op.who), keep: op.keep }
            )
          ),
          (s) => `ok:${s.principal.id}`
        )
      case "Close":
        return plain(yield* Effect.exit(manager.closeSession(session(op.token))))
      case "CloseFailing": {
        const key = keyOf(op.token)
        yield* mock.setFailRelease((s) => s.key === key)
        const exit = yield* Effect.exit(manager.closeSession(session(op.token)))
        yield* mock.setFailRelease(() => false)
        return plain(exit)
      }
      case "CloseAllOf":
        return plain(
          yield* Effect.exit(
            manager.closeAllOf(op.who, op.except === null ? undefined : { except: session(op.except) })
          ),
          (report: SessionManager.CloseReport) => `ok:${report.closed}:${report.failures.length}`
        )
      case "SetData":
        return plain(
          yield* Effect.exit(manager.setData(session(op.token), dataKeys[op.name], op.value)),
          (s: Session.Session) => `ok:${dataString(s.data)}`
        )
      case "UpdateData":
        return plain(
          yield* Effect.exit(
            manager.updateData(session(op.token), dataKeys[op.name], (n) => Option.getOrElse(n, () => 0) + op.delta)
          ),
          (s: Session.Session) => `ok:${dataString(s.data)}`
        )
      case "Clean":
        return plain(
          yield* Effect.exit(manager.cleanSessions),
          (report: SessionManager.CleanReport) => `ok:${report.closed}`
        )
    }
  })

interface RealState {
  readonly records: Map<string, ReturnType<typeof snapshotOf>>
  readonly released: Array<string>
}

// data compared by value: stores that serialize need not keep the order of keys
const sortedData = (data: Session.Data) =>
  Object.fromEntries(Object.keys(data).sort().map((name) => [name, data[name]]))

const snapshotOf = (record: MRecord | Session.Record) =>
  "principal" in record
    ? {
      principalId: record.principal.id,
      anonymous: record.principal.anonymous,
      createdAt: record.createdAt,
      lastUsedAt: record.lastUsedAt,
      expiresAt: record.expiresAt,
      data: sortedData(record.data)
    }
    : {
      principalId: record.principalId,
      anonymous: record.anonymous,
      createdAt: record.createdAt,
      lastUsedAt: record.lastUsedAt,
      expiresAt: record.expiresAt,
      data: sortedData(record.data)
    }

const readReal = Effect.gen(function*() {
  const store = yield* SessionStore.SessionStore
  const mock = yield* AuthManager.MockAuthManager
  const records = new Map((yield* Effect.orDie(store.list)).map((record) => [record.key, snapshotOf(record)]))
  return { records, released: [...(yield* mock.released)] } satisfies RealState
})

const sameState = (model: MState, real: RealState): boolean => {
  if (model.live.size !== real.records.size) return false
  for (const [key, record] of model.live) {
    const stored = real.records.get(key)
    if (stored === undefined) return false
    if (JSON.stringify(stored) !== JSON.stringify(snapshotOf(record))) return false
  }
  return JSON.stringify([...model.released].sort()) === JSON.stringify([...real.released].sort())
}

const describeState = (model: MState, real: RealState) =>
  JSON.stringify(
    {
      now: model.now,
      model: [...model.live].map(([key, r]) => [key.slice(0, 6), snapshotOf(r)]),
      real: [...real.records].map(([key, r]) => [key.slice(0, 6), r]),
      modelReleased: model.released.map((k) => k.slice(0, 6)).sort(),
      realReleased: real.released.map((k) => k.slice(0, 6)).sort()
    },
    null,
    1
  )

/**
 * What tells two possible states apart: what the model checks, and the order of use of each kind's
 * sessions (evictions compare sessions of one kind only; across different `lastUsedAt` the order
 * of use is the order of time, so it only tells apart states whose ties are ordered differently).
 */
const fingerprintOf = (state: MState): string =>
  JSON.stringify([
    [...state.live.values()].sort((a, b) => Number(a.anonymous) - Number(b.anonymous) || a.used - b.used)
      .map((record) => [record.key, snapshotOf(record), record.usedAt]),
    [...state.released].sort(),
    [...state.tombstones].sort(),
    [...state.links].sort()
  ])

/**
 * The model states reachable by some order of a group's operations (each atomic) in which every
 * operation gives the answer the real system gave. States already in `seen` are skipped.
 */
function* interleavings(
  config: ModelConfig,
  start: MState,
  ops: ReadonlyArray<ResolvedOp>,
  observed: ReadonlyArray<Observation>,
  hints: Hints,
  seen: Set<string>,
  onMismatch: (message: string) => void
): Generator<MState> {
  const concurrent = ops.length > 1
  const expiredAtStart = new Map<string, string>()
  for (const record of start.live.values()) {
    const limit = new Model(config, start, hints).expiryLimit(record)
    if (limit !== undefined) expiredAtStart.set(record.key, limit)
  }
  // a revocation spread over buckets (RevokeResult.marked) is two steps, marks then removal, and a
  // concurrent sweep may claim between them what was marked: see `spreadRevocation`
  const revokesAndSweeps = concurrent && ops.some((op) => op._tag === "CloseAllOf") &&
    ops.some((op) => op._tag === "Clean")
  function* walk(
    state: MState,
    remaining: ReadonlyArray<number>,
    revocations: ReadonlyArray<Revocation>
  ): Generator<MState> {
    if (remaining.length === 0) {
      // a revocation that counted fewer than it revoked: only for sessions a sweep claimed
      if (revocations.some((revocation) => revocation.owed > 0)) {
        onMismatch("CloseAllOf: counted fewer sessions than it revoked, and no sweep claimed them")
        return
      }
      const fingerprint = fingerprintOf(state)
      if (!seen.has(fingerprint)) {
        seen.add(fingerprint)
        yield state
      }
      return
    }
    for (const i of remaining) {
      const op = ops[i]
      const next = cloneState(state)
      const answer = new Model(config, next, hints).apply(op, observed[i].token)
      const actual = observed[i].answer
      const rest = remaining.filter((j) => j !== i)
      if (revokesAndSweeps && (op._tag === "CloseAllOf" || op._tag === "Clean")) {
        const outcomes = spreadRevocation(op, answer, actual, state, next, revocations, expiredAtStart)
        if (typeof outcomes === "string") onMismatch(`${JSON.stringify(op._tag)} #${i}: ${outcomes}`)
        else for (const [reached, left] of outcomes) yield* walk(reached, rest, left)
        continue
      }
      // an operation that found its session expired answers Expired, whoever closed it first
      const expiredKey = "token" in op ? keyOf(op.token) : undefined
      const relaxed = concurrent && answer === "InvalidSession:Unknown" && expiredKey !== undefined &&
        actual === `InvalidSession:Expired:${expiredAtStart.get(expiredKey)}`
      // a store that revokes with marks (RevokeResult.marked) answers Revoked for a session a
      // concurrent closeAllOf has marked and not removed yet
      const marked = concurrent && answer === "InvalidSession:Unknown" && actual === "InvalidSession:Revoked" &&
        ops.some((other) => other._tag === "CloseAllOf")
      if (answer !== actual && !relaxed && !marked) {
        onMismatch(`${JSON.stringify(op._tag)} #${i}: model ${answer}, real ${actual}`)
        continue
      }
      if (relaxed) next.tombstones.set(expiredKey!, expiredAtStart.get(expiredKey!)!)
      yield* walk(next, rest, revocations)
    }
  }
  yield* walk(start, ops.map((_, i) => i), [])
}

/**
 * The sessions a `closeAllOf` of the group revoked (in the order being walked) that no sweep of
 * the group has claimed yet, and how many of them it did not count (`owed`: a sweep must have
 * claimed them).
 */
interface Revocation {
  readonly keys: ReadonlyArray<string>
  readonly owed: number
}

/** The subsets of `items` of size `k`. */
function* subsets<A>(items: ReadonlyArray<A>, k: number, from = 0): Generator<ReadonlyArray<A>> {
  if (k === 0) {
    yield []
    return
  }
  for (let i = from; i <= items.length - k; i++) {
    for (const rest of subsets(items, k - 1, i + 1)) yield [items[i], ...rest]
  }
}

/**
 * A `closeAllOf` and a sweep (`Clean`) in one concurrent group, over a store that revokes in two
 * steps (marks in every bucket, then removes what it marked: the spread layout of the Redis
 * store). The sweep's claims and the revocation's steps interleave per bucket, so no order of the
 * two as atomic operations may give both answers, while every session is still released exactly
 * once (the harness checks that, and the state, as always). Taking the order "closeAllOf, then
 * the sweep" (the other order needs no relaxation), a session the revocation covers is, per bucket:
 * - marked, then removed by the revocation: counted by `closeAllOf` only (what the model says);
 * - marked, then claimed by the sweep before the revocation's removal (the sweep hands out revoked
 *   sessions, SessionStore.claimExpired): counted by both, `closeAllOf` counting it in
 *   `RevokeResult.marked`; the sweep buries it (later requests answer `Expired`) if it had expired;
 * - expired, and claimed by the sweep before the revocation marked its bucket: counted by the sweep
 *   only, and buried.
 * So `closeAllOf` may count fewer than the model says, by sessions that had expired (`owed`, which
 * a later sweep of the order must have claimed), and a sweep after it may count more, by sessions
 * it revoked; every choice of which ones is a possible state. Returns the states and what is left
 * of the revocations, or why the answer is not possible.
 */
const spreadRevocation = (
  op: ResolvedOp,
  answer: string,
  actual: string,
  before: MState,
  after: MState,
  revocations: ReadonlyArray<Revocation>,
  expiredAtStart: ReadonlyMap<string, string>
): ReadonlyArray<readonly [MState, ReadonlyArray<Revocation>]> | string => {
  const mismatch = `model ${answer}, real ${actual}`
  const [, modelCount, modelFailures] = answer.split(":")
  const [status, realCount, realFailures] = actual.split(":")
  if (status !== "ok" || !answer.startsWith("ok:") || modelFailures !== realFailures) {
    return answer === actual ? [[after, revocations]] : mismatch
  }
  const extra = Number(realCount) - Number(modelCount)
  if (op._tag === "CloseAllOf") {
    const keys = [...before.live.keys()].filter((key) => !after.live.has(key))
    const expired = keys.filter((key) => expiredAtStart.has(key)).length
    if (extra > 0 || -extra > expired) return mismatch
    return [[after, [...revocations, { keys, owed: -extra }]]]
  }
  // Clean: `extra` sessions revoked earlier in this order, covering what each revocation owes
  const pending = revocations.flatMap((revocation) => revocation.keys)
  if (extra < 0 || extra > pending.length) return mismatch
  const outcomes: Array<readonly [MState, ReadonlyArray<Revocation>]> = []
  for (const claimed of subsets(pending, extra)) {
    const left = revocations.map((revocation) => {
      const buried = revocation.keys.filter((key) => claimed.includes(key) && expiredAtStart.has(key)).length
      return {
        keys: revocation.keys.filter((key) => !claimed.includes(key)),
        owed: Math.max(0, revocation.owed - buried)
      }
    })
    const state = cloneState(after)
    for (const key of claimed) {
      const limit = expiredAtStart.get(key)
      if (limit !== undefined) state.tombstones.set(key, limit)
    }
    outcomes.push([state, left])
  }
  return outcomes.length > 0 ? outcomes : mismatch
}

/** Why a possible state of the model disagrees with the real one after a step, if it does. */
const disagreement = (config: ModelConfig, expected: MState, real: RealState): string | undefined => {
  if (!sameState(expected, real)) return `state differs: ${describeState(expected, real)}`
  // the touch interval: a stored lastUsedAt is never after the last use (idle expiry is never
  // late) and less than one interval before it (idle expiry is at most one interval early)
  const interval = touchIntervalOf(config)
  for (const record of expected.live.values()) {
    const stored = real.records.get(record.key)!.lastUsedAt
    if (stored > record.usedAt || record.usedAt - stored >= Math.max(interval, 1)) {
      return `session ${record.key.slice(0, 6)}: lastUsedAt ${stored}, last used at ${record.usedAt}`
    }
  }
  return undefined
}

/**
 * Runs one scenario; fails (with a readable report) at the first disagreement. The model keeps
 * every possible state: a concurrent group may leave several, which differ only in what the real
 * system has not shown yet (the order of use of its writes, which orders `lastUsedAt` ties). A
 * later step keeps those from which some order of its operations gives what the real system
 * shows (an eviction on a tie settles the order), and fails when none does. Succeeds with how
 * many states were possible after each step.
 */
export const runScenario = (
  config: ModelConfig,
  ops: ReadonlyArray<Op>,
  makeStore: () => Layer.Layer<SessionStore.SessionStore, unknown>
): Effect.Effect<ReadonlyArray<number>, string> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      managerLayer(managerOptions(config), makeStore()),
      scope
    ).pipe(Effect.mapError((error) => `layer: ${String(error)}`))
    const persistent = (yield* Effect.provide(SessionStore.SessionStore, context)).persistent
    let possible: Array<MState> = [{
      now: 0,
      uses: 0,
      live: new Map(),
      released: [],
      tombstones: new Map(),
      links: new Map()
    }]
    const counts: Array<number> = []
    const handles: Array<string> = []
    const trace: Array<string> = []
    const fail = (message: string) => Effect.fail(`${message}\n--- trace ---\n${trace.join("\n")}`)

    const mock = yield* Effect.provide(AuthManager.MockAuthManager, context)
    // background releases (of evicted sessions) are done when their count stays put for a while
    const settleReleases = Effect.suspend(() => {
      let last = -1
      let stable = 0
      return settle(Effect.map(mock.released, (released) => {
        stable = released.length === last ? stable + 1 : 0
        last = released.length
        return stable >= 20
      }))
    })

    // keeps the states that agree with the real one, and fails when none does
    const check = (candidates: ReadonlyArray<MState>, real: RealState) =>
      Effect.gen(function*() {
        const duplicate = real.released.find((key, i) => real.released.indexOf(key) !== i)
        if (duplicate !== undefined) return yield* fail(`session ${duplicate.slice(0, 6)} released twice`)
        const agreeing = candidates.filter((candidate) => disagreement(config, candidate, real) === undefined)
        if (agreeing.length === 0) return yield* fail(disagreement(config, candidates[0], real)!)
        // live views agree with the model (the same in every agreeing state): currentSessions and
        // the principal indexes
        const state = agreeing[0]
        const manager = yield* SessionManager.SessionManager
        const liveKeys = (yield* Effect.orDie(manager.currentSessions)).map((s) => s.key).sort()
        const model = new Model(config, state, { liveKeys: new Set() })
        const expectedLive = [...state.live.values()].filter((r) => model.expiryLimit(r) === undefined).map((r) =>
          r.key
        ).sort()
        if (JSON.stringify(liveKeys) !== JSON.stringify(expectedLive)) return yield* fail("currentSessions differs")
        for (const who of ["alice", "bob"] as const) {
          const keys = (yield* Effect.orDie(manager.sessionsOf(who))).map((s) => s.key).sort()
          const expected = [...state.live.values()].filter((r) =>
            !r.anonymous && r.principalId === who && model.expiryLimit(r) === undefined
          ).map((r) => r.key).sort()
          if (JSON.stringify(keys) !== JSON.stringify(expected)) return yield* fail(`sessionsOf(${who}) differs`)
        }
        possible = agreeing
        counts.push(agreeing.length)
      }).pipe(Effect.provide(context))

    for (const [index, op] of ops.entries()) {
      const now = possible[0].now
      if (op._tag === "Advance") {
        trace.push(`#${index} Advance ${op.ms} -> ${now + op.ms}`)
        for (const state of possible) new Model(config, state, { liveKeys: new Set() }).advance(op.ms)
        yield* TestClock.adjust(op.ms)
        yield* settleReleases
        yield* check(possible, yield* Effect.provide(readReal, context))
        continue
      }
      const group = op._tag === "Concurrent" ? op.ops : [op]
      const resolved = group.map((o) => resolve(o, handles)!)
      const observed = yield* Effect.all(resolved.map(runReal), { concurrency: "unbounded" }).pipe(
        Effect.provide(context)
      )
      const describeOp = (o: ResolvedOp) =>
        JSON.stringify(
          o,
          (k, v) => (k === "token" || k === "except") && typeof v === "string" ? keyOf(v).slice(0, 6) : v
        )
      trace.push(
        `#${index} @${now} ${op._tag === "Concurrent" ? "Concurrent " : ""}${
          resolved.map((o, i) => `${describeOp(o)} => ${observed[i].answer}`).join(" || ")
        }`
      )
      for (const o of observed) {
        if (o.answer.startsWith("DEFECT") || o.answer.startsWith("UNTYPED")) return yield* fail(`defect: ${o.answer}`)
      }
      // releases of evicted sessions run in the background: let them finish, then read the real state
      yield* settleReleases
      const real = yield* Effect.provide(readReal, context)
      const hints = { liveKeys: new Set(real.records.keys()) }
      // every state reachable from a possible one by some order of the group
      const reached: Array<MState> = []
      const seen = new Set<string>()
      let lastMismatch = ""
      for (const state of possible) {
        for (
          const candidate of interleavings(config, state, resolved, observed, hints, seen, (mismatch) => {
            lastMismatch = mismatch
          })
        ) {
          if (sameState(candidate, real)) reached.push(candidate)
          else lastMismatch = `state: ${describeState(candidate, real)}`
        }
      }
      if (reached.length === 0) {
        return yield* fail(`no order of step #${index} agrees with the model: ${lastMismatch}`)
      }
      for (const o of observed) if (o.token !== undefined) handles.push(o.token)
      yield* check(reached, real)
    }
    // shutdown: a non-persistent store's sessions are released, each once; a persistent one keeps them
    yield* Scope.close(scope, Exit.void)
    const released = yield* mock.released
    const state = possible[0]
    const expected = persistent ? state.released : [...state.released, ...state.live.keys()]
    if (JSON.stringify([...released].sort()) !== JSON.stringify([...expected].sort())) {
      return yield* fail(`after shutdown: released ${released.length}, expected ${expected.length}`)
    }
    return counts
  })

/** Runs a scenario in its own test environment (TestClock at 0, no log output). */
export const runIsolated = (
  config: ModelConfig,
  ops: ReadonlyArray<Op>,
  makeStore: () => Layer.Layer<SessionStore.SessionStore, unknown>
): Promise<void> =>
  Effect.runPromise(
    runScenario(config, ops, makeStore).pipe(
      Effect.asVoid,
      Effect.catchAll((message) => Effect.die(new Error(message))),
      Effect.provide(TestContext.TestContext),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )

/** `MODEL_SEED=<seed>` replays the random scenarios of a run (fast-check reports the seed of a failure). */
const seedFromEnv = process.env.MODEL_SEED === undefined || process.env.MODEL_SEED === ""
  ? undefined
  : Number(process.env.MODEL_SEED)

/**
 * The suite: explicit regression scenarios first, then `numRuns` random ones, from `seed` (or
 * `MODEL_SEED`) when given. Runs over the store that `makeStore` builds (a fresh one per scenario).
 */
export const modelSuite = (
  name: string,
  makeStore: () => Layer.Layer<SessionStore.SessionStore, unknown>,
  options: {
    readonly configs: ReadonlyArray<readonly [string, ModelConfig]>
    readonly numRuns: number
    readonly maxLength: number
    readonly regressions?: ReadonlyArray<readonly [string, ModelConfig, ReadonlyArray<Op>]>
    readonly seed?: number
    readonly timeout?: number
  }
) =>
  describe(`SessionManager model: ${name}`, () => {
    for (const [title, config, ops] of options.regressions ?? []) {
      it.live(`regression: ${title}`, () => Effect.promise(() => runIsolated(config, ops, makeStore)))
    }
    const seed = options.seed ?? seedFromEnv
    for (const [title, config] of options.configs) {
      it.live(`random scenarios agree with the model (${title})`, () =>
        Effect.promise(async () => {
          await fc.assert(fc.asyncProperty(scenario(options.maxLength), (ops) => runIsolated(config, ops, makeStore)), {
            numRuns: options.numRuns,
            ...(seed === undefined ? {} : { seed }),
            endOnFailure: false
          })
        }), options.timeout ?? 60_000)
    }
  })
