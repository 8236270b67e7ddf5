// Bad input and abuse on the HTTP transports, against the real
// `plexus everything --http 127.0.0.1:0`: malformed HTTP, limits, content
// negotiation, legacy Streamable HTTP sessions, 2026-07-28 header validation,
// Host/Origin checks, slow and vanishing clients, many connections, the
// 2024-11-05 HTTP+SSE transport and graceful shutdown. Every case checks the
// exact status (and JSON-RPC error code where one is defined) and that the
// server still serves a normal request afterwards.
#include "child_process.hpp"
#include "http_client.hpp"
#include "plexus_http_process.hpp"

#include <sys/resource.h>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace bj = boost::json;
using plexus::testing::child_process;
using plexus::testing::http::client;
using plexus::testing::http::header_list;
using plexus::testing::http::response;
using plexus::testing::http::sse_event;
using namespace std::chrono_literals;
using namespace std::string_literals;
using steady = std::chrono::steady_clock;

constexpr const char* kModern = "2026-07-28";
constexpr const char* kLegacy = "2025-11-25";
constexpr const char* kAccept = "application/json, text/event-stream";

using server = plexus::testing::plexus_http_process;

// ---- messages -----------------------------------------------------------------------

bj::object modern_meta(std::string_view version = kModern) {
  return {{"io.modelcontextprotocol/protocolVersion", version},
          {"io.modelcontextprotocol/clientCapabilities", bj::object{}},
          {"io.modelcontextprotocol/clientInfo",
           bj::object{{"name", "http-bad-input-test"}, {"version", "1"}}}};
}

std::string message(const bj::value& id, std::string_view method, bj::object params) {
  return bj::serialize(bj::object{
      {"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
}

bj::object call_params(std::string_view tool, bj::object args) {
  return {{"name", tool}, {"arguments", std::move(args)}};
}

// A 2026-07-28 tools/call body.
std::string modern_call(const bj::value& id, std::string_view tool, bj::object args,
                        bj::object meta = modern_meta()) {
  auto p = call_params(tool, std::move(args));
  p["_meta"] = std::move(meta);
  return message(id, "tools/call", std::move(p));
}

header_list post_headers(header_list extra = {}) {
  header_list h{{"Content-Type", "application/json"}, {"Accept", kAccept}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

// The headers of a well-formed 2026-07-28 POST.
header_list modern_headers(std::string_view method, std::string_view name = {},
                           header_list extra = {}) {
  header_list h =
      post_headers({{"MCP-Protocol-Version", kModern}, {"Mcp-Method", std::string(method)}});
  if (!name.empty()) h.emplace_back("Mcp-Name", std::string(name));
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

std::string post(std::uint16_t port, const header_list& headers, std::string_view body,
                 std::string_view target = "/mcp") {
  return plexus::testing::http::build_request("POST", target, port, headers, body);
}

// A 2026-07-28 echo call, as raw request bytes.
std::string echo_request(std::uint16_t port, const bj::value& id, std::string_view text,
                         header_list extra = {}) {
  return post(port, modern_headers("tools/call", "echo", std::move(extra)),
              modern_call(id, "echo", {{"text", text}}));
}

// ---- checks -------------------------------------------------------------------------

std::string show(const std::optional<response>& r) {
  if (!r) return "(no response)";
  std::string s = std::to_string(r->status) + " " + r->reason + "\n";
  for (const auto& [k, v] : r->headers) s += k + ": " + v + "\n";
  return s + "\n" + r->body.substr(0, 600);
}

std::optional<bj::value> parse(std::string_view text) {
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

// Status `status` and, when `code` is set, a JSON-RPC error body with that code
// (and that id, when `id` is set).
::testing::AssertionResult is_error(const std::optional<response>& r, int status,
                                    std::optional<int> code = std::nullopt,
                                    std::optional<bj::value> id = std::nullopt) {
  if (!r) return ::testing::AssertionFailure() << "no response";
  if (r->status != status)
    return ::testing::AssertionFailure() << "expected status " << status << ", got " << show(r);
  if (!code) return ::testing::AssertionSuccess();
  auto ct = r->header("content-type");
  if (!ct || ct->find("application/json") == std::string::npos)
    return ::testing::AssertionFailure() << "error body is not application/json: " << show(r);
  auto v = parse(r->body);
  if (!v || !v->is_object())
    return ::testing::AssertionFailure() << "body is not a JSON object: " << show(r);
  const auto& o = v->get_object();
  auto* err = o.if_contains("error");
  if (!err || !err->is_object() || !o.if_contains("jsonrpc") || o.at("jsonrpc") != "2.0")
    return ::testing::AssertionFailure() << "not a JSON-RPC error: " << show(r);
  auto* c = err->get_object().if_contains("code");
  if (!c || !c->is_int64() || c->get_int64() != *code)
    return ::testing::AssertionFailure() << "expected code " << *code << ", got " << show(r);
  auto* m = err->get_object().if_contains("message");
  if (!m || !m->is_string() || m->get_string().empty())
    return ::testing::AssertionFailure() << "error without a message: " << show(r);
  if (id) {
    auto* got = o.if_contains("id");
    if (!got || *got != *id)
      return ::testing::AssertionFailure()
             << "expected id " << bj::serialize(*id) << ", got " << show(r);
  }
  return ::testing::AssertionSuccess();
}

// Just the status (for answers without a JSON-RPC error body).
::testing::AssertionResult has_status(const std::optional<response>& r, int status) {
  return is_error(r, status);
}

// A transport-level rejection: the status, and a JSON-RPC error body without an
// id (the request was not processed). Its code must not be one a 2026 client
// reads as a protocol answer (-32601 on 404 would mean "method not found").
::testing::AssertionResult is_rejection(const std::optional<response>& r, int status) {
  auto ok = has_status(r, status);
  if (!ok) return ok;
  auto v = parse(r->body);
  if (!v || !v->is_object() || !v->get_object().contains("error"))
    return ::testing::AssertionFailure() << "no JSON-RPC error body: " << show(r);
  const auto& o = v->get_object();
  if (auto* id = o.if_contains("id"); id && !id->is_null())
    return ::testing::AssertionFailure() << "rejection carries an id: " << show(r);
  auto* code = o.at("error").get_object().if_contains("code");
  if (!code || !code->is_int64())
    return ::testing::AssertionFailure() << "error without an integer code: " << show(r);
  if (code->get_int64() == -32601 || code->get_int64() == -32020 || code->get_int64() == -32022)
    return ::testing::AssertionFailure() << "transport rejection uses a 2026 code: " << show(r);
  return ::testing::AssertionSuccess();
}

// The text of a tools/call result message (first text content), or "".
std::string tool_text(const bj::value& msg) {
  try {
    for (const auto& c : msg.at("result").at("content").as_array())
      if (c.at("type") == "text") return std::string(c.at("text").as_string());
  } catch (const std::exception&) {
  }
  return {};
}

// A 200 JSON answer carrying a result for `id`.
::testing::AssertionResult is_result(const std::optional<response>& r, const bj::value& id) {
  if (!r) return ::testing::AssertionFailure() << "no response";
  if (r->status != 200) return ::testing::AssertionFailure() << "status: " << show(r);
  auto v = parse(r->body);
  if (!v || !v->is_object() || !v->get_object().contains("result") ||
      v->get_object().at("id") != id)
    return ::testing::AssertionFailure()
           << "not a result for " << bj::serialize(id) << ": " << show(r);
  return ::testing::AssertionSuccess();
}

// A 200 JSON echo result for `id` with `text`.
::testing::AssertionResult is_echo(const std::optional<response>& r, const bj::value& id,
                                   std::string_view text) {
  auto ok = is_result(r, id);
  if (!ok) return ok;
  auto v = parse(r->body);
  if (tool_text(*v) != text)
    return ::testing::AssertionFailure() << "expected echo '" << text << "': " << show(r);
  return ::testing::AssertionSuccess();
}

// The server answers a normal request on a fresh connection, promptly.
void expect_serving(server& s, std::chrono::milliseconds within = 2s) {
  ASSERT_TRUE(s.alive()) << "server died; stderr: " << s.proc().stderr_text();
  auto start = steady::now();
  auto r = plexus::testing::http::exchange(s.port(), echo_request(s.port(), "alive", "ping"), 5s);
  EXPECT_TRUE(is_echo(r, "alive", "ping")) << "stderr: " << s.proc().stderr_text();
  EXPECT_LT(steady::now() - start, within);
}

// The server answered 400 or closed the connection, without hanging.
void expect_rejected_or_closed(server& s, std::string_view raw, std::string_view what) {
  client c(s.port());
  ASSERT_TRUE(c.connected());
  c.send(raw);  // may fail when the server already closed
  auto r = c.read_response(5s);
  if (r) {
    EXPECT_EQ(r->status, 400) << what << ": " << show(r);
    auto conn = r->header("connection");
    EXPECT_TRUE(conn && plexus::testing::http::lower(*conn) == "close")
        << what << ": a 400 for a broken request must close the connection: " << show(r);
    EXPECT_TRUE(c.wait_closed(3s)) << what << ": connection left open after 400";
  } else {
    EXPECT_TRUE(c.eof()) << what << ": neither answered nor closed within 5 s; got bytes: "
                         << c.buffered().substr(0, 200);
  }
}

// ---- legacy Streamable HTTP helpers ------------------------------------------------

std::string legacy_initialize_body(const bj::value& id, std::string_view version = kLegacy) {
  return message(id, "initialize",
                 {{"protocolVersion", version},
                  {"capabilities", bj::object{}},
                  {"clientInfo", bj::object{{"name", "http-bad-input-test"}, {"version", "1"}}}});
}

header_list legacy_headers(std::string_view sid, std::string_view version = kLegacy) {
  return post_headers(
      {{"Mcp-Session-Id", std::string(sid)}, {"MCP-Protocol-Version", std::string(version)}});
}

// initialize + notifications/initialized; returns the session id ("" on failure).
std::string legacy_session(std::uint16_t port) {
  auto r =
      plexus::testing::http::exchange(port, post(port, post_headers(), legacy_initialize_body(1)));
  EXPECT_TRUE(is_result(r, 1));
  if (!r || r->status != 200) return {};
  auto sid = r->header("mcp-session-id");
  EXPECT_TRUE(sid) << show(r);
  if (!sid) return {};
  auto n = plexus::testing::http::exchange(
      port, post(port, legacy_headers(*sid),
                 R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  EXPECT_TRUE(has_status(n, 202)) << show(n);
  return *sid;
}

std::optional<response> legacy_echo(std::uint16_t port, std::string_view sid, const bj::value& id,
                                    std::string_view text) {
  return plexus::testing::http::exchange(
      port, post(port, legacy_headers(sid),
                 message(id, "tools/call", call_params("echo", {{"text", text}}))));
}

// ======================================================================================
// Malformed HTTP and limits
// ======================================================================================

TEST(HttpBadInput, MalformedRequestsAreRejectedOrClosed) {
  server s;
  const std::string p = std::to_string(s.port());
  const std::vector<std::pair<std::string, std::string>> cases{
      {"garbage request line", "GARBAGE\r\n\r\n"},
      {"binary bytes", "\x00\x01\x02\xff\xfe\x80 junk\r\n\r\n"s},
      {"bad HTTP version", "GET /mcp HTTP/9.Z\r\nHost: 127.0.0.1\r\n\r\n"},
      {"request line with extra words", "GET /mcp HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n"},
      {"header without colon", "GET /mcp HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"},
      {"space before the colon", "GET /mcp HTTP/1.1\r\nHost : 127.0.0.1:" + p + "\r\n\r\n"},
      {"NUL in a header value", "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\0b\r\n\r\n"s},
      {"non-numeric Content-Length",
       "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"},
      {"conflicting Content-Lengths",
       "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: "
       "6\r\n\r\nhello!"},
      {"bad chunk size",
       "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
      {"TLS ClientHello on the plain port",
       "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s + std::string(64, '\0')},
  };
  for (const auto& [what, raw] : cases) {
    SCOPED_TRACE(what);
    expect_rejected_or_closed(s, raw, what);
    expect_serving(s);
  }
}

TEST(HttpBadInput, TruncatedAndAbortedRequestsLeaveServerServing) {
  server s;
  {
    client c(s.port());
    ASSERT_TRUE(c.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"));
  }  // FIN mid-body
  {
    client c(s.port());
    ASSERT_TRUE(c.send("POST /mcp HTTP/1.1\r\nHost: 127.0"));
    c.abort();  // RST mid-header
  }
  {
    client c(s.port());  // connect and go away without a byte
  }
  std::this_thread::sleep_for(100ms);
  expect_serving(s);
}

TEST(HttpBadInput, ModernClientClosingBeforeTheAnswerCancelsTheCall) {
  // 2026-07-28 cancels by closing the request's stream; closing before the answer has
  // begun (a plain JSON answer still being computed) must cancel too. It did not: the
  // call ran to its end and held the only worker for 20 s.
  server s({"--workers", "1"});
  {
    client c(s.port());
    ASSERT_TRUE(
        c.send(post(s.port(), modern_headers("tools/call", "long_running_operation"),
                    modern_call(1, "long_running_operation", {{"duration", 20}, {"steps", 200}}))));
    std::this_thread::sleep_for(200ms);
  }  // closed, no answer read
  client c(s.port());
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      c.send(post(s.port(), modern_headers("tools/call", "long_running_operation"),
                  modern_call(2, "long_running_operation", {{"duration", 0.1}, {"steps", 1}}))));
  auto r = c.read_response(10s);
  ASSERT_TRUE(r) << "no answer";
  EXPECT_EQ(r->status, 200) << show(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(HttpBadInput, OversizedHeadersAre431) {
  server s;
  // 17 KiB in one header: over the 16 KiB limit.
  auto r = plexus::testing::http::exchange(
      s.port(), echo_request(s.port(), 1, "x", {{"X-Big", std::string(17 * 1024, 'a')}}));
  EXPECT_TRUE(is_rejection(r, 431)) << show(r);
  expect_serving(s);
  // Many small headers adding up to more than 16 KiB.
  header_list many;
  for (int i = 0; i < 400; ++i) many.emplace_back("X-H" + std::to_string(i), std::string(40, 'b'));
  r = plexus::testing::http::exchange(s.port(), echo_request(s.port(), 2, "x", many));
  EXPECT_TRUE(is_rejection(r, 431)) << show(r);
  expect_serving(s);
  // A request target longer than the header limit: 431 (or 414).
  r = plexus::testing::http::exchange(
      s.port(), "GET /mcp?" + std::string(20 * 1024, 'q') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 431 || r->status == 414) << show(r);
  expect_serving(s);
  // Below the limit (12 KiB) is fine.
  r = plexus::testing::http::exchange(
      s.port(), echo_request(s.port(), 3, "big-ok", {{"X-Big", std::string(12 * 1024, 'a')}}));
  EXPECT_TRUE(is_echo(r, 3, "big-ok"));
}

TEST(HttpBadInput, OversizedBodyIs413) {
  server s({"--max-message-bytes", "1024"});
  // 2 KiB announced by Content-Length.
  auto body = modern_call(1, "echo", {{"text", std::string(2048, 'z')}});
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/call", "echo"), body));
  EXPECT_TRUE(is_rejection(r, 413)) << show(r);
  expect_serving(s);
  // 2 KiB in chunks: the limit applies to the decoded body too.
  std::string chunked;
  for (std::size_t i = 0; i < body.size(); i += 256) {
    auto part = body.substr(i, 256);
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    chunked += size + part + "\r\n";
  }
  chunked += "0\r\n\r\n";
  auto h = modern_headers("tools/call", "echo", {{"Transfer-Encoding", "chunked"}});
  r = plexus::testing::http::exchange(s.port(), post(s.port(), h, {}) + chunked);
  EXPECT_TRUE(is_rejection(r, 413)) << show(r);
  expect_serving(s);
  // Just under the limit is served.
  std::string fits = modern_call(2, "echo", {{"text", ""}});
  std::string text(1024 - fits.size(), 'k');
  r = plexus::testing::http::exchange(s.port(), echo_request(s.port(), 2, text));
  EXPECT_TRUE(is_echo(r, 2, text));
}

TEST(HttpBadInput, WrongContentTypeIs415) {
  server s;
  auto body = modern_call(1, "echo", {{"text", "x"}});
  for (std::string ct : {"text/plain", "application/x-www-form-urlencoded", ""}) {
    SCOPED_TRACE("Content-Type: " + ct);
    header_list h{{"Accept", kAccept},
                  {"MCP-Protocol-Version", kModern},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "echo"}};
    if (!ct.empty()) h.emplace_back("Content-Type", ct);
    auto r = plexus::testing::http::exchange(s.port(), post(s.port(), h, body));
    EXPECT_TRUE(is_rejection(r, 415)) << show(r);
  }
  expect_serving(s);
}

TEST(HttpBadInput, MissingOrPartialAcceptIs406) {
  server s;
  auto body = modern_call(1, "echo", {{"text", "x"}});
  for (std::string accept : {"", "application/json", "text/event-stream", "text/html"}) {
    SCOPED_TRACE("Accept: " + accept);
    header_list h{{"Content-Type", "application/json"},
                  {"MCP-Protocol-Version", kModern},
                  {"Mcp-Method", "tools/call"},
                  {"Mcp-Name", "echo"}};
    if (!accept.empty()) h.emplace_back("Accept", accept);
    auto r = plexus::testing::http::exchange(s.port(), post(s.port(), h, body));
    EXPECT_TRUE(is_rejection(r, 406)) << show(r);
  }
  // The legacy era negotiates the same way.
  header_list h{{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  auto r = plexus::testing::http::exchange(s.port(), post(s.port(), h, legacy_initialize_body(1)));
  EXPECT_TRUE(is_rejection(r, 406)) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, InvalidJsonIs400ParseError) {
  server s;
  for (std::string body : {"{", "{\"jsonrpc\":\"2.0\",", "not json", "{\"a\":1}}", ""}) {
    SCOPED_TRACE("body: " + body);
    auto r = plexus::testing::http::exchange(
        s.port(), post(s.port(), modern_headers("tools/call", "echo"), body));
    EXPECT_TRUE(is_error(r, 400, -32700, bj::value(nullptr))) << show(r);
    // Without any era headers too.
    r = plexus::testing::http::exchange(s.port(), post(s.port(), post_headers(), body));
    EXPECT_TRUE(is_error(r, 400, -32700, bj::value(nullptr))) << show(r);
  }
  // Nested too deep to be parsed.
  std::string deep(200, '[');
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/call", "echo"), deep + std::string(200, ']')));
  EXPECT_TRUE(is_error(r, 400, -32700)) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, JsonArrayInModernEraIs400InvalidRequest) {
  server s;
  std::string one = modern_call(1, "echo", {{"text", "x"}});
  for (std::string body : {"[" + one + "]", "[" + one + "," + one + "]", std::string("[]"),
                           std::string("42"), std::string("\"str\"")}) {
    SCOPED_TRACE("body: " + body.substr(0, 40));
    auto r = plexus::testing::http::exchange(
        s.port(), post(s.port(), modern_headers("tools/call", "echo"), body));
    EXPECT_TRUE(is_error(r, 400, -32600)) << show(r);
  }
  expect_serving(s);
}

// ======================================================================================
// Legacy Streamable HTTP (2025-03-26 … 2025-11-25)
// ======================================================================================

TEST(HttpBadInput, LegacyInitializeMintsUniqueVisibleAsciiSessionIds) {
  server s;
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = plexus::testing::http::exchange(
        s.port(), post(s.port(), post_headers(), legacy_initialize_body(i)));
    ASSERT_TRUE(is_result(r, i));
    auto v = parse(r->body);
    EXPECT_EQ(v->at("result").at("protocolVersion"), kLegacy) << show(r);
    auto sid = r->header("mcp-session-id");
    ASSERT_TRUE(sid) << show(r);
    EXPECT_EQ(r->count("mcp-session-id"), 1u);
    EXPECT_GE(sid->size(), 32u) << *sid;
    for (unsigned char c : *sid) EXPECT_TRUE(c >= 0x21 && c <= 0x7e) << "byte " << int(c);
    ids.insert(*sid);
  }
  EXPECT_EQ(ids.size(), 3u);
  // The session works.
  auto sid = legacy_session(s.port());
  ASSERT_FALSE(sid.empty());
  EXPECT_TRUE(is_echo(legacy_echo(s.port(), sid, 5, "legacy"), 5, "legacy"));
  expect_serving(s);
}

TEST(HttpBadInput, LegacyRequestWithoutSessionIs400) {
  server s;
  auto body = message(1, "tools/list", {});
  auto r = plexus::testing::http::exchange(s.port(), post(s.port(), post_headers(), body));
  EXPECT_TRUE(is_rejection(r, 400)) << show(r);
  EXPECT_TRUE(r && parse(r->body)) << show(r);
  r = plexus::testing::http::exchange(
      s.port(), post(s.port(), post_headers({{"MCP-Protocol-Version", kLegacy}}), body));
  EXPECT_TRUE(is_rejection(r, 400)) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, LegacyUnknownSessionIs404) {
  server s;
  auto sid = legacy_session(s.port());  // a real one exists; a different id is still unknown
  ASSERT_FALSE(sid.empty());
  for (std::string bogus : {std::string(32, '0'), std::string("nope"), sid + "x"}) {
    SCOPED_TRACE(bogus);
    auto r = legacy_echo(s.port(), bogus, 1, "x");
    EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  }
  expect_serving(s);
}

TEST(HttpBadInput, LegacyDeleteEndsSessionAndItsStream) {
  server s;
  auto sid = legacy_session(s.port());
  ASSERT_FALSE(sid.empty());
  // An open GET stream on the session.
  client get(s.port());
  ASSERT_TRUE(get.send_request("GET", "/mcp",
                               {{"Accept", "text/event-stream"},
                                {"Mcp-Session-Id", sid},
                                {"MCP-Protocol-Version", kLegacy}}));
  auto head = get.read_head(5s);
  ASSERT_TRUE(head && head->status == 200) << show(head);

  auto r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request(
                    "DELETE", "/mcp", s.port(),
                    {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", kLegacy}}));
  EXPECT_TRUE(has_status(r, 200)) << show(r);
  EXPECT_TRUE(get.stream_ends(3s)) << "GET stream still open after DELETE";

  r = legacy_echo(s.port(), sid, 2, "after delete");
  EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request("GET", "/mcp", s.port(),
                                                     {{"Accept", "text/event-stream"},
                                                      {"Mcp-Session-Id", sid},
                                                      {"MCP-Protocol-Version", kLegacy}}));
  EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request(
                    "DELETE", "/mcp", s.port(),
                    {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", kLegacy}}));
  EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  // DELETE without a session id.
  r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request("DELETE", "/mcp", s.port(),
                                                     {{"MCP-Protocol-Version", kLegacy}}));
  EXPECT_TRUE(is_rejection(r, 400)) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, LegacyGetStreamAndSecondGetIs409) {
  server s;
  auto sid = legacy_session(s.port());
  ASSERT_FALSE(sid.empty());
  header_list get_headers{
      {"Accept", "text/event-stream"}, {"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", kLegacy}};
  client first(s.port());
  ASSERT_TRUE(first.send_request("GET", "/mcp", get_headers));
  auto head = first.read_head(5s);
  ASSERT_TRUE(head) << "no answer to GET";
  EXPECT_EQ(head->status, 200) << show(head);
  EXPECT_EQ(head->header("content-type").value_or(""), "text/event-stream") << show(head);
  // 2025-11-25: a priming event with an id and a retry hint comes first.
  auto prime = first.next_event(5s);
  ASSERT_TRUE(prime);
  EXPECT_TRUE(prime->has_id && !prime->id.empty());
  EXPECT_TRUE(prime->retry.has_value());
  // Give the server a moment to attach the stream after the priming write.
  std::this_thread::sleep_for(200ms);

  auto r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request("GET", "/mcp", s.port(), get_headers));
  EXPECT_TRUE(is_rejection(r, 409)) << show(r);
  // A GET that does not accept SSE.
  r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request("GET", "/mcp", s.port(),
                                                     {{"Accept", "application/json"},
                                                      {"Mcp-Session-Id", sid},
                                                      {"MCP-Protocol-Version", kLegacy}}));
  EXPECT_TRUE(is_rejection(r, 406)) << show(r);
  // The first stream is still open and the session still works.
  EXPECT_FALSE(first.peer_closed());
  EXPECT_TRUE(is_echo(legacy_echo(s.port(), sid, 3, "still"), 3, "still"));
  expect_serving(s);
}

TEST(HttpBadInput, LegacySessionCapEvictsOldestIdle) {
  server s({"--max-sessions", "3"});
  std::vector<std::string> sids;
  for (int i = 0; i < 5; ++i) {
    sids.push_back(legacy_session(s.port()));
    ASSERT_FALSE(sids.back().empty());
    std::this_thread::sleep_for(5ms);  // distinct last-used times
  }
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(is_rejection(legacy_echo(s.port(), sids[i], 10 + i, "old"), 404))
        << "session " << i << " should have been evicted";
  for (int i = 2; i < 5; ++i)
    EXPECT_TRUE(is_echo(legacy_echo(s.port(), sids[i], 10 + i, "kept"), 10 + i, "kept"))
        << "session " << i;
  expect_serving(s);
  // New sessions can still be made.
  EXPECT_FALSE(legacy_session(s.port()).empty());
}

TEST(HttpBadInput, LegacyIdleSessionExpires) {
  server s({"--session-idle-seconds", "1"});
  auto idle = legacy_session(s.port());
  auto busy = legacy_session(s.port());
  ASSERT_FALSE(idle.empty());
  ASSERT_FALSE(busy.empty());
  auto start = steady::now();
  int n = 0;
  while (steady::now() - start < 2500ms) {
    std::this_thread::sleep_for(400ms);
    EXPECT_TRUE(is_echo(legacy_echo(s.port(), busy, 100 + n, "tick"), 100 + n, "tick"));
    ++n;
  }
  EXPECT_TRUE(is_rejection(legacy_echo(s.port(), idle, 1, "late"), 404));
  EXPECT_TRUE(is_echo(legacy_echo(s.port(), busy, 2, "alive"), 2, "alive"));
  expect_serving(s);
}

// ======================================================================================
// 2026-07-28 header validation
// ======================================================================================

TEST(HttpBadInput, ModernMissingProtocolVersionHeaderIs32020) {
  server s;
  auto h = post_headers({{"Mcp-Method", "tools/call"}, {"Mcp-Name", "echo"}});
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), h, modern_call(7, "echo", {{"text", "x"}})));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value(7))) << show(r);
  // A header that disagrees with _meta.
  auto body = modern_call("v", "echo", {{"text", "x"}}, modern_meta("2025-11-25"));
  r = plexus::testing::http::exchange(s.port(),
                                      post(s.port(), modern_headers("tools/call", "echo"), body));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value("v"))) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, ModernUnsupportedVersionIs32022) {
  server s;
  auto body = modern_call(8, "echo", {{"text", "x"}}, modern_meta("2099-01-01"));
  auto h = modern_headers("tools/call", "echo", {});
  for (auto& [k, v] : h)
    if (k == "MCP-Protocol-Version") v = "2099-01-01";
  auto r = plexus::testing::http::exchange(s.port(), post(s.port(), h, body));
  EXPECT_TRUE(is_error(r, 400, -32022, bj::value(8))) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, ModernMcpMethodMismatchIs32020) {
  server s;
  auto body = modern_call(1, "echo", {{"text", "x"}});
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/list", "echo"), body));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value(1))) << show(r);
  // Missing altogether.
  auto h = post_headers({{"MCP-Protocol-Version", kModern}, {"Mcp-Name", "echo"}});
  r = plexus::testing::http::exchange(s.port(), post(s.port(), h, body));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value(1))) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, ModernMcpNameMissingOrWrongIs32020) {
  server s;
  auto body = modern_call(2, "echo", {{"text", "x"}});
  auto r =
      plexus::testing::http::exchange(s.port(), post(s.port(), modern_headers("tools/call"), body));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value(2))) << show(r);
  r = plexus::testing::http::exchange(s.port(),
                                      post(s.port(), modern_headers("tools/call", "add"), body));
  EXPECT_TRUE(is_error(r, 400, -32020, bj::value(2))) << show(r);
  // The Base64 form of the right name is accepted ("echo").
  r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/call", "=?base64?ZWNobw==?="), body));
  EXPECT_TRUE(is_echo(r, 2, "x"));
  expect_serving(s);
}

TEST(HttpBadInput, ModernMissingMetaIs32602) {
  server s;
  auto body = message(3, "tools/call", call_params("echo", {{"text", "x"}}));
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/call", "echo"), body));
  EXPECT_TRUE(is_error(r, 400, -32602, bj::value(3))) << show(r);
  // _meta present but without the required clientCapabilities.
  auto p = call_params("echo", {{"text", "x"}});
  p["_meta"] = bj::object{{"io.modelcontextprotocol/protocolVersion", kModern}};
  r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("tools/call", "echo"), message(4, "tools/call", p)));
  EXPECT_TRUE(is_error(r, 400, -32602, bj::value(4))) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, ModernUnknownMethodIs404MethodNotFound) {
  server s;
  bj::object p{{"_meta", modern_meta()}};
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("no/such_method"), message(5, "no/such_method", p)));
  EXPECT_TRUE(is_error(r, 404, -32601, bj::value(5))) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, ModernInitializeIs404MethodNotFound) {
  server s;
  bj::object p{{"protocolVersion", kModern},
               {"capabilities", bj::object{}},
               {"clientInfo", bj::object{{"name", "t"}, {"version", "1"}}},
               {"_meta", modern_meta()}};
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("initialize"), message(6, "initialize", p)));
  EXPECT_TRUE(is_error(r, 404, -32601, bj::value(6))) << show(r);
  EXPECT_FALSE(r && r->header("mcp-session-id")) << "a 2026 answer must not mint a session";
  expect_serving(s);
}

TEST(HttpBadInput, ModernGetAndDeleteAre405) {
  server s;
  for (std::string method : {"GET", "DELETE"}) {
    SCOPED_TRACE(method);
    auto r = plexus::testing::http::exchange(
        s.port(), plexus::testing::http::build_request(
                      method, "/mcp", s.port(),
                      {{"Accept", "text/event-stream"}, {"MCP-Protocol-Version", kModern}}));
    EXPECT_TRUE(is_rejection(r, 405)) << show(r);
    ASSERT_TRUE(r);
    auto allow = r->header("allow");
    EXPECT_TRUE(allow && allow->find("POST") != std::string::npos) << show(r);
  }
  expect_serving(s);
}

TEST(HttpBadInput, ModernNotificationIs202) {
  server s;
  bj::object n{{"jsonrpc", "2.0"},
               {"method", "notifications/cancelled"},
               {"params", bj::object{{"requestId", 99}, {"_meta", modern_meta()}}}};
  auto r = plexus::testing::http::exchange(
      s.port(), post(s.port(), modern_headers("notifications/cancelled"), bj::serialize(n)));
  EXPECT_TRUE(has_status(r, 202)) << show(r);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->body.empty()) << show(r);
  EXPECT_FALSE(r->header("mcp-session-id"));
  expect_serving(s);
}

// ======================================================================================
// Host / Origin (DNS rebinding) and CORS
// ======================================================================================

TEST(HttpBadInput, HostAndOriginChecks) {
  server s;
  const std::string p = std::to_string(s.port());
  for (const std::string& host : std::vector<std::string>{
           "evil.example.com", "evil.example.com:" + p, "127.0.0.1.evil.com"}) {
    SCOPED_TRACE("Host: " + host);
    auto r =
        plexus::testing::http::exchange(s.port(), echo_request(s.port(), 1, "x", {{"Host", host}}));
    EXPECT_TRUE(is_rejection(r, 403)) << show(r);
  }
  // Also on the HTTP+SSE endpoint.
  auto r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request(
                    "GET", "/sse", s.port(),
                    {{"Host", "evil.example.com"}, {"Accept", "text/event-stream"}}));
  EXPECT_TRUE(is_rejection(r, 403)) << show(r);

  for (const std::string& origin :
       std::vector<std::string>{"http://evil.example.com", "http://evil.example.com:" + p, "null",
                                "http://localhost.evil.example.com"}) {
    SCOPED_TRACE("Origin: " + origin);
    r = plexus::testing::http::exchange(s.port(),
                                        echo_request(s.port(), 2, "x", {{"Origin", origin}}));
    EXPECT_TRUE(is_rejection(r, 403)) << show(r);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->header("access-control-allow-origin")) << show(r);
  }
  expect_serving(s);

  // Loopback Host names and Origins are allowed; the Origin is echoed for CORS.
  const std::string origin = "http://localhost:" + p;
  r = plexus::testing::http::exchange(
      s.port(),
      echo_request(s.port(), 3, "cors", {{"Host", "localhost:" + p}, {"Origin", origin}}));
  EXPECT_TRUE(is_echo(r, 3, "cors"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), origin) << show(r);

  // Preflight.
  r = plexus::testing::http::exchange(
      s.port(),
      plexus::testing::http::build_request(
          "OPTIONS", "/mcp", s.port(),
          {{"Origin", origin},
           {"Access-Control-Request-Method", "POST"},
           {"Access-Control-Request-Headers", "content-type, mcp-protocol-version, mcp-method"}}));
  EXPECT_TRUE(has_status(r, 204)) << show(r);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), origin) << show(r);
  EXPECT_NE(r->header("access-control-allow-methods").value_or("").find("POST"), std::string::npos)
      << show(r);
  EXPECT_NE(plexus::testing::http::lower(r->header("access-control-allow-headers").value_or(""))
                .find("mcp-protocol-version"),
            std::string::npos)
      << show(r);
  // A preflight from a foreign origin is refused.
  r = plexus::testing::http::exchange(
      s.port(), plexus::testing::http::build_request("OPTIONS", "/mcp", s.port(),
                                                     {{"Origin", "http://evil.example.com"},
                                                      {"Access-Control-Request-Method", "POST"}}));
  EXPECT_TRUE(is_rejection(r, 403)) << show(r);
  expect_serving(s);
}

TEST(HttpBadInput, AllowedOriginOption) {
  server s({"--allowed-origin", "https://app.example.com"});
  auto r = plexus::testing::http::exchange(
      s.port(), echo_request(s.port(), 1, "ok", {{"Origin", "https://app.example.com"}}));
  EXPECT_TRUE(is_echo(r, 1, "ok"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), "https://app.example.com");
  r = plexus::testing::http::exchange(
      s.port(), echo_request(s.port(), 2, "no", {{"Origin", "https://evil.example.com"}}));
  EXPECT_TRUE(is_rejection(r, 403)) << show(r);
  expect_serving(s);
}

// ======================================================================================
// Slow, vanishing and many clients
// ======================================================================================

TEST(HttpBadInput, SlowLorisDoesNotStarveOthers) {
  server s;
  const std::string slow_request = echo_request(s.port(), "slow", "never");
  std::vector<client> slow;
  slow.reserve(50);
  for (int i = 0; i < 50; ++i) {
    slow.emplace_back(s.port());
    ASSERT_TRUE(slow.back().connected()) << i;
  }
  for (std::size_t byte = 0; byte < 3; ++byte) {
    for (auto& c : slow) EXPECT_TRUE(c.send(slow_request.substr(byte, 1)));
    // A normal client is served promptly meanwhile.
    auto start = steady::now();
    auto r =
        plexus::testing::http::exchange(s.port(), echo_request(s.port(), int(byte), "fast"), 5s);
    EXPECT_TRUE(is_echo(r, int(byte), "fast"));
    EXPECT_LT(steady::now() - start, 1s);
    std::this_thread::sleep_for(1s);
  }
  // None of the slow requests was answered (they are incomplete).
  for (auto& c : slow) EXPECT_TRUE(c.buffered().empty());
  expect_serving(s, 1s);
}

// With one handler thread, serving anyone else promptly after the disconnect
// requires that closing the SSE answer cancelled the call (2026: closing the
// response stream is the cancellation signal).
TEST(HttpBadInput, ClientDisconnectMidStream) {
  server s({"--workers", "1"});
  auto meta = modern_meta();
  meta["progressToken"] = "p1";
  auto body = modern_call("long", "long_running_operation", {{"duration", 5}, {"steps", 50}}, meta);
  client c(s.port());
  ASSERT_TRUE(c.send(post(s.port(), modern_headers("tools/call", "long_running_operation"), body)));
  auto head = c.read_head(5s);
  ASSERT_TRUE(head);
  ASSERT_EQ(head->status, 200) << show(head);
  EXPECT_EQ(head->header("content-type").value_or(""), "text/event-stream");
  EXPECT_EQ(head->header("x-accel-buffering").value_or(""), "no");
  auto e = c.next_event(5s);
  ASSERT_TRUE(e);
  auto v = parse(e->data);
  ASSERT_TRUE(v) << e->data;
  EXPECT_EQ(v->at("method"), "notifications/progress") << e->data;
  EXPECT_EQ(v->at("params").at("progressToken"), "p1") << e->data;
  c.close();
  expect_serving(s, 1s);
  // The same again, with an abortive close, a few times in a row.
  for (int i = 0; i < 3; ++i) {
    client d(s.port());
    ASSERT_TRUE(d.send(
        post(s.port(), modern_headers("tools/call", "long_running_operation"),
             modern_call(i, "long_running_operation", {{"duration", 5}, {"steps", 50}}, meta))));
    ASSERT_TRUE(d.read_head(5s));
    ASSERT_TRUE(d.next_event(5s));
    d.abort();
  }
  expect_serving(s, 1s);
}

TEST(HttpBadInput, ThousandConcurrentKeepAliveConnections) {
  constexpr int kConnections = 1000;
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  const rlim_t want = 4096;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ASSERT_GE(rl.rlim_cur, rlim_t(kConnections + 200)) << "RLIMIT_NOFILE too low";
  server s;  // inherits the raised limit
  std::vector<client> clients;
  clients.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    clients.emplace_back(s.port());
    ASSERT_TRUE(clients.back().connected())
        << "connection " << i << ": errno " << clients.back().connect_error();
  }
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (int i = 0; i < kConnections; ++i)
      ASSERT_TRUE(clients[i].send(
          echo_request(s.port(), i, "c" + std::to_string(i) + "r" + std::to_string(round))))
          << i;
    int ok = 0;
    auto deadline = steady::now() + 30s;
    for (int i = 0; i < kConnections; ++i) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      auto r = clients[i].read_response(std::max(left, std::chrono::milliseconds(10)));
      auto want_text = "c" + std::to_string(i) + "r" + std::to_string(round);
      if (is_echo(r, i, want_text))
        ++ok;
      else
        ADD_FAILURE() << "connection " << i << ": " << show(r);
      if (r && r->header("connection").value_or("") == "close")
        ADD_FAILURE() << "connection " << i << " not kept alive";
    }
    EXPECT_EQ(ok, kConnections);
  }
  for (auto& c : clients) c.close();
  clients.clear();
  std::this_thread::sleep_for(100ms);
  expect_serving(s);
}

// ======================================================================================
// 2024-11-05 HTTP+SSE
// ======================================================================================

TEST(HttpBadInput, LegacyHttpSseTransport) {
  server s;
  client sse(s.port());
  ASSERT_TRUE(sse.send_request("GET", "/sse", {{"Accept", "text/event-stream"}}));
  auto head = sse.read_head(5s);
  ASSERT_TRUE(head);
  ASSERT_EQ(head->status, 200) << show(head);
  EXPECT_EQ(head->header("content-type").value_or(""), "text/event-stream");
  auto ep = sse.next_event(5s);
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->event, "endpoint");
  const std::string prefix = "/messages?sessionId=";
  ASSERT_EQ(ep->data.rfind(prefix, 0), 0u) << ep->data;
  const std::string endpoint = ep->data;
  EXPECT_GT(endpoint.size(), prefix.size() + 16) << endpoint;

  auto send = [&](const std::string& body, std::string_view target) {
    return plexus::testing::http::exchange(
        s.port(), post(s.port(), {{"Content-Type", "application/json"}}, body, target));
  };
  auto r = send(legacy_initialize_body(1, "2024-11-05"), endpoint);
  EXPECT_TRUE(has_status(r, 202)) << show(r);
  auto e = sse.next_event(5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "message");
  auto v = parse(e->data);
  ASSERT_TRUE(v) << e->data;
  EXPECT_EQ(v->at("id"), 1) << e->data;
  EXPECT_EQ(v->at("result").at("protocolVersion"), "2024-11-05") << e->data;

  r = send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", endpoint);
  EXPECT_TRUE(has_status(r, 202)) << show(r);
  r = send(message(2, "tools/call", call_params("echo", {{"text", "over sse"}})), endpoint);
  EXPECT_TRUE(has_status(r, 202)) << show(r);
  e = sse.next_event(5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, "message");
  v = parse(e->data);
  ASSERT_TRUE(v) << e->data;
  EXPECT_EQ(v->at("id"), 2) << e->data;
  EXPECT_EQ(tool_text(*v), "over sse") << e->data;

  // Unknown or missing session ids.
  r = send(message(3, "tools/list", {}), "/messages?sessionId=" + std::string(32, 'f'));
  EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  r = send(message(3, "tools/list", {}), "/messages");
  EXPECT_TRUE(is_rejection(r, 404)) << show(r);
  // The HTTP+SSE session id is not a Streamable HTTP session.
  auto sid = endpoint.substr(prefix.size());
  EXPECT_TRUE(is_rejection(legacy_echo(s.port(), sid, 4, "x"), 404));
  // Wrong Content-Type on the message endpoint.
  r = plexus::testing::http::exchange(s.port(), post(s.port(), {{"Content-Type", "text/plain"}},
                                                     message(5, "tools/list", {}), endpoint));
  EXPECT_TRUE(is_rejection(r, 415)) << show(r);

  // Closing the stream ends the session.
  sse.close();
  auto deadline = steady::now() + 3s;
  std::optional<response> last;
  while (steady::now() < deadline) {
    last = send(message(6, "tools/list", {}), endpoint);
    if (last && last->status == 404) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(is_rejection(last, 404)) << "session outlived its SSE stream: " << show(last);
  expect_serving(s);
}

// ======================================================================================
// Graceful shutdown
// ======================================================================================

TEST(HttpBadInput, SigtermLetsCallInFlightFinish) {
  server s({"--shutdown-grace-seconds", "5"});
  client c(s.port());
  ASSERT_TRUE(c.send(
      post(s.port(), modern_headers("tools/call", "long_running_operation"),
           modern_call("long", "long_running_operation", {{"duration", 1.5}, {"steps", 3}}))));
  std::this_thread::sleep_for(300ms);
  auto start = steady::now();
  ASSERT_EQ(::kill(s.proc().pid(), SIGTERM), 0);
  // New connections are refused meanwhile.
  std::this_thread::sleep_for(300ms);
  {
    client late(s.port(), 1s);
    if (late.connected()) {
      late.send(echo_request(s.port(), 1, "late"));
      auto r = late.read_response(3s);
      EXPECT_FALSE(r) << "served a new request while shutting down: " << show(r);
    }
  }
  auto r = c.read_response(5s);
  ASSERT_TRUE(is_result(r, "long")) << show(r);
  EXPECT_NE(tool_text(*parse(r->body)).find("completed"), std::string::npos) << show(r);
  auto st = s.proc().wait_exit(5s);
  ASSERT_TRUE(st) << "server still running after the call finished";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "status " << *st;
  EXPECT_LT(steady::now() - start, 4s);
}

TEST(HttpBadInput, SigtermGraceExpiresForOverlongCall) {
  server s({"--shutdown-grace-seconds", "1"});
  client c(s.port());
  ASSERT_TRUE(c.send(
      post(s.port(), modern_headers("tools/call", "long_running_operation"),
           modern_call("long", "long_running_operation", {{"duration", 60}, {"steps", 60}}))));
  std::this_thread::sleep_for(300ms);
  auto start = steady::now();
  ASSERT_EQ(::kill(s.proc().pid(), SIGTERM), 0);
  auto st = s.proc().wait_exit(5s);
  ASSERT_TRUE(st) << "server ignored its grace period";
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "status " << *st;
  EXPECT_LT(steady::now() - start, 3s);
  EXPECT_GE(steady::now() - start, 900ms);
  EXPECT_TRUE(c.wait_closed(2s));
}

}  // namespace

TEST(HttpBadInput, ConnectionsBeyondMaxConnectionsAreClosedAtOnce) {
  server s({"--max-connections", "2"});
  client a(s.port()), b(s.port());
  ASSERT_TRUE(a.connected());
  ASSERT_TRUE(b.connected());
  // Both are counted once their first bytes arrive (a request in progress).
  ASSERT_TRUE(a.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  ASSERT_TRUE(b.send("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  std::this_thread::sleep_for(200ms);
  {
    client c(s.port());
    ASSERT_TRUE(c.connected());  // the kernel accepts; the server closes it
    c.send(echo_request(s.port(), "over", "ping"));
    auto r = c.read_response(3s);
    EXPECT_FALSE(r) << show(r);
  }
  a.close();
  b.close();
  std::this_thread::sleep_for(200ms);
  expect_serving(s);  // a slot is free again
}

namespace {
long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}
}  // namespace

TEST(HttpBadInput, ABusyLegacySessionDoesNotGrow) {
  // Every POST of a session got a response stream kept for resumption; a notification's
  // (202, never "finished") stopped the pruning, so one busy session grew without bound
  // (~1 KB per request). Now only SSE answers are kept, at most 64.
  server s;
  auto sid = legacy_session(s.port());
  ASSERT_FALSE(sid.empty());
  client c(s.port());
  ASSERT_TRUE(c.connected());
  auto note = post(s.port(), legacy_headers(sid),
                   R"({"jsonrpc":"2.0","method":"notifications/roots/list_changed"})");
  auto call = post(s.port(), legacy_headers(sid),
                   message(7, "tools/call", call_params("echo", {{"text", "x"}})));
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(c.send(i % 2 ? note : call));
      auto r = c.read_response(5s);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, i % 2 ? 202 : 200) << show(r);
    }
  };
  round(2000);  // warm-up: allocator pools, the first 64 kept streams
  long before = rss_kb(s.proc().pid());
  round(20000);
  long after = rss_kb(s.proc().pid());
  EXPECT_LT(after - before, 4096) << "RSS grew from " << before << " kB to " << after << " kB";
}

TEST(HttpBadInput, AStreamedAnswerLeavesTheConnectionUsable) {
  // An SSE answer is written by a callback writer after the request's coroutines have
  // returned; the connection then goes back to reading requests. The next request on it,
  // sent after the stream or pipelined behind the streamed call, must be served.
  server s({"--workers", "1"});
  auto meta = modern_meta();
  meta["progressToken"] = "p";
  auto streamed =
      post(s.port(), modern_headers("tools/call", "long_running_operation"),
           modern_call(1, "long_running_operation", {{"duration", 0.1}, {"steps", 2}}, meta));
  client c(s.port());
  ASSERT_TRUE(c.connected());
  for (int round = 0; round < 4; ++round) {
    bool pipelined = round % 2 == 1;
    auto echo = echo_request(s.port(), 2, "after " + std::to_string(round));
    ASSERT_TRUE(c.send(pipelined ? streamed + echo : streamed));
    auto head = c.read_head(5s);
    ASSERT_TRUE(head) << "round " << round;
    ASSERT_EQ(head->status, 200) << show(head);
    ASSERT_EQ(head->header("content-type").value_or(""), "text/event-stream") << show(head);
    int progress = 0;
    std::optional<bj::value> result;
    while (auto e = c.next_event(5s)) {
      auto v = parse(e->data);
      ASSERT_TRUE(v) << e->data;
      if (v->as_object().contains("result"))
        result = v;
      else
        ++progress;
    }
    EXPECT_TRUE(c.stream_ends(1s)) << "round " << round;
    EXPECT_GE(progress, 1) << "round " << round;
    ASSERT_TRUE(result) << "round " << round;
    EXPECT_EQ(result->at("id"), 1);
    if (!pipelined) {
      ASSERT_TRUE(c.send(echo));
    }
    auto r = c.read_response(5s);
    ASSERT_TRUE(r) << "round " << round << ": no answer on the same connection";
    EXPECT_TRUE(is_echo(r, 2, "after " + std::to_string(round))) << show(r);
  }
}

TEST(HttpBadInput, ClosingAStreamCancelsItsCallAndFreesTheConnection) {
  // A client that leaves a modern SSE answer cancels the call (the engine sees it), and the
  // server's count of connections goes down: --max-connections 2 would refuse otherwise.
  server s({"--workers", "1", "--max-connections", "2"});
  auto meta = modern_meta();
  meta["progressToken"] = "p";
  for (int i = 0; i < 6; ++i) {
    // The server notices the previous client leaving a moment later: until then a new
    // connection may be refused (closed at once), so try again for a while.
    std::optional<client> c;
    std::optional<response> head;
    for (auto until = steady::now() + 5s; !head && steady::now() < until;) {
      c.emplace(s.port());
      c->send(
          post(s.port(), modern_headers("tools/call", "long_running_operation"),
               modern_call(i, "long_running_operation", {{"duration", 30}, {"steps", 300}}, meta)));
      head = c->read_head(2s);
      if (!head) std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(head) << "stream " << i << " was refused: connections were not given back";
    ASSERT_EQ(head->status, 200) << show(head);
    // With one worker, this progress event means the previous call was cancelled.
    ASSERT_TRUE(c->next_event(5s)) << "stream " << i;
    c->close();
  }
  expect_serving(s, 2s);
}

TEST(HttpBadInput, TheResponseHeadSaysWhetherTheConnectionStays) {
  // Response heads are written as text (not through Beast's response type): each must still
  // frame its body, name the server, and say what becomes of the connection in the request's
  // HTTP version (RFC 9112 §9.3).
  server s;
  auto as_version = [](std::string request, std::string_view version) {
    auto at = request.find(" HTTP/1.1\r\n");
    return request.replace(at + 1, 8, version);
  };
  {
    SCOPED_TRACE("HTTP/1.1, kept alive by default");
    client c(s.port());
    ASSERT_TRUE(c.connected());
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.send(echo_request(s.port(), i, "one")));
      auto r = c.read_response(5s);
      EXPECT_TRUE(is_echo(r, i, "one")) << show(r);
      ASSERT_TRUE(r);
      EXPECT_FALSE(r->header("connection")) << show(r);
      EXPECT_EQ(r->count("content-length"), 1u) << show(r);
      EXPECT_EQ(r->header("content-length").value_or(""), std::to_string(r->body.size()));
      EXPECT_EQ(r->header("content-type").value_or(""), "application/json") << show(r);
      EXPECT_EQ(r->header("server").value_or("").rfind("plexus/", 0), 0u) << show(r);
    }
  }
  {
    SCOPED_TRACE("HTTP/1.1 asking to close");
    client c(s.port());
    ASSERT_TRUE(c.send(echo_request(s.port(), 1, "close", {{"Connection", "close"}})));
    auto r = c.read_response(5s);
    EXPECT_TRUE(is_echo(r, 1, "close")) << show(r);
    ASSERT_TRUE(r);
    EXPECT_EQ(plexus::testing::http::lower(r->header("connection").value_or("")), "close");
    EXPECT_TRUE(c.wait_closed(3s));
  }
  {
    SCOPED_TRACE("HTTP/1.0 asking to stay");
    client c(s.port());
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.send(as_version(
          echo_request(s.port(), i, "ten", {{"Connection", "keep-alive"}}), "HTTP/1.0")));
      auto r = c.read_response(5s);
      EXPECT_TRUE(is_echo(r, i, "ten")) << show(r);
      ASSERT_TRUE(r);
      EXPECT_EQ(plexus::testing::http::lower(r->header("connection").value_or("")), "keep-alive");
    }
  }
  {
    SCOPED_TRACE("HTTP/1.0 by default: closed");
    client c(s.port());
    ASSERT_TRUE(c.send(as_version(echo_request(s.port(), 1, "ten"), "HTTP/1.0")));
    auto r = c.read_response(5s);
    EXPECT_TRUE(is_echo(r, 1, "ten")) << show(r);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->header("connection")) << show(r);
    EXPECT_TRUE(c.wait_closed(3s));
  }
  {
    SCOPED_TRACE("an error with extra fields, a preflight with no body");
    auto r = plexus::testing::http::exchange(
        s.port(), plexus::testing::http::build_request("PUT", "/mcp", s.port()));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << show(r);
    EXPECT_EQ(r->count("allow"), 1u) << show(r);
    EXPECT_EQ(r->header("content-length").value_or(""), std::to_string(r->body.size()));
    r = plexus::testing::http::exchange(
        s.port(), plexus::testing::http::build_request(
                      "OPTIONS", "/mcp", s.port(),
                      {{"Origin", "http://localhost"}, {"Access-Control-Request-Method", "POST"}}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204) << show(r);
    EXPECT_EQ(r->header("content-length").value_or(""), "0") << show(r);
    EXPECT_FALSE(r->header("content-type")) << show(r);
    EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), "http://localhost");
    EXPECT_EQ(r->count("access-control-allow-methods"), 1u) << show(r);
  }
}

TEST(HttpBadInput, ARequestIsReadHoweverItsBytesArrive) {
  // The server parses what it has before it reads again: a head and body in one packet, a body
  // in pieces after its head, byte by byte, and requests pipelined in one write all get their
  // answers, in order, on the same connection.
  server s;
  client c(s.port());
  ASSERT_TRUE(c.connected());
  auto whole = echo_request(s.port(), 1, "whole");
  ASSERT_TRUE(c.send(whole));
  EXPECT_TRUE(is_echo(c.read_response(5s), 1, "whole"));

  auto split = echo_request(s.port(), 2, "split");
  auto head_end = split.find("\r\n\r\n") + 4;
  ASSERT_TRUE(c.send(split.substr(0, head_end)));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(c.send(split.substr(head_end, 10)));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(c.send(split.substr(head_end + 10)));
  EXPECT_TRUE(is_echo(c.read_response(5s), 2, "split"));

  auto bytes = echo_request(s.port(), 3, "bytes");
  for (std::size_t i = 0; i < bytes.size(); i += 7) ASSERT_TRUE(c.send(bytes.substr(i, 7)));
  EXPECT_TRUE(is_echo(c.read_response(5s), 3, "bytes"));

  ASSERT_TRUE(c.send(echo_request(s.port(), 4, "first") + echo_request(s.port(), 5, "second") +
                     echo_request(s.port(), 6, "third")));
  EXPECT_TRUE(is_echo(c.read_response(5s), 4, "first"));
  EXPECT_TRUE(is_echo(c.read_response(5s), 5, "second"));
  EXPECT_TRUE(is_echo(c.read_response(5s), 6, "third"));

  // A connection that ends inside a body is not answered as if it were whole.
  client cut(s.port());
  auto partial = echo_request(s.port(), 7, "cut");
  ASSERT_TRUE(cut.send(partial.substr(0, partial.size() - 5)));
  cut.close_write();
  auto r = cut.read_response(3s);
  EXPECT_FALSE(r && r->status == 200) << show(r);
  expect_serving(s);
}
