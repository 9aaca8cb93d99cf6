/**
 * The Lua shared by the Redis store's scripts: record loading and validation, the reply format,
 * the indexes, expiry and TTLs.
 *
 * Layout, per slot bucket (`<base>` is the bucket's `{tag}:`, see buckets.ts; every key of a
 * bucket shares its hash tag, so a bucket lives in one cluster slot and each script runs on one):
 * - `<base>s:<key>`: a hash per session: `v` (format version), `pid`, `anon` ("1"/"0"), `p`
 *   (principal JSON), `c`, `u`, `e` (createdAt, lastUsedAt, expiresAt or "null"), one field
 *   `d:<name>` per data value (canonical JSON text, never re-encoded by Lua), `ml`, `mp` (its
 *   members in the LRU and principal sets), `f` (its rotation family, when it was rotated), `o`
 *   (the data names in order of insertion), `j` (the record as the JSON text below, rewritten
 *   by every write: a lookup is one HMGET) and `r` (present once revoked, see `mark`);
 * - `<base>lru:anonymous`, `<base>lru:authenticated`: sorted sets by lastUsedAt, members
 *   `<16-digit server time in microseconds>:<key>`, so ties are ordered by order of use;
 * - `<base>exp`: sorted set of keys by expiresAt (records without one are absent);
 * - `<base>p:<principalId>`: sorted set of an authenticated principal's sessions in this bucket by
 *   lastUsedAt, and `<base>pp`, the set of principals holding sessions here (the fair share);
 * - `<base>rv`: the keys of revoked sessions not yet released (the sweep hands them out);
 * - `<base>l:<oldKey>`: a rotation link (the family of the session the key was rotated into),
 *   until `linkUntil`; `<base>f:<family>`: the key a rotated family lives under now. A rotation
 *   stays in its bucket, so links do too.
 *
 * Every script gets KEYS = [lru:anonymous, lru:authenticated, exp, pp, rv] of its bucket and
 * ARGV[1] = the bucket's base; the other keys are derived from it (same hash tag, same slot).
 * Records are returned as one JSON text each (`{"k","i","a","p","c","u","e","d"}`), parsed once.
 *
 * @internal
 */

/** The format version stored in every record (field `v`). */
export const FORMAT_VERSION = "1"

/** Index entries one claimExpired call visits at most (dead ones included). */
export const CLAIM_BUDGET = 256

/** Record loading and the reply format: no key of the store's indexes is named here. */
export const record = `
-- A record as a table of fields plus its flat HGETALL form; nil when absent, false when the value
-- under the key is not a record of this format (a foreign or corrupt value).
local function loadAt(key, k)
  local flat = redis.pcall("HGETALL", key)
  if flat["err"] then return false end
  if #flat == 0 then return nil end
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

-- The data names of a record in their order of insertion (field "o", a JSON array: a hash with
-- long values does not keep its fields in order); records written before 0.2.0 have none.
local function orderOf(h, flat)
  if h["o"] then return cjson.decode(h["o"]) end
  local names = {}
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == "d:" then names[#names + 1] = string.sub(flat[i], 3) end
  end
  return names
end

-- The record as one JSON text: principal and data values are stored as JSON already.
local function json(k, h, flat)
  local out = { '{"k":', cjson.encode(k), ',"i":', cjson.encode(h["pid"]), ',"a":', h["anon"], ',"p":', h["p"],
    ',"c":', h["c"], ',"u":', h["u"], ',"e":', h["e"], ',"d":{' }
  local first = true
  for _, name in ipairs(orderOf(h, flat)) do
    local value = h["d:" .. name]
    if value then
      if not first then out[#out + 1] = "," end
      first = false
      out[#out + 1] = cjson.encode(name)
      out[#out + 1] = ":"
      out[#out + 1] = value
    end
  end
  out[#out + 1] = "}}"
  return table.concat(out)
end
`

export const prelude = `${record}
local LRU_A, LRU_U, EXP, PP, RV = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local BASE = ARGV[1]
local function rkey(k) return BASE .. "s:" .. k end
local function pkey(id) return BASE .. "p:" .. id end
local function num(s)
  if s == "-inf" then return -math.huge end
  if s == "+inf" then return math.huge end
  return tonumber(s)
end

-- Members of the LRU and principal sets are "<16 digits>:<key>", the digits being the server's
-- time in microseconds: equal lastUsedAt scores are then ordered by order of use, across buckets
-- too (sets written before 0.2.0 have a sequence number there instead, which sorts first).
local function member(k)
  local t = redis.call("TIME")
  return string.format("%010d%06d", tonumber(t[1]), tonumber(t[2])) .. ":" .. k
end
local function keyOf(m)
  if string.len(m) > 17 and string.sub(m, 17, 17) == ":" and string.find(string.sub(m, 1, 16), "^%d+$") then
    return string.sub(m, 18)
  end
  return m
end

local function load(k) return loadAt(rkey(k), k) end
-- Appends the names of list (from index i, every step-th) not seen yet to names.
local function appendNew(names, seen, list, i, step, strip)
  for j = i, #list, step do
    local name = list[j]
    if strip then name = string.sub(name, 3) end
    if not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
end

-- Records the data names' order (a Lua list) with the record.
local function setOrder(k, names)
  if #names == 0 then redis.call("HSET", rkey(k), "o", "[]") else redis.call("HSET", rkey(k), "o", cjson.encode(names)) end
end

-- Rewrites the record's JSON text (field "j", what a lookup reads with one HMGET) after a write,
-- and returns it.
local function rejson(k)
  local flat = redis.call("HGETALL", rkey(k))
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  local text = json(k, h, flat)
  redis.call("HSET", rkey(k), "j", text)
  return text
end

local function lruOf(h) if h["anon"] == "1" then return LRU_A else return LRU_U end end

local function pzadd(pid, score, m)
  redis.call("ZADD", pkey(pid), score, m)
  redis.call("SADD", PP, pid)
end
local function pzrem(pid, m)
  redis.call("ZREM", pkey(pid), m)
  if redis.call("EXISTS", pkey(pid)) == 0 then redis.call("SREM", PP, pid) end
end

local function unindex(h, k)
  redis.call("ZREM", LRU_A, h["ml"])
  redis.call("ZREM", LRU_U, h["ml"])
  redis.call("ZREM", EXP, k)
  if h["anon"] == "0" then pzrem(h["pid"], h["mp"]) end
end

local function index(h, k)
  redis.call("ZADD", lruOf(h), h["u"], h["ml"])
  if h["e"] ~= "null" then redis.call("ZADD", EXP, h["e"], k) end
  if h["anon"] == "0" then pzadd(h["pid"], h["u"], h["mp"]) end
end

local function delete(h, k)
  unindex(h, k)
  redis.call("DEL", rkey(k))
  redis.call("ZREM", RV, k)
  -- a rotated family ends with its session: its links lead nowhere now
  redis.call("DEL", BASE .. "f:" .. (h["f"] or k))
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
      pzrem(f[1], k)
      if f[3] then pzrem(f[1], f[3]) end
    end
  end
  redis.call("DEL", key)
  redis.call("ZREM", LRU_A, k)
  redis.call("ZREM", LRU_U, k)
  redis.call("ZREM", EXP, k)
  redis.call("ZREM", RV, k)
end

-- The expiry rule of src/internal/expiry.ts (isExpired), for the steps that must decide it on the
-- server: absolute first, then the idle horizon of the record's kind; both bounds inclusive.
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
`

/**
 * Admission under the caps, exactly like the memory store's `admit`: every refusal is decided
 * before anything changes; anonymous newcomers never evict authenticated sessions; at maxSessions
 * a principal over its fair share evicts its own sessions.
 */
export const admit = `
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
-- set of principal pid; an entry that is not the record's current one is only dropped); true when
-- an entry left.
local function evictHead(z, field, pid, evicted, corrupt)
  local m = redis.call("ZRANGE", z, 0, 0)[1]
  if not m then return false end
  if pid then pzrem(pid, m) else redis.call("ZREM", z, m) end
  local k = keyOf(m)
  local h, flat = load(k)
  if h == nil then
    redis.call("ZREM", EXP, k)
  elseif h == false then
    drop(k)
    corrupt[#corrupt + 1] = k
  elseif h[field] == m then
    delete(h, k)
    evicted[#evicted + 1] = json(k, h, flat)
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
    while card(LRU_A) >= L.maxAnon and evictHead(LRU_A, "ml", nil, evicted, corrupt) do end
  else
    while card(pz) >= L.maxPer and evictHead(pz, "mp", pid, evicted, corrupt) do end
  end
  while size() >= L.maxSessions do
    local z, field, owner = LRU_A, "ml", nil
    if card(LRU_A) == 0 then
      if anon then break end
      -- the fair share: maxSessions divided by the principals holding sessions, the newcomer included
      local held = card(pz)
      local principals = redis.call("SCARD", PP)
      if held == 0 then principals = principals + 1 end
      if held > L.maxSessions / principals then z, field, owner = pz, "mp", pid else z = LRU_U end
    end
    if not evictHead(z, field, owner, evicted, corrupt) then break end
  end
  return nil
end

local function limitsFrom(i)
  return { maxSessions = num(ARGV[i]), maxAnon = num(ARGV[i + 1]), maxPer = num(ARGV[i + 2]), refuse = ARGV[i + 3] == "1" }
end
`
