/**
 * Slot buckets: how a store spreads its sessions over Redis Cluster slots.
 *
 * A store has `B` buckets. Bucket `i` has its own hash tag, chosen so that its cluster slot falls
 * in the `i`-th of `B` equal ranges of the 16,384 slots: buckets spread evenly over the slots,
 * hence over masters in proportion to the slots each serves. A session's bucket is a function of
 * its key alone (`bucketOf`), so a lookup finds it without asking anything first; a rotation keeps
 * the bucket (the manager mints the new token until its key falls in the old key's bucket, see
 * `SessionStore.Service.sameBucket`), so a rotation stays one atomic single-slot step.
 *
 * With one bucket, the tag is the prefix itself (`{prefix}:`): the layout of 0.1.0, unchanged.
 *
 * @internal
 */

/** The number of Redis Cluster slots. */
const SLOTS = 16384

/** The most buckets a store may have (a revocation costs two calls per bucket). @internal */
export const MAX_BUCKETS = 1024

// CRC16/XMODEM, the checksum Redis Cluster maps keys to slots with.
const table = (() => {
  const out = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    out[i] = crc
  }
  return out
})()

/** The cluster slot of a hash tag (ASCII: the store's prefix alphabet). @internal */
export const slotOf = (tag: string): number => {
  let crc = 0
  for (let i = 0; i < tag.length; i++) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ tag.charCodeAt(i)) & 0xff]
  return crc % SLOTS
}

/**
 * The key base (`{tag}:`) of each bucket. One bucket: `{prefix}:`. More: `{prefix#n}:`, with the
 * smallest `n` whose slot falls in the bucket's range, found by trying `n = 0, 1, 2...` in order
 * (about `B ln B` tries; the same bases on every instance).
 *
 * @internal
 */
export const basesOf = (prefix: string, buckets: number): ReadonlyArray<string> => {
  if (buckets === 1) return [`{${prefix}}:`]
  const bases: Array<string | undefined> = new Array(buckets).fill(undefined)
  let missing = buckets
  for (let n = 0; missing > 0; n++) {
    const tag = `${prefix}#${n}`
    const bucket = Math.floor((slotOf(tag) * buckets) / SLOTS)
    if (bases[bucket] === undefined) {
      bases[bucket] = `{${tag}}:`
      missing--
    }
  }
  return bases as Array<string>
}

/**
 * The bucket of a session key: FNV-1a (32 bits) of the key's UTF-16 code units, modulo the number
 * of buckets. Keys are SHA-256 hashes, so buckets fill evenly; any string has a bucket.
 *
 * @internal
 */
export const bucketOf = (key: string, buckets: number): number => {
  if (buckets === 1) return 0
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return (hash >>> 0) % buckets
}
