-- wrk script for bench/explore.py: cycles through WRK_PATHS (space-separated)
-- and writes the run's counts and its latency quantiles (every 0.1 %, in
-- microseconds) to WRK_OUT, so the runs against several daphne processes
-- can be merged into one distribution.
local paths = {}
for path in string.gmatch(os.getenv("WRK_PATHS") or "/", "%S+") do paths[#paths + 1] = path end
local n = 0

request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end

done = function(summary, latency, requests)
  local out = assert(io.open(os.getenv("WRK_OUT"), "w"))
  local e = summary.errors
  out:write(string.format("requests %d\nduration_us %d\nerrors %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, 999 do
    out:write(string.format("q %d\n", latency:percentile(i / 10)))
  end
  out:write(string.format("q %d\n", latency.max)) -- percentile(100) reads 0
  out:close()
end
