/**
 * The Lua scripts of the Redis session store. Each store operation that reads and writes is one
 * script, hence one atomic step on the server.
 *
 * Layout (all keys of one store share the hash tag `{prefix}`, so they live in one cluster slot):
 * - `{prefix}:s:<key>`: a hash per session: `v` (format version), `pid`, `anon` ("1"/"0"), `p`
 *   (principal JSON), `c`, `u`, `e` (createdAt, lastUsedAt, expiresAt or "null"), and one field
 *   `d:<name>` per data value (canonical JSON text, never re-encoded by Lua), and `ml`, `mp` (its
 *   members in the LRU and principal sets);
 * - `{prefix}:lru:anonymous`, `{prefix}:lru:authenticated`: sorted sets by lastUsedAt;
 * - `{prefix}:exp`: sorted set of keys by expiresAt (records without one are absent);
 * - `{prefix}:p:<principalId>`: sorted set of an authenticated principal's sessions by lastUsedAt;
 *
 * - `{prefix}:seq`: a counter; members of the LRU and principal sets are `<sequence>:<key>`, so
 *   that ties of lastUsedAt are ordered by order of use.
 *
 * Every script gets KEYS = [lru:anonymous, lru:authenticated, exp, seq] and ARGV[1] = the key base
 * (`{prefix}:`); record and principal keys are derived from it (same slot).
 *
 * @internal
 */
import { createHash } from "node:crypto"

/** The format version stored in every record (field `v`). */
export const FORMAT_VERSION = "1"

const prelude = `
local LRU_A, LRU_U, EXP, SEQ = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local BASE = ARGV[1]
local function rkey(k) return BASE .. "s:" .. k end
local function pkey(id) return BASE .. "p:" .. id end
local function num(s)
  if s == "-inf" then return -math.huge end
  if s == "+inf" then return math.huge end
  return tonumber(s)
end

-- Members of the LRU and principal sets are "<16-digit sequence>:<key>": equal lastUsedAt scores
-- are then ordered by the sequence, i.e. by order of use, exactly like the memory store.
local function member(k) return string.format("%016d", redis.call("INCR", SEQ)) .. ":" .. k end
local function keyOf(m)
  if string.len(m) > 17 and string.sub(m, 17, 17) == ":" and string.find(string.sub(m, 1, 16), "^%d+$") then
    return string.sub(m, 18)
  end
  return m
end

-- A record as a table of fields plus its flat HGETALL form; nil when absent, false when the value
-- under the key is not a record of this format (a foreign or corrupt value).
local function load(k)
  local key = rkey(k)
  local t = redis.call("TYPE", key)["ok"]
  if t == "none" then return nil end
  if t ~= "hash" then return false end
  local flat = redis.call("HGETALL", key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  if h["v"] ~= "${FORMAT_VERSION}" or type(h["pid"]) ~= "string" or (h["anon"] ~= "0" and h["anon"] ~= "1")
    or type(h["p"]) ~= "string" or tonumber(h["c"]) == nil or tonumber(h["u"]) == nil
    or (h["e"] ~= "null" and tonumber(h["e"]) == nil) then
    return false
  end
  h["ml"] = h["ml"] or k
  h["mp"] = h["mp"] or k
  return h, flat
end

local function lruOf(h) if h["anon"] == "1" then return LRU_A else return LRU_U end end

local function unindex(h, k)
  redis.call("ZREM", LRU_A, h["ml"])
  redis.call("ZREM", LRU_U, h["ml"])
  redis.call("ZREM", EXP, k)
  if h["anon"] == "0" then redis.call("ZREM", pkey(h["pid"]), h["mp"]) end
end

local function index(h, k)
  redis.call("ZADD", lruOf(h), h["u"], h["ml"])
  if h["e"] ~= "null" then redis.call("ZADD", EXP, h["e"], k) end
  if h["anon"] == "0" then redis.call("ZADD", pkey(h["pid"]), h["u"], h["mp"]) end
end

local function delete(h, k)
  unindex(h, k)
  redis.call("DEL", rkey(k))
end

-- Removes a foreign or corrupt value and the index entries it names (others are left to the lazy
-- repairs: entries whose record is gone are dropped when met).
local function drop(k)
  local key = rkey(k)
  if redis.call("TYPE", key)["ok"] == "hash" then
    local f = redis.call("HMGET", key, "pid", "ml", "mp")
    if f[2] then
      redis.call("ZREM", LRU_A, f[2])
      redis.call("ZREM", LRU_U, f[2])
    end
    if f[1] then
      redis.call("ZREM", pkey(f[1]), k)
      if f[3] then redis.call("ZREM", pkey(f[1]), f[3]) end
    end
  end
  redis.call("DEL", key)
  redis.call("ZREM", LRU_A, k)
  redis.call("ZREM", LRU_U, k)
  redis.call("ZREM", EXP, k)
end

local function expired(h, now, idleA, idleU)
  if h["e"] ~= "null" and tonumber(h["e"]) <= now then return true end
  local before = idleU
  if h["anon"] == "1" then before = idleA end
  return tonumber(h["u"]) <= before
end

-- The safety-net TTL, relative to the write (never absolute: the app clock may differ from the
-- server's): the earlier of maxIdleTtl after the write and expiresAt plus the grace period.
local function ttl(k, h, now, maxIdle, grace)
  local t = maxIdle
  if h["e"] ~= "null" then t = math.min(t, tonumber(h["e"]) - now + grace) end
  if t == math.huge then
    redis.call("PERSIST", rkey(k))
  else
    redis.call("PEXPIRE", rkey(k), string.format("%d", math.max(1000, math.floor(t))))
  end
end

-- HSET / HDEL in chunks (Lua's unpack is bounded by the C stack).
local function hset(key, list, from)
  local i = from
  while i <= #list do
    local j = math.min(i + 999, #list)
    redis.call("HSET", key, unpack(list, i, j))
    i = j + 1
  end
end
local function hdel(key, list, from, to)
  local i = from
  while i <= to do
    local j = math.min(i + 499, to)
    redis.call("HDEL", key, unpack(list, i, j))
    i = j + 1
  end
end

local function record(k, flat) return { k, flat } end
`

// Admission under the caps, exactly like the memory store's `admit`: every refusal is decided
// before anything changes; anonymous newcomers never evict authenticated sessions.
const admit = `
-- Drops entries whose record is gone (expired by the safety-net TTL, deleted by hand) from the
-- least recently used end of a set, so that they do not count against a cap.
local function prune(z)
  local ms = redis.call("ZRANGE", z, 0, 31)
  for _, m in ipairs(ms) do
    local k = keyOf(m)
    if redis.call("EXISTS", rkey(k)) == 0 then
      redis.call("ZREM", z, m)
      redis.call("ZREM", EXP, k)
    end
  end
end
local function card(z) return redis.call("ZCARD", z) end
local function atCap(z, cap)
  if card(z) >= cap then prune(z) end
  return card(z) >= cap
end

-- Evicts the least recently used record of z (field: "ml" for an LRU set, "mp" for a principal
-- set; an entry that is not the record's current one is only dropped); true when an entry left.
local function evictHead(z, field, evicted, corrupt)
  local m = redis.call("ZRANGE", z, 0, 0)[1]
  if not m then return false end
  redis.call("ZREM", z, m)
  local k = keyOf(m)
  local h, flat = load(k)
  if h == nil then
    redis.call("ZREM", EXP, k)
  elseif h == false then
    drop(k)
    corrupt[#corrupt + 1] = k
  elseif h[field] == m then
    delete(h, k)
    evicted[#evicted + 1] = record(k, flat)
  end
  return true
end

-- L = { maxSessions, maxAnonymous, maxPerPrincipal, refuse }; returns the name of the refusing
-- cap, or nil after evicting what the caps require.
local function admit(anon, pid, L, evicted, corrupt)
  local pz = nil
  if not anon then pz = pkey(pid) end
  local function size() return card(LRU_A) + card(LRU_U) end
  if not anon and L.refuse and atCap(pz, L.maxPer) then return "maxSessionsPerPrincipal" end
  if anon and L.refuse and atCap(LRU_A, L.maxAnon) then return "maxAnonymousSessions" end
  if size() >= L.maxSessions then
    prune(LRU_A)
    prune(LRU_U)
    if size() >= L.maxSessions and (L.refuse or (anon and card(LRU_A) == 0)) then return "maxSessions" end
  end
  if anon then
    while card(LRU_A) >= L.maxAnon and evictHead(LRU_A, "ml", evicted, corrupt) do end
  else
    while card(pz) >= L.maxPer and evictHead(pz, "mp", evicted, corrupt) do end
  end
  while size() >= L.maxSessions do
    local z = LRU_A
    if card(LRU_A) == 0 then
      if anon then break end
      z = LRU_U
    end
    if not evictHead(z, "ml", evicted, corrupt) then break end
  end
  return nil
end

local function limitsFrom(i)
  return { maxSessions = num(ARGV[i]), maxAnon = num(ARGV[i + 1]), maxPer = num(ARGV[i + 2]), refuse = ARGV[i + 3] == "1" }
end
`

/** A Lua script with its SHA-1, for EVALSHA with an EVAL fallback. */
export interface Script {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

const script = (name: string, body: string): Script => {
  const lua = `${prelude}\n${body}`
  return { name, lua, sha: createHash("sha1").update(lua).digest("hex") }
}

/**
 * ARGV: base, maxIdleTtl, grace, key, maxSessions, maxAnonymous, maxPerPrincipal, refuse,
 * then the record's field/value pairs.
 * Returns {"ok", evicted, corrupt} | {"conflict"} | {"limit", name, corrupt}.
 */
export const insert = script(
  "insert",
  `${admit}
local k = ARGV[4]
if redis.call("EXISTS", rkey(k)) == 1 then return { "conflict" } end
local h = {}
for i = 9, #ARGV, 2 do h[ARGV[i]] = ARGV[i + 1] end
-- The first write of a script is one that Redis refuses when out of memory (INCR): a script then
-- fails before changing anything; once it has written, Redis lets it finish (atomicity).
local ml = member(k)
local evicted, corrupt = {}, {}
local limit = admit(h["anon"] == "1", h["pid"], limitsFrom(5), evicted, corrupt)
if limit then return { "limit", limit, corrupt } end
hset(rkey(k), ARGV, 9)
h["ml"] = ml
h["mp"] = ml
redis.call("HSET", rkey(k), "ml", h["ml"], "mp", h["mp"])
index(h, k)
ttl(k, h, tonumber(h["u"]), num(ARGV[2]), num(ARGV[3]))
return { "ok", evicted, corrupt }
`
)

/**
 * ARGV: base, key. Returns {"ok", record} | {"missing"} | {"corrupt"} (the value is removed).
 */
export const get = script(
  "get",
  `
local k = ARGV[2]
local h, flat = load(k)
if h == nil then return { "missing" } end
if h == false then drop(k) return { "corrupt" } end
return { "ok", record(k, flat) }
`
)

/**
 * ARGV: base, key. Removes and returns. Returns {"ok", record} | {"missing"} | {"corrupt"}.
 */
export const remove = script(
  "remove",
  `
local k = ARGV[2]
local h, flat = load(k)
if h == nil then return { "missing" } end
if h == false then drop(k) return { "corrupt" } end
delete(h, k)
return { "ok", record(k, flat) }
`
)

/**
 * ARGV: base, removeKey (drops the value under a key that failed to decode).
 */
export const drop = script(
  "drop",
  `
drop(ARGV[2])
return "OK"
`
)

/**
 * ARGV: base, maxIdleTtl, grace, key, now, idleBeforeAnonymous, idleBeforeAuthenticated,
 * expectMode ("none" | "absent" | "equal"), expectField, expectValue, removeCount, remove fields...,
 * then set field/value pairs. A touch is an update with nothing to change.
 * Returns {"written", record} | {"missing"} | {"corrupt"} | {"expired", record} | {"conflict", record}.
 */
export const update = script(
  "update",
  `
local k = ARGV[4]
local now = num(ARGV[5])
local h, flat = load(k)
if h == nil then return { "missing" } end
if h == false then drop(k) return { "corrupt" } end
if expired(h, now, num(ARGV[6]), num(ARGV[7])) then return { "expired", record(k, flat) } end
local mode = ARGV[8]
if mode ~= "none" then
  local current = redis.call("HGET", rkey(k), ARGV[9])
  if mode == "absent" then
    if current then return { "conflict", record(k, flat) } end
  elseif current ~= ARGV[10] then
    return { "conflict", record(k, flat) }
  end
end
local ml = member(k) -- the first write: refused when Redis is out of memory
local removeCount = tonumber(ARGV[11])
local key = rkey(k)
hdel(key, ARGV, 12, 11 + removeCount)
hset(key, ARGV, 12 + removeCount)
-- used now: the most recently used end of its kind (its place among its principal's stays)
redis.call("ZREM", LRU_A, h["ml"])
redis.call("ZREM", LRU_U, h["ml"])
h["u"] = ARGV[5]
h["ml"] = ml
redis.call("HSET", key, "u", h["u"], "ml", h["ml"])
index(h, k)
ttl(k, h, now, num(ARGV[2]), num(ARGV[3]))
return { "written", record(k, redis.call("HGETALL", key)) }
`
)

/**
 * ARGV: base, maxIdleTtl, grace, key, newKey, now, idleBeforeAnonymous, idleBeforeAuthenticated,
 * maxSessions, maxAnonymous, maxPerPrincipal, refuse, overrideCount, override field/value pairs
 * (among pid, anon, p, c, e), dataMode ("keep" | "replace"), then the new data field/value pairs.
 * Returns {"rekeyed", previous, record, evicted, corrupt} | {"missing"} | {"corrupt"} |
 * {"expired", record} | {"conflict"} | {"limit", name, corrupt}.
 */
export const rekey = script(
  "rekey",
  `${admit}
local k, nk = ARGV[4], ARGV[5]
local now = num(ARGV[6])
local h, flat = load(k)
if h == nil then return { "missing" } end
if h == false then drop(k) return { "corrupt" } end
if expired(h, now, num(ARGV[7]), num(ARGV[8])) then return { "expired", record(k, flat) } end
if nk ~= k and redis.call("EXISTS", rkey(nk)) == 1 then return { "conflict" } end
local ml = member(nk) -- the first write: refused when Redis is out of memory
local n = { v = h["v"], pid = h["pid"], anon = h["anon"], p = h["p"], c = h["c"], e = h["e"], u = ARGV[6] }
local overrides = tonumber(ARGV[13])
for i = 14, 13 + overrides, 2 do n[ARGV[i]] = ARGV[i + 1] end
local dataMode = ARGV[14 + overrides]
local fields = { "v", n["v"], "pid", n["pid"], "anon", n["anon"], "p", n["p"], "c", n["c"], "u", n["u"], "e", n["e"] }
if dataMode == "replace" then
  for i = 15 + overrides, #ARGV do fields[#fields + 1] = ARGV[i] end
else
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == "d:" then
      fields[#fields + 1] = flat[i]
      fields[#fields + 1] = flat[i + 1]
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
n["ml"] = ml
n["mp"] = ml
fields[#fields + 1] = "ml"
fields[#fields + 1] = n["ml"]
fields[#fields + 1] = "mp"
fields[#fields + 1] = n["mp"]
hset(rkey(nk), fields, 1)
index(n, nk)
ttl(nk, n, now, num(ARGV[2]), num(ARGV[3]))
return { "rekeyed", record(k, flat), record(nk, redis.call("HGETALL", rkey(nk))), evicted, corrupt }
`
)

/**
 * ARGV: base, now, idleBeforeAnonymous, idleBeforeAuthenticated, max.
 * Claims (removes and returns) up to max records that are expired at the cutoff: absolute expiry
 * first, then idle anonymous, then idle authenticated. Each candidate from the indexes is checked
 * against its record; stale index entries are repaired, so every round makes progress.
 * Returns {claimed, corrupt}.
 */
export const claimExpired = script(
  "claimExpired",
  `
local now, idleA, idleU, max = num(ARGV[2]), num(ARGV[3]), num(ARGV[4]), tonumber(ARGV[5])
local claimed, corrupt = {}, {}
-- m: the entry met in set z (the key itself in the expiry set)
local function consider(z, m)
  local k = keyOf(m)
  if z == EXP then k = m end
  redis.call("ZREM", z, m)
  local h, flat = load(k)
  if h == nil then
    -- the record is gone (a safety-net TTL): its other entries go when met
    redis.call("ZREM", EXP, k)
  elseif h == false then
    drop(k)
    corrupt[#corrupt + 1] = k
  elseif expired(h, now, idleA, idleU) then
    delete(h, k)
    claimed[#claimed + 1] = record(k, flat)
  else
    -- an entry out of step with its record: put the record's entries right
    unindex(h, k)
    index(h, k)
  end
end
local function sweep(z, upTo)
  for _ = 1, 1000 do
    local room = max - #claimed
    if room <= 0 then return end
    local ms = redis.call("ZRANGEBYSCORE", z, "-inf", upTo, "LIMIT", 0, room)
    if #ms == 0 then return end
    for _, m in ipairs(ms) do consider(z, m) end
  end
end
sweep(EXP, ARGV[2])
sweep(LRU_A, ARGV[3])
sweep(LRU_U, ARGV[4])
return { claimed, corrupt }
`
)

/**
 * ARGV: base, mode ("keys" | "principal"), then the keys, or the principal id.
 * Returns {records, corrupt}; foreign values are removed, stale principal entries repaired.
 */
export const getMany = script(
  "getMany",
  `
local ms
local pid = nil
if ARGV[2] == "principal" then
  pid = ARGV[3]
  ms = redis.call("ZRANGE", pkey(pid), 0, -1)
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
    if pid then redis.call("ZREM", pkey(pid), m) end
    corrupt[#corrupt + 1] = k
  elseif h == nil then
    if pid then redis.call("ZREM", pkey(pid), m) end
  elseif pid and (h["pid"] ~= pid or h["anon"] ~= "0" or h["mp"] ~= m) then
    redis.call("ZREM", pkey(pid), m)
  else
    out[#out + 1] = record(k, flat)
  end
end
return { out, corrupt }
`
)

/**
 * ARGV: base, principalId, except ("" for none). Removes every record of the principal but
 * `except` in one step (the whole store is one slot). Returns {removed, corrupt}.
 */
export const revoke = script(
  "revoke",
  `
local pid, except = ARGV[2], ARGV[3]
local removed, corrupt = {}, {}
for _, m in ipairs(redis.call("ZRANGE", pkey(pid), 0, -1)) do
  local k = keyOf(m)
  if k ~= except then
    local h, flat = load(k)
    if h == false then
      drop(k)
      corrupt[#corrupt + 1] = k
    elseif h == nil or h["pid"] ~= pid or h["anon"] ~= "0" or h["mp"] ~= m then
      redis.call("ZREM", pkey(pid), m)
    else
      delete(h, k)
      removed[#removed + 1] = record(k, flat)
    end
  end
end
return { removed, corrupt }
`
)

/** ARGV: base. Returns {anonymous, authenticated}. */
export const count = script(
  "count",
  `
return { redis.call("ZCARD", LRU_A), redis.call("ZCARD", LRU_U) }
`
)
