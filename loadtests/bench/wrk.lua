-- wrk script for `make bench` (python -m loadtests.bench). Configured by environment variables:
--   BENCH_MODE      login | signup | get
--   BENCH_PATH      path for `get` (e.g. /api/v1/auth/me)
--   BENCH_TOKEN     bearer token for `get` (optional)
--   BENCH_USERS     number of seeded users (login), BENCH_PREFIX their prefix, BENCH_PASSWORD
--   BENCH_DELAY_MS  if set, each connection waits this long on average between requests (offered rate)
-- done() prints one line "BENCH_JSON {...}" with status counts and latency percentiles (µs).

local mode = os.getenv("BENCH_MODE") or "get"
local path = os.getenv("BENCH_PATH") or "/healthz"
local token = os.getenv("BENCH_TOKEN")
local users = tonumber(os.getenv("BENCH_USERS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench-user-"
local password = os.getenv("BENCH_PASSWORD") or "load-test-password-0123"
local delay_ms = os.getenv("BENCH_DELAY_MS")
local codes = {200, 201, 204, 400, 401, 404, 409, 429, 500, 502, 503}
local threads = {}
local counter = 0
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("thread_id", nthreads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + (thread_id or 0) * 7919)
  counter = math.random(0, users - 1)
  wrk.headers["Content-Type"] = "application/json"
  if token then wrk.headers["Authorization"] = "Bearer " .. token end
end

if delay_ms then
  -- Uniform jitter around the mean pause, so that connections do not move in lockstep bursts.
  local mean = tonumber(delay_ms)
  function delay() return math.floor(math.random() * 2 * mean) end
end

function request()
  counter = counter + 1
  if mode == "login" then
    local body = string.format('{"email":"%s%d@example.com","password":"%s"}', prefix, counter % users, password)
    return wrk.format("POST", "/api/v1/auth/login", nil, body)
  elseif mode == "signup" then
    local body = string.format('{"email":"signup-%d-%d-%d@example.com","password":"%s"}',
                               thread_id or 0, os.time(), counter, "bench-signup-password-0123")
    return wrk.format("POST", "/api/v1/auth/signup", nil, body)
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local key = "n_" .. status
  _G[key] = (_G[key] or 0) + 1
end

function done(summary, latency, requests)
  local parts = {}
  for _, code in ipairs(codes) do
    local total = 0
    for _, thread in ipairs(threads) do total = total + (thread:get("n_" .. code) or 0) end
    if total > 0 then table.insert(parts, string.format('"%d":%d', code, total)) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,' ..
    '"socket_errors":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
