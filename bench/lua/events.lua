-- wrk script for every row of the benchmark: POST Mono-shaped webhook bodies.
--
--   wrk -s bench/lua/events.lua URL -- <mode> <secret> <nonce> <targets> <stride>
--
-- mode "distinct": each request is a new mono.events.reauthorisation_required event with a unique
--   event_id (nonce-thread-counter) for an existing account: number 1 + stride * random(0, targets-1),
--   i.e. mono_account_id "bench" .. 19-digit number, the pattern bench/seed.py uses.
-- mode "duplicate": every connection sends the very same event (same event_id) over and over.
-- The bare and durable rows get the same bodies as the webhook, so every row moves the same bytes.
-- done() prints one JSON line (prefixed BENCH_JSON) that bench/run.py parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "distinct"
  secret = args[2] or ""
  nonce = args[3] or "run"
  targets = tonumber(args[4] or "1000")
  stride = tonumber(args[5] or "1")
  math.randomseed(os.time() + thread_id * 7919)
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["mono-webhook-secret"] = secret
  if mode == "duplicate" then
    fixed = wrk.format(nil, nil, nil, event("bench-dup-" .. nonce, 1, "2026-01-01T00:00:00Z"))
  end
end

function account_id(n)
  return string.format("bench%019d", n)
end

function event(event_id, n, timestamp)
  return string.format(
    '{"event":"mono.events.reauthorisation_required","event_id":"%s","timestamp":"%s",'
      .. '"data":{"account":{"_id":"%s","name":"BENCH ACCOUNT","institution":{"name":"Bench Bank"}}}}',
    event_id, timestamp, account_id(n))
end

function request()
  if fixed then
    return fixed
  end
  counter = counter + 1
  local n = 1 + stride * math.random(0, targets - 1)
  local id = string.format("bench-%s-%d-%d", nonce, thread_id, counter)
  return wrk.format(nil, nil, nil, event(id, n, os.date("!%Y-%m-%dT%H:%M:%SZ")))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,'
      .. '"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
