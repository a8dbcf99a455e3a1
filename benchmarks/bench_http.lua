-- bench_http.py's load for wrk: every request books the next slot of one (patient, doctor)
-- pair, so no two requests ever want the same slot (no contention: this measures the stack).
--
--   wrk -t T -c C -d S -s bench_http.lua URL -- <pairs file> <first slot, epoch s> <slot s> <T>
--
-- The pairs file has one "<token> <doctor id>" line per pair; thread n (1-based) of T takes
-- pairs n, n + T, n + 2T... and books them round-robin, slot after slot, from the first slot.
-- The bare app answers the same requests. done() prints one line for bench_http.py:
--   HDBENCH requests non_201 closed slots_used p50_us p99_us socket_errors

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  local thread_count = tonumber(args[4])
  mine = {}
  local index = 0
  for line in io.lines(args[1]) do
    local token, doctor = line:match("^(%S+)%s+(%S+)$")
    if token then
      if index % thread_count == number - 1 then
        table.insert(mine, { "Bearer " .. token, '{"doctor_id":"' .. doctor .. '","start":"' })
      end
      index = index + 1
    end
  end
  first = tonumber(args[2])
  slot_seconds = tonumber(args[3])
  sent, non_201, closed, slots_used = 0, 0, 0, 0
end

function request()
  local pair = mine[(sent % #mine) + 1]
  local slot = math.floor(sent / #mine)
  sent = sent + 1
  slots_used = slot + 1
  local start = os.date("!%Y-%m-%dT%H:%M:%SZ", first + slot * slot_seconds)
  return wrk.format(
    "POST",
    "/api/v1/appointments",
    { ["Authorization"] = pair[1], ["Content-Type"] = "application/json" },
    pair[2] .. start .. '"}'
  )
end

function response(status, headers, body)
  if status ~= 201 then
    non_201 = non_201 + 1
  end
  for name, value in pairs(headers) do
    if name:lower() == "connection" and value:lower() == "close" then
      closed = closed + 1
    end
  end
end

function done(summary, latency, requests)
  local bad, shut, used = 0, 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non_201")
    shut = shut + thread:get("closed")
    used = math.max(used, thread:get("slots_used"))
  end
  local errors = summary.errors
  io.write(string.format(
    "HDBENCH %d %d %d %d %d %d %d\n",
    summary.requests, bad, shut, used,
    latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout
  ))
end
