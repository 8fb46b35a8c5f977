-- wrk script of `npm run bench`: every request carries the next token of a file (one per line),
-- so the load rotates over all of them; each thread starts at another offset. The requests are
-- formatted once in init() so that wrk spends as little CPU as possible per request.
-- Usage: wrk -t<threads> ... -s bench/rotate-tokens.lua <url> -- <tokens file> <offset> <threads> [rotate|random]
-- With "random", each request takes a token uniformly at random (the million-token stage: most
-- validations then miss an in-process tier smaller than the token set).
-- Thread i starts at offset + i * count / threads, so consecutive runs (warm-up rounds) with a
-- growing offset keep walking through the tokens instead of starting over.

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local count = 0
local position = 0
local random = false

function init(args)
  for token in io.lines(args[1]) do
    count = count + 1
    requests[count] = wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. token })
  end
  if count == 0 then error("no tokens in " .. args[1]) end
  local offset = tonumber(args[2] or "0")
  local threads = tonumber(args[3] or "1")
  position = (offset + math.floor(count * thread_index / threads)) % count
  random = args[4] == "random"
  math.randomseed(os.time() * 16 + thread_index)
end

function request()
  if random then return requests[math.random(count)] end
  position = position % count + 1
  return requests[position]
end

-- One machine-readable line for bench/lib/wrk.ts (latencies in microseconds).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
