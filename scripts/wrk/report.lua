-- Copied unchanged from the peers' comparison rig (shared/peers/load/wrk/).
-- Static workload (W0, W1, hello): no per-request Lua, only a machine-readable
-- summary line at the end. Headers (e.g. the session Cookie) come from -H.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'JSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d,"lat_p50_us":%d,"lat_p90_us":%d,' ..
      '"lat_p99_us":%d,"lat_mean_us":%.1f,"lat_max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read,
      e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.mean, latency.max))
end
