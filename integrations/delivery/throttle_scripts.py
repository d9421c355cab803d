"""The Lua scripts the shared throttle (``throttle``) runs in Redis, each one atomic."""

# Returns {reason, ms to wait, calm}: reason 0 goes ahead now, 1 waits for the
# rate cap, 2 for a pause Seg asked for, 3 for the open circuit. calm is 1 when
# nothing holds workers back (no cap, no pause, the circuit closed, no failure
# counted): the caller may go ahead for a while without asking (SEG_THROTTLE_REFRESH).
# ARGV[4] '1' first reports a 2xx the caller has not reported yet (what report
# does for one). A post of a page's event also needs a token of the pages' own
# bucket (ARGV[5] a second, 0 for none): both or neither are taken, so pages
# never use more than their share, and the server's events the rest or all.
# KEYS: bucket, pause, open, probe, failures, pages' bucket. ARGV: rate per
# second, burst, probe lease ms, a 2xx to report, the pages' rate.
GATE = """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[3], KEYS[5]) > 0 then
  redis.call('DEL', KEYS[5], KEYS[3], KEYS[4])
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
local open = redis.call('EXISTS', KEYS[3]) == 1
if pause > now then
  if open then return {3, pause - now} end
  return {2, pause - now}
end
if open then
  if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[3]) then return {3, 1000} end
  return {0, 0}
end
local rate = tonumber(ARGV[1])
if rate <= 0 then
  if redis.call('EXISTS', KEYS[5]) == 1 then return {0, 0, 0} end
  return {0, 0, 1}
end
local burst = tonumber(ARGV[2])
local function level(key, r, b)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or b
  local ts = tonumber(state[2]) or now
  return math.min(b, tokens + (now - ts) * r / 1000)
end
local tokens = level(KEYS[1], rate, burst)
local share = tonumber(ARGV[5])
local mine = nil
local wait = 0
if share > 0 then
  mine = level(KEYS[6], share, math.max(share, 1))
  if mine < 1 then wait = math.ceil((1 - mine) * 1000 / share) end
end
if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate)) end
if wait == 0 then
  tokens = tokens - 1
  if mine then mine = mine - 1 end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
if mine then
  redis.call('HSET', KEYS[6], 'tokens', tostring(mine), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[6], 60000)
end
if wait > 0 then return {1, wait} end
return {0, 0}
"""


# KEYS: pause. ARGV: ms to pause. Never shortens a longer pause.
PAUSE_FOR = """
local t = redis.call('TIME')
local until_ms = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1] + 1000) end
return until_ms
"""
