/**
 * The Lua scripts of the Redis store, one per operation that reads and writes (hence one atomic
 * step on the server). Shebang flags: `no-writes` for the lookup (it runs on a replica and when
 * Redis is out of memory), `allow-oom` for the scripts that only remove (a logout or a sweep frees
 * memory), none for the others (Redis refuses them before they start when out of memory).
 *
 * Replies: a status letter followed by the record's JSON (`R` read, `W` written, `E` expired,
 * `V` revoked, `X` conflict), `M` (missing) or `C` (a corrupt or foreign value), or arrays of
 * such texts.
 *
 * @internal
 */
import { createHash } from "node:crypto"
import { admit, CLAIM_BUDGET, prelude, record } from "./lua.js"

/** A Lua script, with the name it is defined under on a client (`defineCommand`). */
export interface Script {
  readonly name: string
  readonly lua: string
  /** How many of the arguments are keys; `null`: the call passes the count first. */
  readonly keys: number | null
}

const script = (name: string, flags: string, body: string, keys = 5): Script => {
  const lua = `#!lua${flags}\n${prelude}\n${body}`
  const sha = createHash("sha1").update(lua).digest("hex").slice(0, 10)
  return { name: `effectSession_${name}_${sha}`, lua, keys }
}

/**
 * The lookup of a record without its JSON text (written before 0.2.0): KEYS = [record]; ARGV =
 * [key]. Reads only (`no-writes`): `R` or `V` + record, `M` or `C` (the caller removes a corrupt value
 * with `drop`, since this script cannot write).
 */
export const read: Script = (() => {
  const lua = `#!lua flags=no-writes
${record}
local h, flat = loadAt(KEYS[1], ARGV[1])
if h == nil then return "M" end
if h == false then return "C" end
if h["r"] then return "V" .. json(ARGV[1], h, flat) end
return "R" .. json(ARGV[1], h, flat)
`
  const sha = createHash("sha1").update(lua).digest("hex").slice(0, 10)
  return { name: `effectSession_read_${sha}`, lua, keys: 1 }
})()

/**
 * Several lookups in one call (lookups.ts): KEYS = the records, all in one bucket (one slot).
 * Reads only (`no-writes`). Returns, per key, what a lookup's HMGET returns (the JSON text, the
 * format version, the revocation mark) and the error of that HMGET (a value of another type), or
 * false: four entries per key.
 */
export const readMany: Script = (() => {
  const lua = `#!lua flags=no-writes
local out = {}
for i = 1, #KEYS do
  local f = redis.pcall("HMGET", KEYS[i], "j", "v", "r")
  local at = 4 * i - 4
  if f["err"] then
    out[at + 1], out[at + 2], out[at + 3], out[at + 4] = false, false, false, f["err"]
  else
    out[at + 1], out[at + 2], out[at + 3], out[at + 4] = f[1], f[2], f[3], false
  end
end
return out
`
  const sha = createHash("sha1").update(lua).digest("hex").slice(0, 10)
  return { name: `effectSession_readMany_${sha}`, lua, keys: null }
})()

/** ARGV: base, key. Removes a value that failed to decode and the index entries it names. */
export const drop = script(
  "drop",
  " flags=allow-oom",
  `
drop(ARGV[2])
return "OK"
`
)

/**
 * ARGV: base, maxIdleTtl, grace, key, maxSessions, maxAnonymous, maxPerPrincipal, refuse,
 * then the record's field/value pairs. Returns {"ok", evicted, corrupt} | {"conflict"} |
 * {"limit", name, corrupt}.
 */
export const insert = script(
  "insert",
  "",
  `${admit}
local k = ARGV[4]
if redis.call("EXISTS", rkey(k)) == 1 then return { "conflict" } end
local h = {}
for i = 9, #ARGV, 2 do h[ARGV[i]] = ARGV[i + 1] end
local evicted, corrupt = {}, {}
local limit = admit(h["anon"] == "1", h["pid"], limitsFrom(5), evicted, corrupt)
if limit then return { "limit", limit, corrupt } end
hset(rkey(k), ARGV, 9)
local names = {}
for i = 9, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 2) == "d:" then names[#names + 1] = string.sub(ARGV[i], 3) end
end
setOrder(k, names)
h["ml"] = member(k)
h["mp"] = h["ml"]
redis.call("HSET", rkey(k), "ml", h["ml"], "mp", h["mp"])
index(h, k)
ttl(k, h, tonumber(h["u"]), num(ARGV[2]), num(ARGV[3]))
rejson(k)
return { "ok", evicted, corrupt }
`
)

// Sets lastUsedAt (and data changes already applied by the caller) and moves the record to the
// most recently used end of its kind; its place among its principal's follows lastUsedAt.
const touched = `
-- The live record under k, or the reply that ends the script (missing, corrupt, revoked, expired).
local function live(k, now)
  local h, flat = load(k)
  if h == nil then return nil, nil, "M" end
  if h == false then
    drop(k)
    return nil, nil, "C"
  end
  if h["r"] then return nil, nil, "V" .. json(k, h, flat) end
  if expired(h, now, num(ARGV[6]), num(ARGV[7])) then return nil, nil, "E" .. json(k, h, flat) end
  return h, flat, nil
end

local function touched(k, h, now, at)
  local key = rkey(k)
  redis.call("ZREM", LRU_A, h["ml"])
  redis.call("ZREM", LRU_U, h["ml"])
  if h["anon"] == "0" then pzrem(h["pid"], h["mp"]) end
  h["u"] = at
  h["ml"] = member(k)
  h["mp"] = h["ml"]
  redis.call("HSET", key, "u", h["u"], "ml", h["ml"], "mp", h["mp"])
  index(h, k)
  ttl(k, h, now, num(ARGV[2]), num(ARGV[3]))
end
`

/**
 * The touch when it is due: ARGV: base, maxIdleTtl, grace, key, now, idleBeforeAnonymous,
 * idleBeforeAuthenticated, touchBefore. Writes only if the stored lastUsedAt is at or before
 * touchBefore. Returns `W`/`R`/`E`/`V` + record, `M` or `C`.
 */
export const touch = script(
  "touch",
  "",
  `${touched}
local k = ARGV[4]
local now = num(ARGV[5])
local h, flat, ended = live(k, now)
if ended then return ended end
if tonumber(h["u"]) > num(ARGV[8]) then return "R" .. json(k, h, flat) end
touched(k, h, now, ARGV[5])
return "W" .. rejson(k)
`
)

/**
 * ARGV: base, maxIdleTtl, grace, key, now, idleBeforeAnonymous, idleBeforeAuthenticated,
 * expectMode ("none" | "absent" | "equal"), expectField, expectValue, removeCount, remove fields...,
 * then set field/value pairs. Returns `W`/`E`/`V`/`X` + record, `M` or `C`.
 */
export const update = script(
  "update",
  "",
  `${touched}
local k = ARGV[4]
local now = num(ARGV[5])
local h, flat, ended = live(k, now)
if ended then return ended end
local mode = ARGV[8]
if mode ~= "none" then
  local current = redis.call("HGET", rkey(k), ARGV[9])
  if mode == "absent" then
    if current then return "X" .. json(k, h, flat) end
  elseif current ~= ARGV[10] then
    return "X" .. json(k, h, flat)
  end
end
local removeCount = tonumber(ARGV[11])
hdel(rkey(k), ARGV, 12, 11 + removeCount)
hset(rkey(k), ARGV, 12 + removeCount)
-- the data names' order: removed ones out, new ones at the end
local gone, kept = {}, {}
for i = 12, 11 + removeCount do gone[string.sub(ARGV[i], 3)] = true end
for _, name in ipairs(orderOf(h, flat)) do
  if not gone[name] then kept[#kept + 1] = name end
end
local seen, names = {}, {}
appendNew(names, seen, kept, 1, 1, false)
appendNew(names, seen, ARGV, 12 + removeCount, 2, true)
setOrder(k, names)
touched(k, h, now, ARGV[5])
return "W" .. rejson(k)
`
)

/**
 * ARGV: base, maxIdleTtl, grace, key, newKey, now, idleBeforeAnonymous, idleBeforeAuthenticated,
 * maxSessions, maxAnonymous, maxPerPrincipal, refuse, linkUntil ("" for none), overrideCount,
 * override field/value pairs (among pid, anon, p, c, e), dataMode ("carry" | "replace" | "keep"),
 * then the new data field/value pairs ("replace") or the data names to keep ("keep").
 * Returns {"rekeyed", previous, record, evicted, corrupt} | {"missing"} | {"corrupt"} |
 * {"expired", record} | {"revoked", record} | {"conflict"} | {"limit", name, corrupt}.
 */
export const rekey = script(
  "rekey",
  "",
  `${admit}
local k, nk = ARGV[4], ARGV[5]
local now = num(ARGV[6])
local h, flat = load(k)
if h == nil then return { "missing" } end
if h == false then drop(k) return { "corrupt" } end
if h["r"] then return { "revoked", json(k, h, flat) } end
if expired(h, now, num(ARGV[7]), num(ARGV[8])) then return { "expired", json(k, h, flat) } end
if nk ~= k and redis.call("EXISTS", rkey(nk)) == 1 then return { "conflict" } end
local n = { v = h["v"], pid = h["pid"], anon = h["anon"], p = h["p"], c = h["c"], e = h["e"], u = ARGV[6] }
local overrides = tonumber(ARGV[14])
for i = 15, 14 + overrides, 2 do n[ARGV[i]] = ARGV[i + 1] end
local dataMode = ARGV[15 + overrides]
local fields = { "v", n["v"], "pid", n["pid"], "anon", n["anon"], "p", n["p"], "c", n["c"], "u", n["u"], "e", n["e"] }
local names = {}
if dataMode == "replace" then
  for i = 16 + overrides, #ARGV, 2 do
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    names[#names + 1] = string.sub(ARGV[i], 3)
  end
else
  -- "keep": the named keys, in the order named; "carry": all of them, in their order
  local order = orderOf(h, flat)
  if dataMode == "keep" then
    order = {}
    for i = 16 + overrides, #ARGV do order[#order + 1] = ARGV[i] end
  end
  local seen = {}
  for _, name in ipairs(order) do
    local value = h["d:" .. name]
    if value and not seen[name] then
      seen[name] = true
      fields[#fields + 1] = "d:" .. name
      fields[#fields + 1] = value
      names[#names + 1] = name
    end
  end
end
-- Out of the indexes while the caps are checked (the old record does not count against them);
-- back in, unchanged, if a cap refuses.
unindex(h, k)
local evicted, corrupt = {}, {}
local limit = admit(n["anon"] == "1", n["pid"], limitsFrom(9), evicted, corrupt)
if limit then
  index(h, k)
  return { "limit", limit, corrupt }
end
redis.call("DEL", rkey(k))
n["ml"] = member(nk)
n["mp"] = n["ml"]
for _, f in ipairs({ "ml", n["ml"], "mp", n["mp"] }) do fields[#fields + 1] = f end
-- The rotation family (the key the session was opened with) and its link from the old key.
local family = h["f"] or k
if nk ~= k then
  local famKey = BASE .. "f:" .. family
  local linkUntil = num(ARGV[13])
  if linkUntil and linkUntil > now then
    local life = math.floor(linkUntil - now)
    redis.call("SET", BASE .. "l:" .. k, family, "PX", life)
    redis.call("SET", famKey, nk, "PX", math.max(life, redis.call("PTTL", famKey)))
  elseif redis.call("EXISTS", famKey) == 1 then
    redis.call("SET", famKey, nk, "KEEPTTL")
  end
end
if family ~= nk then
  n["f"] = family
  fields[#fields + 1] = "f"
  fields[#fields + 1] = family
end
hset(rkey(nk), fields, 1)
setOrder(nk, names)
index(n, nk)
ttl(nk, n, now, num(ARGV[2]), num(ARGV[3]))
return { "rekeyed", json(k, h, flat), rejson(nk), evicted, corrupt }
`
)

/**
 * ARGV: base, key, follow ("1": a key rotated away removes what its rotations led to). Removes and
 * returns: `R` + record, `M` or `C`.
 */
export const remove = script(
  "remove",
  " flags=allow-oom",
  `
local k = ARGV[2]
local h, flat = load(k)
if h == nil and ARGV[3] == "1" then
  local family = redis.call("GET", BASE .. "l:" .. k)
  local current = family and redis.call("GET", BASE .. "f:" .. family)
  if current then
    k = current
    h, flat = load(k)
  end
end
if h == nil then return "M" end
if h == false then drop(k) return "C" end
delete(h, k)
return "R" .. json(k, h, flat)
`
)

/**
 * ARGV: base, now, idleBeforeAnonymous, idleBeforeAuthenticated, max. Claims (removes and returns)
 * up to max records that are revoked (`mark`) or expired at the cutoff: revoked first, then
 * absolute expiry, then idle anonymous, then idle authenticated, visiting at most ${CLAIM_BUDGET}
 * index entries (dead ones included). Returns {claimed, corrupt, visited, more}: more = 1 when it
 * stopped at its budget.
 */
export const claimExpired = script(
  "claimExpired",
  " flags=allow-oom",
  `
local now, idleA, idleU, max = num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), tonumber(ARGV[5])
local claimed, corrupt = {}, {}
local visited, budget = 0, ${CLAIM_BUDGET}
-- m: the entry met in set z (the key itself in the expiry and revoked sets)
local function consider(z, m)
  visited = visited + 1
  local k = keyOf(m)
  if z == EXP or z == RV then k = m end
  redis.call("ZREM", z, m)
  local h, flat = load(k)
  if h == nil then
    -- the record is gone (a safety-net TTL): its other entries go when met
    redis.call("ZREM", EXP, k)
  elseif h == false then
    drop(k)
    corrupt[#corrupt + 1] = k
  elseif h["r"] or expired(h, now, idleA, idleU) then
    delete(h, k)
    claimed[#claimed + 1] = json(k, h, flat)
  elseif z ~= RV then
    -- an entry out of step with its record: put the record's entries right
    unindex(h, k)
    index(h, k)
  end
end
local function sweep(z, upTo)
  while #claimed < max and visited < budget do
    local ms = redis.call("ZRANGEBYSCORE", z, "-inf", upTo, "LIMIT", 0, math.min(max - #claimed, budget - visited))
    if #ms == 0 then return end
    for _, m in ipairs(ms) do consider(z, m) end
  end
end
sweep(RV, "+inf")
sweep(EXP, ARGV[2])
sweep(LRU_A, ARGV[3])
sweep(LRU_U, ARGV[4])
local more = 0
if visited >= budget and #claimed < max then more = 1 end
return { claimed, corrupt, visited, more }
`
)

/**
 * ARGV: base, mode ("keys" | "principal"), then the keys, or the principal id, start and count
 * (a page of its sessions, least recently used first). Returns {records, corrupt, next}: next is
 * the start of the next page, -1 at the end; foreign values are removed, stale principal entries
 * repaired; revoked records are not listed.
 */
export const getMany = script(
  "getMany",
  "",
  `
local ms
local pid = nil
local next = -1
if ARGV[2] == "principal" then
  pid = ARGV[3]
  local start, count = tonumber(ARGV[4]), tonumber(ARGV[5])
  ms = redis.call("ZRANGE", pkey(pid), start, start + count - 1)
  if #ms == count then next = start + count end
else
  ms = {}
  for i = 3, #ARGV do ms[#ms + 1] = ARGV[i] end
end
local out, corrupt = {}, {}
for _, m in ipairs(ms) do
  local k = m
  if pid then k = keyOf(m) end
  local h, flat = load(k)
  if h == false then
    drop(k)
    if pid then pzrem(pid, m) end
    corrupt[#corrupt + 1] = k
  elseif h == nil then
    if pid then pzrem(pid, m) end
  elseif pid and (h["pid"] ~= pid or h["anon"] ~= "0" or h["mp"] ~= m or h["r"]) then
    pzrem(pid, m)
  elseif h["r"] then
    -- revoked: not listed
  else
    out[#out + 1] = json(k, h, flat)
  end
end
-- repaired entries shift the page: go on from where the remaining entries now start
if next ~= -1 then next = next - (#ms - #out - #corrupt) end
return { out, corrupt, next }
`
)

/**
 * Calls each(h, flat, k, m) for every session of principal pid in the bucket but except (m: its
 * entry in the principal's set); removes corrupt values (their keys into corrupt) and entries whose
 * record is gone or no longer the principal's.
 */
const ofPrincipal = `
local function ofPrincipal(pid, except, corrupt, each)
  for _, m in ipairs(redis.call("ZRANGE", pkey(pid), 0, -1)) do
    local k = keyOf(m)
    if k ~= except then
      local h, flat = load(k)
      if h == false then
        drop(k)
        corrupt[#corrupt + 1] = k
      elseif h == nil or h["pid"] ~= pid or h["anon"] ~= "0" or h["mp"] ~= m then
        pzrem(pid, m)
      else
        each(h, flat, k, m)
      end
    end
  end
end
`

/**
 * ARGV: base, principalId, except ("" for none). Removes every record of the principal but
 * `except` in one step (a store of one bucket: the whole store is one slot). Returns {removed,
 * corrupt}.
 */
export const revoke = script(
  "revoke",
  " flags=allow-oom",
  `${ofPrincipal}
local removed, corrupt = {}, {}
ofPrincipal(ARGV[2], ARGV[3], corrupt, function(h, flat, k)
  delete(h, k)
  removed[#removed + 1] = json(k, h, flat)
end)
return { removed, corrupt }
`
)

/**
 * The first step of a revocation over several buckets, in one bucket: ARGV: base, principalId,
 * except ("" for none). Marks every session of the principal here but `except` as revoked (field
 * `r`): from this step on, lookups, updates and rotations of them answer `V` / "revoked"; they
 * leave the indexes (caps, listings, counts) and wait in the revoked set until someone removes
 * them (`take`, a logout, the sweep). Returns {marked keys, corrupt}.
 */
export const mark = script(
  "mark",
  " flags=allow-oom",
  `${ofPrincipal}
local pid = ARGV[2]
local marked, corrupt = {}, {}
ofPrincipal(pid, ARGV[3], corrupt, function(h, flat, k, m)
  if h["r"] then
    pzrem(pid, m)
  else
    unindex(h, k)
    redis.call("HSET", rkey(k), "r", "1")
    redis.call("ZADD", RV, 0, k)
    marked[#marked + 1] = k
  end
end)
return { marked, corrupt }
`
)

/**
 * The second step of a revocation over several buckets: ARGV: base, then keys `mark` marked.
 * Removes and returns those still stored and revoked (a logout or the sweep may have taken some).
 * Returns {removed, corrupt}.
 */
export const take = script(
  "take",
  " flags=allow-oom",
  `
local removed, corrupt = {}, {}
for i = 2, #ARGV do
  local k = ARGV[i]
  local h, flat = load(k)
  if h == false then
    drop(k)
    corrupt[#corrupt + 1] = k
  elseif h and h["r"] then
    delete(h, k)
    removed[#removed + 1] = json(k, h, flat)
  end
end
return { removed, corrupt }
`
)

/**
 * A principal's sessions in one bucket, for the per-principal cap over several buckets: ARGV:
 * base, principalId, n, key ("" for none). Drops entries whose record is gone among the first
 * ones, then returns {count, the n least recently used entries with their scores, whether key is
 * a live session of the principal here (1 or 0)}.
 */
export const principalHeads = script(
  "principalHeads",
  "",
  `
local pid, n, k = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local pz = pkey(pid)
for _, m in ipairs(redis.call("ZRANGE", pz, 0, n + 31)) do
  if redis.call("EXISTS", rkey(keyOf(m))) == 0 then pzrem(pid, m) end
end
local heads = {}
if n > 0 then heads = redis.call("ZRANGE", pz, 0, n - 1, "WITHSCORES") end
local owns = 0
if k ~= "" then
  local f = redis.call("HMGET", rkey(k), "pid", "anon", "r")
  if f[1] == pid and f[2] == "0" and not f[3] then owns = 1 end
end
return { redis.call("ZCARD", pz), heads, owns }
`
)

/**
 * Evicts sessions of a principal by their entries in its set (`principalHeads`): ARGV: base,
 * principalId, entries... An entry that is no longer the record's current one is only dropped (the
 * session was used since: not evicted). Returns {evicted, corrupt}.
 */
export const evictEntries = script(
  "evictEntries",
  "",
  `
local pid = ARGV[2]
local evicted, corrupt = {}, {}
for i = 3, #ARGV do
  local m = ARGV[i]
  if redis.call("ZSCORE", pkey(pid), m) then
    pzrem(pid, m)
    local k = keyOf(m)
    local h, flat = load(k)
    if h == false then
      drop(k)
      corrupt[#corrupt + 1] = k
    elseif h and h["mp"] == m and h["pid"] == pid and h["anon"] == "0" and not h["r"] then
      delete(h, k)
      evicted[#evicted + 1] = json(k, h, flat)
    end
  end
end
return { evicted, corrupt }
`
)

/** ARGV: base. Returns {anonymous, authenticated}. */
export const count = script(
  "count",
  " flags=no-writes",
  `
return { redis.call("ZCARD", LRU_A), redis.call("ZCARD", LRU_U) }
`
)

/** Every script, for defining them on a client. */
export const all: ReadonlyArray<Script> = [
  read,
  readMany,
  drop,
  insert,
  touch,
  update,
  rekey,
  remove,
  claimExpired,
  getMany,
  revoke,
  mark,
  take,
  principalHeads,
  evictEntries,
  count
]
