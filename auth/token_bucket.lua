-- Token bucket, atomically, on Redis time (every instance shares one clock).
-- KEYS[1]: the bucket (a hash: tokens, ts). ARGV: rate (tokens/s), capacity, cost.
-- A cost above the capacity is let through when the bucket is full and leaves a debt,
-- so a large batch is never refused forever and the average rate still holds.
-- Returns {allowed (0|1), retry_after_s as a string}.
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
  ts = now
end

local need = math.min(cost, capacity)
local allowed = 0
local retry_after = 0
if tokens >= need then
  tokens = tokens - cost
  allowed = 1
else
  retry_after = (need - tokens) / rate
end

redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
-- Kept until it would be full again (then it is the same as absent), plus a second.
local refill_s = (capacity - math.min(tokens, capacity)) / rate
redis.call('PEXPIRE', KEYS[1], math.ceil(refill_s * 1000) + 1000)
return {allowed, tostring(retry_after)}
