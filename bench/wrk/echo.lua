-- wrk script for bench/run: POST tools/call echo, one request per response (closed loop per
-- connection). Environment:
--   BENCH_MODE     modern  (2026-07-28: MCP-Protocol-Version/Mcp-Method/Mcp-Name + _meta)
--                  stateless (2025-11-25 without a session: the v1 SDK's stateless mode)
--                  legacy  (2025-11-25 with Mcp-Session-Id = BENCH_SESSION)
--   BENCH_SESSION  session id for legacy (opened by bench/run with curl beforehand)
--   BENCH_BYTES    when set, the echoed text is that many bytes (the 64 KiB payload scenario)
--                  instead of "hello"
--   BENCH_CHECK    0: do not check the answers (the calibration responder answers "hello")
--   BENCH_CAPS     modern: the clientCapabilities JSON of each call (default {}); a host such
--                  as Claude Desktop declares roots, and many sampling and elicitation
-- done() prints one line of key=value pairs (latencies in microseconds) for bench/run.
local mode = os.getenv("BENCH_MODE") or "modern"
local session = os.getenv("BENCH_SESSION")
local bytes = tonumber(os.getenv("BENCH_BYTES") or "")
local check = os.getenv("BENCH_CHECK") ~= "0"
local caps = os.getenv("BENCH_CAPS") or "{}"
local text = "hello"
if bytes and bytes > 0 then
  -- letters only (no JSON escaping); a varying letter every 64 bytes defeats nothing but RLE
  local parts = {}
  for i = 0, bytes - 1, 64 do
    local n = math.min(64, bytes - i)
    parts[#parts + 1] = string.char(97 + math.floor(i / 64) % 26) .. string.rep("x", n - 1)
  end
  text = table.concat(parts)
end
local expect = '"' .. text:sub(1, 64)

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if mode == "modern" then
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "echo"
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",' ..
    '"arguments":{"text":"' .. text .. '"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",' ..
    '"io.modelcontextprotocol/clientCapabilities":' .. caps .. '}}}'
else
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
  if mode == "legacy" and session then wrk.headers["Mcp-Session-Id"] = session end
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",' ..
    '"arguments":{"text":"' .. text .. '"}}}'
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

-- A global, not a local: done() reads each thread's count with thread:get, which sees only
-- globals (as a local it read nil, and every run reported bad=0).
bad = 0
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or (check and not string.find(body, expect, 1, true)) then bad = bad + 1 end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do bad_total = bad_total + (t:get("bad") or 0) end
  local secs = summary.duration / 1e6
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout + summary.errors.status
  io.write(string.format(
    "requests=%d errors=%d seconds=%.3f throughput=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f " ..
    "p999_us=%.1f bad=%d\n",
    summary.requests, errs, secs, summary.requests / secs, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9), bad_total))
end
