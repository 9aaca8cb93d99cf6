/**
 * The memory store's per-session entry and its least-recently-used order.
 *
 * @internal
 */
import type * as Session from "../../Session.js"

/**
 * One stored session. The entry outlives its key: a rotation puts the new record (new key, maybe
 * another principal) into the same entry, so the expiry queue's slot and the rotation links that
 * point at the entry follow it without being rewritten.
 *
 * @internal
 */
export interface Entry {
  record: Session.Record
  /** The previous entry in order of use; the entry itself once it is out of every list (gone). */
  prev: Entry | undefined
  next: Entry | undefined
  /** When the entry was last appended to its list, in the list's count of uses (orders ties of `lastUsedAt`). */
  used: number
}

/** A new entry, not yet in a list. @internal */
export const makeEntry = (record: Session.Record): Entry => {
  const entry: Entry = { record, prev: undefined, next: undefined, used: 0 }
  entry.prev = entry
  return entry
}

/**
 * Whether `a` was used less recently than `b`: the older `lastUsedAt`, ties (same millisecond) by
 * order of use, as the store contract says. Both entries are of one list (one kind).
 *
 * @internal
 */
export const usedBefore = (a: Entry, b: Entry): boolean =>
  a.record.lastUsedAt < b.record.lastUsedAt || (a.record.lastUsedAt === b.record.lastUsedAt && a.used < b.used)

/** Whether an entry is in a list (its session is stored). @internal */
export const isStored = (entry: Entry): boolean => entry.prev !== entry

/**
 * Entries of one kind in order of last use, least recent first, through a linked list. A touch
 * relinks the entry without writing a hash table: deleting and re-inserting one key in a large
 * `Map` (the obvious way to keep that order) leaves a dead slot on the same hash chain each time,
 * and V8 walks them all: 80 µs per touch of one hot session among 20k, 270 µs among 100k.
 *
 * @internal
 */
export class LruList {
  size = 0
  private head: Entry | undefined = undefined
  private tail: Entry | undefined = undefined
  private uses = 0

  /** The least recently used entry. */
  first(): Entry | undefined {
    return this.head
  }

  /** Adds an entry as the most recently used. */
  append(entry: Entry): void {
    entry.used = ++this.uses
    entry.prev = this.tail
    entry.next = undefined
    if (this.tail === undefined) this.head = entry
    else this.tail.next = entry
    this.tail = entry
    this.size++
  }

  /** Makes an entry of this list the most recently used. */
  moveToEnd(entry: Entry): void {
    if (entry === this.tail) return
    this.unlink(entry)
    this.append(entry)
  }

  unlink(entry: Entry): void {
    if (entry.prev === undefined) this.head = entry.next
    else entry.prev.next = entry.next
    if (entry.next === undefined) this.tail = entry.prev
    else entry.next.prev = entry.prev
    entry.prev = entry
    entry.next = undefined
    this.size--
  }

  /** Least recently used first; the current entry may be unlinked while iterating. */
  *values(): Generator<Entry> {
    for (let entry = this.head; entry !== undefined;) {
      const next = entry.next
      yield entry
      entry = next
    }
  }
}
