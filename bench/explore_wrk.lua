-- wrk script for bench/explore.py.
--
-- One client per wrk thread (explore.py runs wrk with -t N -c N), so every
-- client has an identity of its own, as a real visitor behind the TLS proxy
-- would: its own address in X-Forwarded-For (the global rate limiter keys on
-- it: TRUSTED_PROXY_COUNT=1), X-Forwarded-Proto: https, and, for signed-in
-- clients, its own session cookie (line WRK_CLIENT_BASE + n of WRK_COOKIES).
--
-- Each client cycles through WRK_PATHS (space-separated), starting at its own
-- offset so that the clients do not ask the same URL in lockstep. At the end
-- the run's counts and its latency quantiles (every 0.1 %, microseconds) go to
-- WRK_OUT, so the runs against several web processes merge into one
-- distribution.
local paths = {}
for path in string.gmatch(os.getenv("WRK_PATHS") or "/", "%S+") do paths[#paths + 1] = path end

local next_client = 0

function setup(thread)
  thread:set("client", next_client)
  next_client = next_client + 1
end

function init(args)
  me = tonumber(os.getenv("WRK_CLIENT_BASE") or "0") + (client or 0)
  n = me
  headers = {
    ["X-Forwarded-For"] = string.format("10.77.%d.%d", math.floor(me / 250) % 250, me % 250 + 1),
    ["X-Forwarded-Proto"] = "https",
  }
  local cookies = os.getenv("WRK_COOKIES") or ""
  if cookies ~= "" then
    local i = 0
    for line in io.lines(cookies) do
      if i == me then headers["Cookie"] = line end
      i = i + 1
    end
    assert(headers["Cookie"], "no session cookie for client " .. me)
  end
end

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1], headers)
end

done = function(summary, latency, requests)
  local out = assert(io.open(os.getenv("WRK_OUT"), "w"))
  local e = summary.errors
  out:write(string.format("requests %d\nduration_us %d\nerrors %d\nstatus_errors %d\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.status + e.timeout, e.status))
  for i = 1, 999 do
    out:write(string.format("q %d\n", latency:percentile(i / 10)))
  end
  out:write(string.format("q %d\n", latency.max)) -- percentile(100) reads 0
  out:close()
end
