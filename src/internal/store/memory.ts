/**
 * The in-memory store: the reference implementation of the store contract. Every operation runs
 * synchronously, so each is one atomic step with respect to every other fiber.
 *
 * Indexes, chosen so that lookups, the sweep and eviction cost what they touch, not what is held:
 * - one `Map` from key to entry, and one least-recently-used list per kind (the least recently
 *   used session of a kind is the head of its list; idle-expired sessions form a prefix);
 * - a heap of entries by absolute expiry (`ExpiryQueue`);
 * - the entries of each authenticated principal: the entry itself while it has one session, a
 *   `Set` from the second on;
 * - links from rotated-away keys to the entry their session lives in.
 *
 * Records are frozen when written (the store copies what it is given), and handed out as they are.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Session from "../../Session.js"
import { SessionLimitError, SessionStoreError } from "../../SessionError.js"
import type * as SessionStore from "../../SessionStore.js"
import { isExpired } from "../expiry.js"
import * as json from "../json.js"
import { ExpiryQueue } from "./expiryQueue.js"
import { type Entry, isStored, LruList, makeEntry, usedBefore } from "./lru.js"

const failure = (operation: string, reason: "Conflict" | "Corrupt") =>
  new SessionStoreError({ reason, operation }, true)

/**
 * A frozen copy of a record given to the store, or `undefined` when it holds a value that is not
 * JSON. Principals and data already frozen all the way down (this store's own records, the
 * manager's values, `AuthManager.anonymous`) are shared rather than copied.
 */
const frozenRecord = (record: Session.Record): Session.Record | undefined => {
  const principal = json.checkedPrincipal(record.principal)
  const data = json.isFrozenJson(record.data) ? record.data : json.checkedData(record.data)
  if (principal === json.notJson || data instanceof json.Invalid) return undefined
  return Object.freeze({
    key: record.key,
    principal,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    expiresAt: record.expiresAt,
    data
  })
}

/** The record with another `lastUsedAt`, frozen (a literal: cheaper than a spread of a frozen object). */
const usedAt = (record: Session.Record, now: number): Session.Record =>
  Object.freeze({
    key: record.key,
    principal: record.principal,
    createdAt: record.createdAt,
    lastUsedAt: now,
    expiresAt: record.expiresAt,
    data: record.data
  })

/** A patch whose values are frozen copies, or `undefined` when one is not JSON. */
const copiedPatch = (patch: SessionStore.DataPatch): SessionStore.DataPatch | undefined => {
  if (patch.set === undefined) return patch
  const set: Array<readonly [string, Session.Json]> = []
  for (const [name, value] of patch.set) {
    const copy = json.toJson(value)
    if (copy === json.notJson) return undefined
    set.push([name, copy])
  }
  return { ...patch, set }
}

/** Links from rotated-away keys to the entry of what they became, each until its deadline. */
class Links {
  private readonly links = new Map<string, { readonly entry: Entry; readonly until: number }>()
  private pruneAt = 1024

  set(key: string, entry: Entry, until: number): void {
    this.links.set(key, { entry, until })
  }

  /** The entry a rotated-away key leads to, while its session lives. */
  follow(key: string): Entry | undefined {
    const entry = this.links.get(key)?.entry
    return entry !== undefined && isStored(entry) ? entry : undefined
  }

  /** Drops lapsed links and links to ended sessions, in bulk once they could make up half of the links. */
  prune(now: number): void {
    if (this.links.size < this.pruneAt) return
    for (const [key, link] of this.links) {
      if (link.until <= now || !isStored(link.entry)) this.links.delete(key)
    }
    this.pruneAt = Math.max(1024, 2 * this.links.size)
  }
}

class MemoryState {
  readonly entries = new Map<string, Entry>()
  readonly anonymous = new LruList()
  readonly authenticated = new LruList()
  readonly byPrincipal = new Map<string, Entry | Set<Entry>>()
  readonly expiry = new ExpiryQueue()
  readonly links = new Links()
  private withExpiry = 0

  listOf(record: Session.Record): LruList {
    return record.principal.anonymous ? this.anonymous : this.authenticated
  }

  /** How many sessions a principal holds. */
  heldBy(principalId: string): number {
    const held = this.byPrincipal.get(principalId)
    return held === undefined ? 0 : held instanceof Set ? held.size : 1
  }

  ofPrincipal(principalId: string): ReadonlyArray<Entry> {
    const held = this.byPrincipal.get(principalId)
    return held === undefined ? [] : held instanceof Set ? [...held] : [held]
  }

  /** Stores an entry under its record's key, as the most recently used of its kind. */
  attach(entry: Entry, queued: boolean): void {
    const record = entry.record
    this.entries.set(record.key, entry)
    this.listOf(record).append(entry)
    if (!record.principal.anonymous) {
      const id = record.principal.id
      const held = this.byPrincipal.get(id)
      if (held === undefined) this.byPrincipal.set(id, entry)
      else if (held instanceof Set) held.add(entry)
      else this.byPrincipal.set(id, new Set([held, entry]))
    }
    if (record.expiresAt !== null) {
      this.withExpiry++
      if (!queued) this.expiry.push(entry)
    }
  }

  /** Removes an entry from every index (its queue slot goes stale). */
  detach(entry: Entry): void {
    const record = entry.record
    this.entries.delete(record.key)
    this.listOf(record).unlink(entry)
    if (!record.principal.anonymous) {
      const id = record.principal.id
      const held = this.byPrincipal.get(id)
      if (held === entry) this.byPrincipal.delete(id)
      else if (held instanceof Set) {
        held.delete(entry)
        if (held.size === 1) this.byPrincipal.set(id, held.values().next().value!)
      }
    }
    if (record.expiresAt !== null) this.withExpiry--
  }

  /** Removes a session for good. */
  remove(entry: Entry): Session.Record {
    this.detach(entry)
    this.expiry.compact(this.withExpiry)
    return entry.record
  }

  /** Puts a new record into an entry (a rotation): the entry keeps its queue slot if `expiresAt` did not change. */
  replace(entry: Entry, record: Session.Record): void {
    const queued = entry.record.expiresAt === record.expiresAt
    entry.record = record
    this.attach(entry, queued)
  }

  claimExpired(cutoff: SessionStore.Cutoff, max: number): Array<Session.Record> {
    this.links.prune(cutoff.now)
    const claimed = this.expiry.takeDue(cutoff.now, max, this.withExpiry).map((entry) => this.remove(entry))
    this.claimIdle(this.anonymous, cutoff.idleBefore.anonymous, max, claimed)
    this.claimIdle(this.authenticated, cutoff.idleBefore.authenticated, max, claimed)
    return claimed
  }

  private claimIdle(list: LruList, before: number, max: number, claimed: Array<Session.Record>): void {
    for (let entry = list.first(); entry !== undefined && claimed.length < max; entry = list.first()) {
      if (entry.record.lastUsedAt > before) return
      claimed.push(this.remove(entry))
    }
  }

  leastRecentOf(principalId: string): Entry | undefined {
    let oldest: Entry | undefined
    for (const entry of this.ofPrincipal(principalId)) {
      if (oldest === undefined || usedBefore(entry, oldest)) oldest = entry
    }
    return oldest
  }

  /**
   * The authenticated session to evict at `maxSessions` for `record`'s principal: its own least
   * recently used one while it holds more than its fair share (so one account's login flood never
   * logs other users out), otherwise the least recently used of all.
   */
  private authenticatedVictim(record: Session.Record, limits: SessionStore.Limits): Entry | undefined {
    const held = this.heldBy(record.principal.id)
    const principals = this.byPrincipal.size + (held === 0 ? 1 : 0)
    return held > limits.maxSessions / principals ? this.leastRecentOf(record.principal.id) : this.authenticated.first()
  }

  /**
   * Which cap refuses `record` (`onLimit: "refuse"`, or no session that may be evicted), if any;
   * `leaving` is the record a rotation moves out of the way (not counted).
   */
  refusal(
    record: Session.Record,
    limits: SessionStore.Limits,
    leaving?: Session.Record
  ): SessionLimitError | undefined {
    const anonymous = record.principal.anonymous
    const refuse = limits.onLimit === "refuse"
    const leavingAnonymous = leaving !== undefined && leaving.principal.anonymous ? 1 : 0
    const leavingOwn = leaving !== undefined && !leaving.principal.anonymous && !anonymous &&
        leaving.principal.id === record.principal.id
      ? 1
      : 0
    if (!anonymous && refuse && this.heldBy(record.principal.id) - leavingOwn >= limits.maxSessionsPerPrincipal) {
      return new SessionLimitError({ limit: "maxSessionsPerPrincipal", max: limits.maxSessionsPerPrincipal }, true)
    }
    const anonymousHeld = this.anonymous.size - leavingAnonymous
    if (anonymous && refuse && anonymousHeld >= limits.maxAnonymousSessions) {
      return new SessionLimitError({ limit: "maxAnonymousSessions", max: limits.maxAnonymousSessions }, true)
    }
    const held = this.entries.size - (leaving === undefined ? 0 : 1)
    if (held >= limits.maxSessions && (refuse || (anonymous && anonymousHeld === 0))) {
      return new SessionLimitError({ limit: "maxSessions", max: limits.maxSessions }, true)
    }
    return undefined
  }

  /**
   * Evicts what the caps require before `record` is added (after `refusal` said it may be).
   * Authenticated sessions are never evicted for anonymous ones.
   */
  evictFor(record: Session.Record, limits: SessionStore.Limits): Array<Session.Record> {
    const evicted: Array<Session.Record> = []
    const evict = (victim: Entry | undefined) => {
      if (victim === undefined) return false
      evicted.push(this.remove(victim))
      return true
    }
    if (record.principal.anonymous) {
      while (this.anonymous.size >= limits.maxAnonymousSessions && evict(this.anonymous.first()));
    } else {
      while (
        this.heldBy(record.principal.id) >= limits.maxSessionsPerPrincipal &&
        evict(this.leastRecentOf(record.principal.id))
      );
    }
    while (
      this.entries.size >= limits.maxSessions &&
      evict(
        this.anonymous.first() ?? (record.principal.anonymous ? undefined : this.authenticatedVictim(record, limits))
      )
    );
    return evicted
  }
}

const missing: SessionStore.WriteResult & SessionStore.RekeyResult & SessionStore.TouchResult = { _tag: "Missing" }

/** @internal */
export const make: Effect.Effect<SessionStore.Service> = Effect.sync(() => {
  const state = new MemoryState()

  const touchSync = (key: string, cutoff: SessionStore.Cutoff, touchBefore = cutoff.now): SessionStore.TouchResult => {
    const entry = state.entries.get(key)
    if (entry === undefined) return missing
    const record = entry.record
    if (isExpired(record, cutoff)) return { _tag: "Expired", record }
    if (record.lastUsedAt > touchBefore) return { _tag: "Read", record }
    const next = usedAt(record, cutoff.now)
    entry.record = next
    state.listOf(next).moveToEnd(entry)
    return { _tag: "Written", record: next }
  }

  const touch: SessionStore.Service["touch"] = Object.assign(
    (key: string, cutoff: SessionStore.Cutoff, touchBefore?: number) =>
      Effect.sync(() => touchSync(key, cutoff, touchBefore)),
    { sync: touchSync }
  )

  const updateSync = (
    key: string,
    patch: SessionStore.DataPatch,
    cutoff: SessionStore.Cutoff
  ): SessionStore.WriteResult | SessionStoreError => {
    const entry = state.entries.get(key)
    if (entry === undefined) return missing
    const record = entry.record
    if (isExpired(record, cutoff)) return { _tag: "Expired", record }
    const copied = copiedPatch(patch)
    if (copied === undefined) return failure("update", "Corrupt")
    const data = json.applyPatch(record.data, copied)
    if (data === undefined) return { _tag: "Conflict", record }
    const next: Session.Record = Object.freeze({
      key: record.key,
      principal: record.principal,
      createdAt: record.createdAt,
      lastUsedAt: cutoff.now,
      expiresAt: record.expiresAt,
      data
    })
    entry.record = next
    state.listOf(next).moveToEnd(entry)
    return { _tag: "Written", record: next }
  }

  const update: SessionStore.Service["update"] = Object.assign(
    (key: string, patch: SessionStore.DataPatch, cutoff: SessionStore.Cutoff) =>
      Effect.suspend(() => {
        const result = updateSync(key, patch, cutoff)
        return result instanceof SessionStoreError ? Effect.fail(result) : Effect.succeed(result)
      }),
    { sync: updateSync }
  )

  return {
    persistent: false,
    insert: (given, limits) =>
      Effect.suspend((): Effect.Effect<Array<Session.Record>, SessionStoreError | SessionLimitError> => {
        if (state.entries.has(given.key)) return Effect.fail(failure("insert", "Conflict"))
        const record = frozenRecord(given)
        if (record === undefined) return Effect.fail(failure("insert", "Corrupt"))
        const refused = state.refusal(record, limits)
        if (refused !== undefined) return Effect.fail(refused)
        const evicted = state.evictFor(record, limits)
        state.attach(makeEntry(record), false)
        return Effect.succeed(evicted)
      }),
    get: (key) => Effect.sync(() => Option.fromNullable(state.entries.get(key)?.record)),
    touch,
    update,
    rekey: (key, rekeyed, limits, cutoff) =>
      Effect.suspend((): Effect.Effect<SessionStore.RekeyResult, SessionStoreError | SessionLimitError> => {
        const entry = state.entries.get(key)
        if (entry === undefined) return Effect.succeed(missing)
        const previous = entry.record
        if (isExpired(previous, cutoff)) return Effect.succeed({ _tag: "Expired", record: previous } as const)
        if (rekeyed.key !== key && state.entries.has(rekeyed.key)) return Effect.fail(failure("rekey", "Conflict"))
        const record = frozenRecord({
          key: rekeyed.key,
          principal: rekeyed.principal ?? previous.principal,
          createdAt: rekeyed.createdAt ?? previous.createdAt,
          lastUsedAt: cutoff.now,
          expiresAt: rekeyed.expiresAt === undefined ? previous.expiresAt : rekeyed.expiresAt,
          data: rekeyed.data ?? (rekeyed.keep === undefined ? previous.data : json.kept(previous.data, rekeyed.keep))
        })
        if (record === undefined) return Effect.fail(failure("rekey", "Corrupt"))
        // the caps are judged without the session being moved, and a refusal changes nothing
        const refused = state.refusal(record, limits, previous)
        if (refused !== undefined) return Effect.fail(refused)
        state.detach(entry)
        const evicted = state.evictFor(record, limits)
        state.replace(entry, record)
        if (rekeyed.key !== key && rekeyed.linkUntil !== undefined) state.links.set(key, entry, rekeyed.linkUntil)
        return Effect.succeed({ _tag: "Rekeyed", previous, record, evicted } as const)
      }),
    remove: (key, options) =>
      Effect.sync(() => {
        const entry = state.entries.get(key) ??
          (options?.followRotations === true ? state.links.follow(key) : undefined)
        return entry === undefined ? Option.none() : Option.some(state.remove(entry))
      }),
    revoke: (principalId, options) =>
      Effect.sync(() => {
        const removed: Array<Session.Record> = []
        for (const entry of state.ofPrincipal(principalId)) {
          if (entry.record.key !== options?.except) removed.push(state.remove(entry))
        }
        return { removed, marked: 0 }
      }),
    list: Effect.sync(() => {
      const records: Array<Session.Record> = []
      for (const entry of state.anonymous.values()) records.push(entry.record)
      for (const entry of state.authenticated.values()) records.push(entry.record)
      return records
    }),
    listByPrincipal: (principalId) => Effect.sync(() => state.ofPrincipal(principalId).map((entry) => entry.record)),
    claimExpired: (cutoff, max) => Effect.sync(() => state.claimExpired(cutoff, max)),
    count: Effect.sync(() => ({ anonymous: state.anonymous.size, authenticated: state.authenticated.size }))
  }
})
