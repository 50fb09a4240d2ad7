-- Copied unchanged from the peers' comparison rig (shared/peers/load/wrk/).
-- W2: the full session cycle  POST /login -> GET /account -> POST /logout,
-- following the session cookie returned by the login response.
--
-- wrk keeps Lua state per *thread*, not per connection, and does not tell
-- response() which connection a response came from. So this script MUST be
-- run with exactly one connection per thread (wrk -tN -cN): then the thread
-- state below is the connection state. Misuse is detected: responses would
-- no longer match the expected step and the *_bad counters become non-zero.

local email      = "user@example.com"
local login_body = "email=user%40example.com&password=correct+horse+battery+staple"

-- per-thread (= per-connection) state
local step   = 0     -- 0: login, 1: account, 2: logout
local cookie = nil
local cycle_ok = true

-- per-thread counters (globals, read by done() through thread:get)
login_ok, login_bad, account_ok, account_bad, logout_ok, logout_bad, cycles = 0, 0, 0, 0, 0, 0, 0

local threads = {}
function setup(thread)
   table.insert(threads, thread)
end

local function header(headers, name)
   local v = headers[name]
   if v then return v end
   name = name:lower()
   for k, val in pairs(headers) do
      if k:lower() == name then return val end
   end
   return nil
end

function request()
   if step == 0 then
      return wrk.format("POST", "/login",
         { ["Content-Type"] = "application/x-www-form-urlencoded" }, login_body)
   elseif step == 1 then
      return wrk.format("GET", "/account", { ["Cookie"] = cookie }, nil)
   else
      return wrk.format("POST", "/logout", { ["Cookie"] = cookie }, "")
   end
end

function response(status, headers, body)
   if step == 0 then
      local sc  = header(headers, "Set-Cookie")
      local loc = header(headers, "Location")
      local sid = sc and sc:match("sid=([^;]+)")
      if status == 303 and loc == "/account" and sid and sid ~= "" then
         cookie = "sid=" .. sid
         login_ok = login_ok + 1
         cycle_ok = true
         step = 1
      else
         login_bad = login_bad + 1            -- retry the login
      end
   elseif step == 1 then
      if status == 200 and body and body:find(email, 1, true) then
         account_ok = account_ok + 1
      else
         account_bad = account_bad + 1
         cycle_ok = false
      end
      step = 2
   else
      if status == 303 and header(headers, "Location") == "/" then
         logout_ok = logout_ok + 1
         if cycle_ok then cycles = cycles + 1 end
      else
         logout_bad = logout_bad + 1
      end
      cookie = nil
      step = 0
   end
end

function done(summary, latency, requests)
   local c = { login_ok = 0, login_bad = 0, account_ok = 0, account_bad = 0,
               logout_ok = 0, logout_bad = 0, cycles = 0 }
   for _, t in ipairs(threads) do
      for k, _ in pairs(c) do c[k] = c[k] + t:get(k) end
   end
   local e = summary.errors
   io.write(string.format(
      'JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_p50_us":%d,"lat_p90_us":%d,' ..
      '"lat_p99_us":%d,"lat_mean_us":%.1f,"lat_max_us":%d,"threads":%d,' ..
      '"login_ok":%d,"login_bad":%d,"account_ok":%d,"account_bad":%d,' ..
      '"logout_ok":%d,"logout_bad":%d,"cycles":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.mean, latency.max, #threads,
      c.login_ok, c.login_bad, c.account_ok, c.account_bad,
      c.logout_ok, c.logout_bad, c.cycles))
end
