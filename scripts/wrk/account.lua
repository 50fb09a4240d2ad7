-- W1 with a body check: GET /account with the session cookie given by -H,
-- counting every response that is not a 200 showing the signed-in email.
-- Set the email with wrk's script arguments:  wrk ... -s account.lua URL -- EMAIL
-- (Checking each body costs the load generator some CPU: use report.lua,
-- as the comparison rig does, for figures to compare with other systems.)

local needle = nil

account_ok, account_bad = 0, 0

local threads = {}
function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   needle = "Signed in as <strong>" .. (args[1] or "user@example.com") .. "</strong>"
end

function response(status, headers, body)
   if status == 200 and body and body:find(needle, 1, true) then
      account_ok = account_ok + 1
   else
      account_bad = account_bad + 1
   end
end

function done(summary, latency, requests)
   local ok, bad = 0, 0
   for _, t in ipairs(threads) do
      ok = ok + t:get("account_ok")
      bad = bad + t:get("account_bad")
   end
   local e = summary.errors
   io.write(string.format(
      'JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_p50_us":%d,"lat_p90_us":%d,' ..
      '"lat_p99_us":%d,"lat_mean_us":%.1f,"lat_max_us":%d,"account_ok":%d,"account_bad":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.mean, latency.max, ok, bad))
end
