/**
 * The memory store's absolute-expiry index: a binary min-heap of (entry, instant) slots.
 *
 * Openings arrive in time order, so a push usually stops at once (O(1)); anything else (a
 * replacement with its own times, a clock that went back) costs O(log n), never a shift of the
 * whole queue. A slot is valid while its entry is stored with that `expiresAt`: a rotation keeps
 * its entry and its `expiresAt`, so its slot stays valid without being touched. Stale slots are
 * skipped when they come up, and dropped in one rebuild once they could outnumber the valid ones
 * (amortized constant time per slot).
 *
 * @internal
 */
import { type Entry, isStored } from "./lru.js"

const isValid = (entry: Entry, at: number): boolean => isStored(entry) && entry.record.expiresAt === at

/** @internal */
export class ExpiryQueue {
  private entries: Array<Entry> = []
  private at: Array<number> = []
  private rebuildAt = 1024

  get size(): number {
    return this.entries.length
  }

  /** Adds a slot for an entry's current `expiresAt` (none when it has none). */
  push(entry: Entry): void {
    const at = entry.record.expiresAt
    if (at === null) return
    let i = this.entries.length
    this.entries.push(entry)
    this.at.push(at)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.at[parent] <= at) break
      this.entries[i] = this.entries[parent]
      this.at[i] = this.at[parent]
      i = parent
    }
    this.entries[i] = entry
    this.at[i] = at
  }

  /**
   * Removes and returns the entries whose valid slot is due at `now`, at most `max`, soonest first.
   * `live` is the number of stored entries with an expiry, for deciding when to rebuild.
   */
  takeDue(now: number, max: number, live: number): Array<Entry> {
    const due: Array<Entry> = []
    while (due.length < max && this.entries.length > 0 && this.at[0] <= now) {
      const entry = this.entries[0]
      const at = this.at[0]
      this.pop()
      if (isValid(entry, at)) due.push(entry)
    }
    this.compact(live)
    return due
  }

  /** Drops stale slots once they could make up half of the heap. */
  compact(live: number): void {
    if (this.entries.length < this.rebuildAt || this.entries.length <= 2 * live) return
    const entries: Array<Entry> = []
    const at: Array<number> = []
    const seen = new Set<Entry>()
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]
      if (isValid(entry, this.at[i]) && !seen.has(entry)) {
        seen.add(entry)
        entries.push(entry)
        at.push(this.at[i])
      }
    }
    this.entries = entries
    this.at = at
    for (let i = (entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i)
    this.rebuildAt = Math.max(1024, 2 * entries.length)
  }

  private pop(): void {
    const lastEntry = this.entries.pop()!
    const lastAt = this.at.pop()!
    if (this.entries.length === 0) return
    this.entries[0] = lastEntry
    this.at[0] = lastAt
    this.siftDown(0)
  }

  private siftDown(start: number): void {
    const n = this.entries.length
    const entry = this.entries[start]
    const at = this.at[start]
    let i = start
    while (true) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && this.at[right] < this.at[left] ? right : left
      if (this.at[child] >= at) break
      this.entries[i] = this.entries[child]
      this.at[i] = this.at[child]
      i = child
    }
    this.entries[i] = entry
    this.at[i] = at
  }
}
