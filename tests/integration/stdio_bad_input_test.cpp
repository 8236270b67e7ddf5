// Bad input on the stdio transport, against the real `plexus everything --stdio`.
// Every case checks the exact JSON-RPC answer (code, id echo) and that the
// process is still alive and serving afterwards.
#include "child_process.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace bj = boost::json;
using plexus::testing::child_process;
using namespace std::chrono_literals;

constexpr const char* kModern = "2026-07-28";
constexpr const char* kLatestLegacy = "2025-11-25";

std::unique_ptr<child_process> spawn(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{PLEXUS_BINARY, "everything", "--stdio"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<child_process>(std::move(argv));
}

std::string text(const bj::value& v) {
  return bj::serialize(v);
}

std::string request(const bj::value& id, std::string_view method,
                    std::optional<bj::object> params = std::nullopt) {
  bj::object o{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (params) o["params"] = std::move(*params);
  return text(o);
}

std::string notification(std::string_view method, std::optional<bj::object> params = std::nullopt) {
  bj::object o{{"jsonrpc", "2.0"}, {"method", method}};
  if (params) o["params"] = std::move(*params);
  return text(o);
}

bj::object modern_meta(std::string_view version = kModern, bj::object caps = {}) {
  return {{"io.modelcontextprotocol/protocolVersion", version},
          {"io.modelcontextprotocol/clientCapabilities", std::move(caps)}};
}

// params with a modern _meta envelope added.
bj::object modern(bj::object params = {}, bj::object caps = {}) {
  params["_meta"] = modern_meta(kModern, std::move(caps));
  return params;
}

bj::object call_params(std::string_view tool, bj::object args) {
  return {{"name", tool}, {"arguments", std::move(args)}};
}

// Parses one stdout line; a failure is recorded and yields null.
bj::value parse_line(const std::string& line) {
  boost::system::error_code ec;
  bj::value v = bj::parse(line, ec);
  if (ec) {
    ADD_FAILURE() << "stdout line is not JSON (" << ec.message() << "): " << line.substr(0, 300);
    return nullptr;
  }
  return v;
}

// The next stdout message, parsed; null (and a failure) on timeout.
bj::value next(child_process& p, std::chrono::milliseconds timeout = 10s) {
  auto line = p.read_line(timeout);
  if (!line) {
    ADD_FAILURE() << "no stdout line within " << timeout.count()
                  << " ms; stderr: " << p.stderr_text();
    return nullptr;
  }
  return parse_line(*line);
}

::testing::AssertionResult is_error(const bj::value& m, const bj::value& id, int code) {
  if (!m.is_object()) return ::testing::AssertionFailure() << "not an object: " << text(m);
  const auto& o = m.get_object();
  auto* jv = o.if_contains("jsonrpc");
  if (!jv || *jv != "2.0") return ::testing::AssertionFailure() << "jsonrpc != 2.0: " << text(m);
  auto* i = o.if_contains("id");
  if (!i || *i != id)
    return ::testing::AssertionFailure() << "id is not " << text(id) << ": " << text(m);
  if (o.contains("result")) return ::testing::AssertionFailure() << "has a result: " << text(m);
  auto* e = o.if_contains("error");
  if (!e || !e->is_object()) return ::testing::AssertionFailure() << "no error: " << text(m);
  auto* c = e->get_object().if_contains("code");
  if (!c || !c->is_int64() || c->get_int64() != code)
    return ::testing::AssertionFailure() << "code is not " << code << ": " << text(m);
  auto* msg = e->get_object().if_contains("message");
  if (!msg || !msg->is_string() || msg->get_string().empty())
    return ::testing::AssertionFailure() << "no message: " << text(m);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_result(const bj::value& m, const bj::value& id) {
  if (!m.is_object()) return ::testing::AssertionFailure() << "not an object: " << text(m);
  const auto& o = m.get_object();
  auto* jv = o.if_contains("jsonrpc");
  if (!jv || *jv != "2.0") return ::testing::AssertionFailure() << "jsonrpc != 2.0: " << text(m);
  auto* i = o.if_contains("id");
  if (!i || *i != id)
    return ::testing::AssertionFailure() << "id is not " << text(id) << ": " << text(m);
  if (o.contains("error")) return ::testing::AssertionFailure() << "has an error: " << text(m);
  auto* r = o.if_contains("result");
  if (!r || !r->is_object())
    return ::testing::AssertionFailure() << "no result object: " << text(m);
  return ::testing::AssertionSuccess();
}

std::string error_message(const bj::value& m) {
  if (auto* e = m.is_object() ? m.get_object().if_contains("error") : nullptr)
    if (auto* s = e->is_object() ? e->get_object().if_contains("message") : nullptr)
      if (s->is_string()) return std::string(s->get_string());
  return {};
}

const bj::value* result_field(const bj::value& m, std::string_view key) {
  if (!m.is_object()) return nullptr;
  auto* r = m.get_object().if_contains("result");
  if (!r || !r->is_object()) return nullptr;
  return r->get_object().if_contains(key);
}

// The text of the first content block of a tools/call result.
std::string tool_text(const bj::value& m) {
  auto* c = result_field(m, "content");
  if (!c || !c->is_array() || c->get_array().empty()) return {};
  auto* t = c->get_array()[0].get_object().if_contains("text");
  return t && t->is_string() ? std::string(t->get_string()) : std::string();
}

bool tool_is_error(const bj::value& m) {
  auto* e = result_field(m, "isError");
  return e && e->is_bool() && e->get_bool();
}

// The process is alive and answers a ping right away (the next line is the answer).
void expect_serving(child_process& p) {
  static int n = 0;
  bj::value id(std::string("alive-") + std::to_string(++n));
  ASSERT_TRUE(p.alive()) << "the server exited; stderr: " << p.stderr_text();
  ASSERT_TRUE(p.write_line(request(id, "ping")));
  auto m = next(p);
  EXPECT_TRUE(is_result(m, id));
  EXPECT_TRUE(p.alive());
}

// Nothing on stdout for `quiet`.
void expect_silence(child_process& p, std::chrono::milliseconds quiet = 300ms) {
  auto line = p.read_line(quiet);
  EXPECT_FALSE(line) << "unexpected answer: " << *line;
}

// Sends a raw line and expects the error answer `code` with `id`, then that the server serves.
void expect_raw_error(child_process& p, std::string_view line, const bj::value& id, int code) {
  SCOPED_TRACE("input: " + std::string(line.substr(0, 200)));
  ASSERT_TRUE(p.write(std::string(line) + "\n"));
  EXPECT_TRUE(is_error(next(p), id, code));
  expect_serving(p);
}

// The legacy handshake; returns the negotiated version.
std::string initialize(child_process& p, std::string_view version = kLatestLegacy) {
  bj::object params{{"protocolVersion", version},
                    {"capabilities", bj::object{}},
                    {"clientInfo", bj::object{{"name", "bad-input-test"}, {"version", "1"}}}};
  EXPECT_TRUE(p.write_line(request("init", "initialize", params)));
  auto m = next(p);
  EXPECT_TRUE(is_result(m, "init"));
  EXPECT_TRUE(p.write_line(notification("notifications/initialized")));
  auto* v = result_field(m, "protocolVersion");
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A request line of exactly `size` bytes (a ping padded through params).
std::string ping_of_size(const bj::value& id, std::size_t size) {
  std::string head =
      R"({"jsonrpc":"2.0","id":)" + text(id) + R"(,"method":"ping","params":{"pad":")";
  std::string tail = R"("}})";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

// ---- malformed JSON and invalid JSON-RPC --------------------------------------

TEST(StdioBadInput, MalformedJsonIsParseErrorWithNullId) {
  auto p = spawn();
  for (auto line :
       {R"(not json)", R"({"jsonrpc":"2.0",,"id":1,"method":"ping"})",
        R"({'jsonrpc':'2.0','id':1,'method':'ping'})",
        R"({"jsonrpc":"2.0","id":1,"method":"ping"}})",
        R"({"jsonrpc":"2.0","id":1,"method":"ping"} {"jsonrpc":"2.0","id":2,"method":"ping"})",
        R"({"jsonrpc":"2.0","id":01,"method":"ping"})", R"(})"})
    expect_raw_error(*p, line, nullptr, -32700);
}

TEST(StdioBadInput, TruncatedJsonIsParseError) {
  auto p = spawn();
  for (auto line : {R"({"jsonrpc":"2.0","id":1,"method":"pi)", R"({"jsonrpc":"2.0","id":1,)",
                    R"({"jsonrpc":"2.0","id":1,"method":"ping")", R"({)", R"([)", R"("abc)"})
    expect_raw_error(*p, line, nullptr, -32700);
}

TEST(StdioBadInput, JsonScalarsAreInvalidRequests) {
  auto p = spawn();
  for (auto line : {R"(42)", R"(-1.5e3)", R"("hello")", R"(true)", R"(null)"})
    expect_raw_error(*p, line, nullptr, -32600);
}

TEST(StdioBadInput, EmptyObjectIsInvalidRequest) {
  auto p = spawn();
  expect_raw_error(*p, "{}", nullptr, -32600);
  expect_raw_error(*p, "  { }  ", nullptr, -32600);
}

// Batches exist only in 2025-03-26: elsewhere an array is one invalid request,
// answered by one error object (JSON-RPC 2.0 §6), not by an array.
TEST(StdioBadInput, ArrayIsRejectedWithOneErrorObjectBeforeInitialize) {
  auto p = spawn();
  expect_raw_error(*p, "[]", nullptr, -32600);
  expect_raw_error(*p, R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])", nullptr, -32600);
  expect_raw_error(*p, "[1,2]", nullptr, -32600);
}

TEST(StdioBadInput, WrongJsonrpcVersionEchoesId) {
  auto p = spawn();
  expect_raw_error(*p, R"({"jsonrpc":"1.0","id":5,"method":"ping"})", 5, -32600);
  expect_raw_error(*p, R"({"jsonrpc":2.0,"id":"five","method":"ping"})", "five", -32600);
  expect_raw_error(*p, R"({"id":6,"method":"ping"})", 6, -32600);
  expect_raw_error(*p, R"({"jsonrpc":null,"id":7,"method":"ping"})", 7, -32600);
}

TEST(StdioBadInput, NullIdIsInvalidRequest) {
  auto p = spawn();
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":null,"method":"ping"})", nullptr, -32600);
}

TEST(StdioBadInput, IdOfWrongTypeIsInvalidRequest) {
  auto p = spawn();
  for (auto id :
       {"1.5", "1.0", "1e3", "true", "false", R"({"a":1})", "[1]", "18446744073709551615"})
    expect_raw_error(*p, std::string(R"({"jsonrpc":"2.0","id":)") + id + R"(,"method":"ping"})",
                     nullptr, -32600);
}

TEST(StdioBadInput, IdsAreEchoedWithTheirType) {
  auto p = spawn();
  for (bj::value id : {bj::value("abc"), bj::value("7"), bj::value(7), bj::value(0), bj::value(-5),
                       bj::value(INT64_MAX), bj::value(""), bj::value("ü\u00e9 \"quoted\"")}) {
    ASSERT_TRUE(p->write_line(request(id, "ping")));
    auto m = next(*p);
    EXPECT_TRUE(is_result(m, id));
    // 7 and "7" are different ids: the type survives.
    if (m.is_object() && m.get_object().contains("id")) {
      EXPECT_EQ(m.get_object().at("id").kind(), id.kind()) << text(m);
    }
  }
}

TEST(StdioBadInput, MethodNotAStringIsInvalidRequest) {
  auto p = spawn();
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":3,"method":42})", 3, -32600);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":"m","method":null})", "m", -32600);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":4,"method":{"name":"ping"}})", 4, -32600);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":5})", 5, -32600);
}

TEST(StdioBadInput, ParamsNotAnObject) {
  auto p = spawn();
  // Not structured at all: an invalid request (JSON-RPC 2.0 §4.2).
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":1,"method":"ping","params":"x"})", 1, -32600);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":2,"method":"ping","params":42})", 2, -32600);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":3,"method":"ping","params":true})", 3, -32600);
  // Structured but by position: MCP params are always named.
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":4,"method":"ping","params":[1]})", 4, -32602);
}

TEST(StdioBadInput, StrayResponsesAreIgnored) {
  auto p = spawn();
  initialize(*p);
  ASSERT_TRUE(p->write_line(R"({"jsonrpc":"2.0","id":99,"result":{}})"));
  ASSERT_TRUE(p->write_line(R"({"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}})"));
  ASSERT_TRUE(
      p->write_line(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"e"}})"));
  expect_silence(*p);
  expect_serving(*p);
}

TEST(StdioBadInput, DeepNestingIsParseErrorNotACrash) {
  auto p = spawn();
  expect_raw_error(*p, std::string(100000, '['), nullptr, -32700);
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":)";
  for (int i = 0; i < 100; ++i) deep += R"({"a":)";
  deep += "1";
  deep += std::string(100, '}') + "}}";
  expect_raw_error(*p, deep, nullptr, -32700);
}

// ---- message size ---------------------------------------------------------------

TEST(StdioBadInput, LineOverTheLimitIsRejectedAndTheNextServed) {
  auto p = spawn({"--max-message-bytes", "1024"});
  std::string big = ping_of_size(1, 2000);
  ASSERT_TRUE(p->write_line(big));
  ASSERT_TRUE(p->write_line(request(2, "ping")));
  auto m = next(*p);
  EXPECT_TRUE(is_error(m, nullptr, -32600));
  EXPECT_NE(error_message(m).find("1024"), std::string::npos) << text(m);
  EXPECT_TRUE(is_result(next(*p), 2));
  expect_serving(*p);
}

TEST(StdioBadInput, LineExactlyAtTheLimitIsAccepted) {
  auto p = spawn({"--max-message-bytes", "1024"});
  ASSERT_TRUE(p->write_line(ping_of_size(1, 1024)));
  EXPECT_TRUE(is_result(next(*p), 1));
  // The CR of a CRLF ending is not part of the message.
  ASSERT_TRUE(p->write(ping_of_size(2, 1024) + "\r\n"));
  EXPECT_TRUE(is_result(next(*p), 2));
  ASSERT_TRUE(p->write_line(ping_of_size(3, 1025)));
  EXPECT_TRUE(is_error(next(*p), nullptr, -32600));
  expect_serving(*p);
}

TEST(StdioBadInput, SeveralOversizedLinesEachGetOneAnswer) {
  auto p = spawn({"--max-message-bytes", "1024"});
  std::string in;
  for (int i = 0; i < 3; ++i) in += ping_of_size(i, 100000) + "\n";
  in += request(10, "ping") + "\n";
  ASSERT_TRUE(p->write(in));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(is_error(next(*p), nullptr, -32600));
  EXPECT_TRUE(is_result(next(*p), 10));
  expect_serving(*p);
}

TEST(StdioBadInput, FiveMiBLineAtTheDefaultLimit) {
  auto p = spawn();
  // A 3 MiB message is under the 4 MiB default: served.
  ASSERT_TRUE(p->write_line(ping_of_size("three", 3 * 1024 * 1024)));
  EXPECT_TRUE(is_result(next(*p, 30s), "three"));
  ASSERT_TRUE(p->write_line(ping_of_size("five", 5 * 1024 * 1024)));
  ASSERT_TRUE(p->write_line(request("after", "ping")));
  auto m = next(*p, 30s);
  EXPECT_TRUE(is_error(m, nullptr, -32600));
  EXPECT_NE(error_message(m).find("4194304"), std::string::npos) << text(m);
  EXPECT_TRUE(is_result(next(*p), "after"));
  expect_serving(*p);
}

TEST(StdioBadInput, HugeLineWithoutNewlineThenEof) {
  for (bool small_limit : {true, false}) {
    SCOPED_TRACE(small_limit ? "limit 1024" : "default limit");
    auto p = small_limit ? spawn({"--max-message-bytes", "1024"}) : spawn();
    std::size_t size = small_limit ? 5000 : 5 * 1024 * 1024;
    ASSERT_TRUE(p->write_line(request(1, "ping")));
    EXPECT_TRUE(is_result(next(*p), 1));
    ASSERT_TRUE(p->write(ping_of_size(2, size)));  // no newline
    p->close_stdin();
    EXPECT_TRUE(is_error(next(*p, 30s), nullptr, -32600));
    auto st = p->wait_exit(5s);
    ASSERT_TRUE(st) << "no exit after EOF";
    EXPECT_TRUE(WIFEXITED(*st));
    EXPECT_EQ(WEXITSTATUS(*st), 0);
    EXPECT_TRUE(p->read_all_lines().empty());
  }
}

TEST(StdioBadInput, LastLineWithoutNewlineIsServedAtEof) {
  auto p = spawn();
  ASSERT_TRUE(p->write(request(1, "ping")));  // no newline
  p->close_stdin();
  EXPECT_TRUE(is_result(next(*p), 1));
  auto st = p->wait_exit(5s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
}

// ---- encoding and framing -----------------------------------------------------

TEST(StdioBadInput, InvalidUtf8InAStringIsParseError) {
  auto p = spawn();
  initialize(*p);
  const std::string head =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":")";
  const std::string tail = R"("}}})";
  for (std::string bad : {std::string("\xff"),
                          std::string("a\xfe"
                                      "b"),
                          std::string("\xc0\xaf"),             // overlong "/"
                          std::string("\xed\xa0\x80"),         // UTF-16 surrogate
                          std::string("\xe2\x82"),             // truncated sequence
                          std::string("\x80"),                 // lone continuation byte
                          std::string("\xf4\x90\x80\x80")}) {  // above U+10FFFF
    expect_raw_error(*p, head + bad + tail, nullptr, -32700);
  }
  // Valid multi-byte UTF-8 goes through untouched.
  std::string good = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
  ASSERT_TRUE(p->write_line(head + good + tail));
  auto m = next(*p);
  EXPECT_TRUE(is_result(m, 1));
  EXPECT_EQ(tool_text(m), good);
}

TEST(StdioBadInput, EmbeddedNul) {
  auto p = spawn();
  initialize(*p);
  using namespace std::string_literals;
  // A raw NUL is a control character: not allowed inside a JSON string, nor between tokens.
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":1,"method":"pi)"s + '\0' + R"(ng"})", nullptr,
                   -32700);
  expect_raw_error(*p, R"({"jsonrpc":"2.0","id":1,"method":"ping"})"s + '\0', nullptr, -32700);
  expect_raw_error(*p, "\0"s, nullptr, -32700);
  // An escaped NUL is fine and survives the round trip.
  ASSERT_TRUE(p->write_line(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a\u0000b"}}})"));
  auto m = next(*p);
  EXPECT_TRUE(is_result(m, 2));
  EXPECT_EQ(tool_text(m), "a\0b"s);
}

TEST(StdioBadInput, CrlfLineEndingsAccepted) {
  auto p = spawn();
  ASSERT_TRUE(p->write(request(1, "ping") + "\r\n"));
  auto line = p->read_line(10s);
  ASSERT_TRUE(line);
  EXPECT_TRUE(is_result(parse_line(*line), 1));
  EXPECT_EQ(line->find('\r'), std::string::npos) << "answers end with a bare LF";
  // A whole CRLF session, including the handshake.
  ASSERT_TRUE(p->write(request("i", "initialize",
                               bj::object{{"protocolVersion", kLatestLegacy},
                                          {"capabilities", bj::object{}},
                                          {"clientInfo", {{"name", "t"}, {"version", "1"}}}}) +
                       "\r\n" + notification("notifications/initialized") + "\r\n" +
                       request(2, "tools/list") + "\r\n"));
  EXPECT_TRUE(is_result(next(*p), "i"));
  auto tools = next(*p);
  EXPECT_TRUE(is_result(tools, 2));
  expect_serving(*p);
}

TEST(StdioBadInput, BlankLinesIgnored) {
  auto p = spawn();
  ASSERT_TRUE(p->write("\n\n   \n\t\n\r\n \t \r\n"));
  expect_silence(*p);
  ASSERT_TRUE(p->write("\n" + request(1, "ping") + "\n\n"));
  EXPECT_TRUE(is_result(next(*p), 1));
  expect_silence(*p, 200ms);
  expect_serving(*p);
}

// ---- methods --------------------------------------------------------------------

TEST(StdioBadInput, UnknownMethodLegacy) {
  auto p = spawn();
  initialize(*p);
  expect_raw_error(*p, request(1, "foo/bar"), 1, -32601);
  expect_raw_error(*p, request("x", "tools/frobnicate", bj::object{}), "x", -32601);
  // Methods of the other era or direction are unknown here too.
  expect_raw_error(*p, request(2, "server/discover"), 2, -32601);
  expect_raw_error(*p, request(3, "sampling/createMessage", bj::object{}), 3, -32601);
}

TEST(StdioBadInput, UnknownMethodModern) {
  auto p = spawn();
  expect_raw_error(*p, request(1, "foo/bar", modern()), 1, -32601);
  expect_raw_error(*p, request("y", "resources/subscribe", modern({{"uri", "x://y"}})), "y",
                   -32601);
  // A modern request works without any handshake.
  ASSERT_TRUE(p->write_line(request(2, "tools/list", modern())));
  auto m = next(*p);
  EXPECT_TRUE(is_result(m, 2));
  auto* tools = result_field(m, "tools");
  EXPECT_TRUE(tools && tools->is_array() && !tools->get_array().empty()) << text(m);
}

TEST(StdioBadInput, UnknownNotificationGetsNoAnswer) {
  auto p = spawn();
  ASSERT_TRUE(p->write_line(notification("notifications/what_is_this")));
  ASSERT_TRUE(p->write_line(notification("foo/bar", bj::object{{"a", 1}})));
  ASSERT_TRUE(p->write_line(notification("foo/bar", modern())));
  ASSERT_TRUE(
      p->write_line(notification("notifications/cancelled", bj::object{{"requestId", 404}})));
  ASSERT_TRUE(p->write_line(notification("notifications/cancelled")));
  expect_silence(*p);
  expect_serving(*p);
  initialize(*p);
  ASSERT_TRUE(p->write_line(notification("foo/bar")));
  ASSERT_TRUE(
      p->write_line(notification("tools/list")));  // a request method sent as a notification
  expect_silence(*p);
  expect_serving(*p);
}

// ---- legacy lifecycle -----------------------------------------------------------

TEST(StdioBadInput, RequestsBeforeInitialize) {
  auto p = spawn();
  for (auto method : {"tools/list", "tools/call", "resources/list", "prompts/list"}) {
    SCOPED_TRACE(method);
    ASSERT_TRUE(p->write_line(request(method, method, bj::object{{"name", "echo"}})));
    auto m = next(*p);
    EXPECT_TRUE(is_error(m, method, -32602));
    EXPECT_NE(error_message(m).find("initialize"), std::string::npos) << text(m);
  }
  // ping is allowed before initialize.
  ASSERT_TRUE(p->write_line(request(1, "ping")));
  auto pong = next(*p);
  EXPECT_TRUE(is_result(pong, 1));
  EXPECT_EQ(pong.at("result"), bj::object{});
  // And the session can still be opened.
  EXPECT_EQ(initialize(*p), kLatestLegacy);
  ASSERT_TRUE(p->write_line(request(2, "tools/list")));
  EXPECT_TRUE(is_result(next(*p), 2));
}

TEST(StdioBadInput, DoubleInitializeIsInvalidRequest) {
  auto p = spawn();
  EXPECT_EQ(initialize(*p, "2025-06-18"), "2025-06-18");
  ASSERT_TRUE(p->write_line(
      request(2, "initialize",
              bj::object{{"protocolVersion", "2025-03-26"}, {"capabilities", bj::object{}}})));
  EXPECT_TRUE(is_error(next(*p), 2, -32600));
  // The first session is unchanged: still 2025-06-18, which lists output schemas
  // (2025-03-26 would not).
  ASSERT_TRUE(p->write_line(request(3, "tools/list")));
  auto m = next(*p);
  ASSERT_TRUE(is_result(m, 3));
  bool has_output_schema = false;
  if (auto* tools = result_field(m, "tools"); tools && tools->is_array())
    for (const auto& t : tools->get_array())
      has_output_schema |= t.is_object() && t.get_object().contains("outputSchema");
  EXPECT_TRUE(has_output_schema) << text(m);
  expect_serving(*p);
}

TEST(StdioBadInput, InitializeWithoutProtocolVersion) {
  auto p = spawn();
  ASSERT_TRUE(p->write_line(request(1, "initialize", bj::object{{"capabilities", bj::object{}}})));
  EXPECT_TRUE(is_error(next(*p), 1, -32602));
  EXPECT_EQ(initialize(*p), kLatestLegacy);  // not consumed by the failed attempt
}

TEST(StdioBadInput, InitializeWithUnknownVersionGetsLatestLegacy) {
  for (auto version : {"1999-01-01", "2026-07-28", "v999", ""}) {
    SCOPED_TRACE(version);
    auto p = spawn();
    EXPECT_EQ(initialize(*p, version), kLatestLegacy);
    expect_serving(*p);
  }
  for (auto version : {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}) {
    SCOPED_TRACE(version);
    auto p = spawn();
    EXPECT_EQ(initialize(*p, version), version);
  }
}

TEST(StdioBadInput, Batch2025_03_26) {
  auto p = spawn();
  ASSERT_EQ(initialize(*p, "2025-03-26"), "2025-03-26");
  ASSERT_TRUE(p->write_line("[" + request(1, "ping") + "," + request(2, "tools/list") + "," +
                            notification("notifications/whatever") + "]"));
  auto m = next(*p);
  ASSERT_TRUE(m.is_array()) << text(m);
  ASSERT_EQ(m.get_array().size(), 2u) << text(m);
  std::set<std::int64_t> ids;
  for (const auto& r : m.get_array()) {
    ASSERT_TRUE(r.is_object() && r.get_object().contains("id")) << text(r);
    const auto& id = r.at("id");
    EXPECT_TRUE(is_result(r, id));
    if (id.is_int64()) ids.insert(id.get_int64());
  }
  EXPECT_EQ(ids, (std::set<std::int64_t>{1, 2}));
  expect_silence(*p, 200ms);
  expect_serving(*p);
}

TEST(StdioBadInput, Batch2025_03_26EdgeCases) {
  auto p = spawn();
  ASSERT_EQ(initialize(*p, "2025-03-26"), "2025-03-26");
  // An empty array: one error object, not an array (JSON-RPC 2.0 §6).
  expect_raw_error(*p, "[]", nullptr, -32600);
  // Invalid members: an array with one error per member.
  ASSERT_TRUE(p->write_line("[1," + request(5, "ping") + "]"));
  auto m = next(*p);
  ASSERT_TRUE(m.is_array()) << text(m);
  ASSERT_EQ(m.get_array().size(), 2u) << text(m);
  int errors = 0, results = 0;
  for (const auto& r : m.get_array()) {
    if (is_error(r, nullptr, -32600)) ++errors;
    if (is_result(r, 5)) ++results;
  }
  EXPECT_EQ(errors, 1) << text(m);
  EXPECT_EQ(results, 1) << text(m);
  // initialize must not be part of a batch.
  ASSERT_TRUE(p->write_line(
      "[" + request(6, "initialize", bj::object{{"protocolVersion", "2025-03-26"}}) + "]"));
  m = next(*p);
  ASSERT_TRUE(m.is_array() && m.get_array().size() == 1) << text(m);
  EXPECT_TRUE(is_error(m.get_array()[0], 6, -32600));
  // Only notifications: no answer at all.
  ASSERT_TRUE(p->write_line("[" + notification("notifications/a") + "," +
                            notification("notifications/b") + "]"));
  expect_silence(*p);
  expect_serving(*p);
}

TEST(StdioBadInput, BatchRejectedOutside2025_03_26) {
  for (auto version : {"2025-06-18", "2025-11-25", "2024-11-05"}) {
    SCOPED_TRACE(version);
    auto p = spawn();
    ASSERT_EQ(initialize(*p, version), version);
    ASSERT_TRUE(p->write_line("[" + request(1, "ping") + "," + request(2, "ping") + "]"));
    auto m = next(*p);
    EXPECT_TRUE(is_error(m, nullptr, -32600));
    expect_silence(*p, 200ms);  // neither member was run
    expect_serving(*p);
  }
}

// ---- modern envelope --------------------------------------------------------------

TEST(StdioBadInput, ModernMissingClientCapabilities) {
  auto p = spawn();
  bj::object no_caps{{"_meta", bj::object{{"io.modelcontextprotocol/protocolVersion", kModern}}}};
  ASSERT_TRUE(p->write_line(request(1, "tools/list", no_caps)));
  auto m = next(*p);
  EXPECT_TRUE(is_error(m, 1, -32602));
  EXPECT_NE(error_message(m).find("clientCapabilities"), std::string::npos) << text(m);
  bj::object no_version{
      {"_meta", bj::object{{"io.modelcontextprotocol/clientCapabilities", bj::object{}}}}};
  ASSERT_TRUE(p->write_line(request(2, "tools/list", no_version)));
  m = next(*p);
  EXPECT_TRUE(is_error(m, 2, -32602));
  EXPECT_NE(error_message(m).find("protocolVersion"), std::string::npos) << text(m);
  bj::object caps_not_object{
      {"_meta", bj::object{{"io.modelcontextprotocol/protocolVersion", kModern},
                           {"io.modelcontextprotocol/clientCapabilities", "all"}}}};
  expect_raw_error(*p, request(3, "tools/list", caps_not_object), 3, -32602);
}

TEST(StdioBadInput, ModernUnsupportedVersion) {
  auto p = spawn();
  ASSERT_TRUE(p->write_line(request(1, "tools/list", bj::object{{"_meta", modern_meta("v999")}})));
  auto m = next(*p);
  ASSERT_TRUE(is_error(m, 1, -32022));
  const auto& err = m.at("error").get_object();
  ASSERT_TRUE(err.contains("data")) << text(m);
  const auto& data = err.at("data");
  ASSERT_TRUE(data.is_object()) << text(m);
  EXPECT_EQ(data.at("requested"), "v999");
  ASSERT_TRUE(data.get_object().contains("supported") && data.at("supported").is_array());
  bool has_modern = false;
  for (const auto& v : data.at("supported").get_array()) has_modern |= v == kModern;
  EXPECT_TRUE(has_modern) << text(m);
  expect_serving(*p);
}

TEST(StdioBadInput, ModernBadLogLevel) {
  auto p = spawn();
  for (bj::value level : {bj::value("loud"), bj::value(5), bj::value(""), bj::value("DEBUG")}) {
    SCOPED_TRACE(text(level));
    bj::object meta = modern_meta();
    meta["io.modelcontextprotocol/logLevel"] = level;
    expect_raw_error(*p, request(1, "tools/list", bj::object{{"_meta", meta}}), 1, -32602);
  }
  bj::object meta = modern_meta();
  meta["io.modelcontextprotocol/logLevel"] = "debug";
  ASSERT_TRUE(p->write_line(request(2, "tools/list", bj::object{{"_meta", meta}})));
  EXPECT_TRUE(is_result(next(*p), 2));
}

TEST(StdioBadInput, ModernInitializeIsMethodNotFound) {
  auto p = spawn();
  expect_raw_error(*p,
                   request(1, "initialize",
                           modern({{"protocolVersion", kLatestLegacy},
                                   {"capabilities", bj::object{}},
                                   {"clientInfo", {{"name", "t"}, {"version", "1"}}}})),
                   1, -32601);
  // It did not open a legacy session either.
  ASSERT_TRUE(p->write_line(request(2, "tools/list")));
  EXPECT_TRUE(is_error(next(*p), 2, -32602));
}

TEST(StdioBadInput, ModernUnknownTool) {
  auto p = spawn();
  expect_raw_error(*p, request(1, "tools/call", modern(call_params("no_such_tool", {}))), 1,
                   -32602);
  expect_raw_error(*p, request(2, "tools/call", modern({{"arguments", bj::object{}}})), 2, -32602);
  expect_raw_error(*p, request(3, "tools/call", modern({{"name", 42}})), 3, -32602);
}

TEST(StdioBadInput, ModernInvalidArgumentsAreToolErrors) {
  auto p = spawn();
  ASSERT_TRUE(p->write_line(request(1, "tools/call", modern(call_params("echo", {{"text", 5}})))));
  auto m = next(*p);
  ASSERT_TRUE(is_result(m, 1));
  EXPECT_TRUE(tool_is_error(m)) << text(m);
  EXPECT_NE(tool_text(m).find("text"), std::string::npos) << text(m);
  ASSERT_TRUE(p->write_line(
      request(2, "tools/call", modern(call_params("add", {{"a", 1}, {"b", "two"}})))));
  m = next(*p);
  ASSERT_TRUE(is_result(m, 2));
  EXPECT_TRUE(tool_is_error(m)) << text(m);
  EXPECT_NE(tool_text(m).find("b"), std::string::npos) << text(m);
  // arguments that are not an object at all.
  bj::object params = modern({{"name", "echo"}, {"arguments", "text"}});
  expect_raw_error(*p, request(3, "tools/call", params), 3, -32602);
}

TEST(StdioBadInput, ModernTamperedRequestState) {
  auto p = spawn();
  bj::object caps{{"elicitation", bj::object{}}};
  auto first = call_params("test_input_required_result_tampered_state", {});
  ASSERT_TRUE(p->write_line(request(1, "tools/call", modern(first, caps))));
  auto m = next(*p);
  ASSERT_TRUE(is_result(m, 1));
  auto* state = result_field(m, "requestState");
  ASSERT_TRUE(state && state->is_string()) << text(m);
  std::string good(state->get_string());
  ASSERT_GT(good.size(), 20u);
  // Flip one character in the middle of the signature and one in the payload.
  std::vector<std::string> tampered;
  for (std::size_t pos : {good.size() - 10, good.size() / 2}) {
    std::string t = good;
    t[pos] = t[pos] == 'A' ? 'B' : 'A';
    tampered.push_back(t);
  }
  tampered.push_back("not-a-request-state");
  tampered.push_back("");
  bj::object answers{
      {"confirm", bj::object{{"action", "accept"}, {"content", bj::object{{"ok", true}}}}}};
  int id = 10;
  for (const auto& t : tampered) {
    SCOPED_TRACE("requestState: " + t);
    auto retry = first;
    retry["requestState"] = t;
    retry["inputResponses"] = answers;
    ASSERT_TRUE(p->write_line(request(++id, "tools/call", modern(retry, caps))));
    auto r = next(*p);
    ASSERT_TRUE(is_error(r, id, -32602));
    const auto& err = r.at("error").get_object();
    ASSERT_TRUE(err.contains("data") && err.at("data").is_object()) << text(r);
    EXPECT_EQ(err.at("data").at("reason"), "invalid_request_state") << text(r);
  }
  // Not a string at all.
  auto retry = first;
  retry["requestState"] = 42;
  ASSERT_TRUE(p->write_line(request(20, "tools/call", modern(retry, caps))));
  auto r = next(*p);
  ASSERT_TRUE(is_error(r, 20, -32602));
  EXPECT_EQ(r.at("error").at("data").at("reason"), "invalid_request_state") << text(r);
  // The untampered state still works.
  retry = first;
  retry["requestState"] = good;
  retry["inputResponses"] = answers;
  ASSERT_TRUE(p->write_line(request(21, "tools/call", modern(retry, caps))));
  r = next(*p);
  ASSERT_TRUE(is_result(r, 21));
  EXPECT_FALSE(tool_is_error(r)) << text(r);
  EXPECT_NE(tool_text(r).find("accept"), std::string::npos) << text(r);
}

// ---- concurrency, cancellation, EOF ------------------------------------------------

bj::object long_op(double duration, int steps = 4) {
  return call_params("long_running_operation", {{"duration", duration}, {"steps", steps}});
}

TEST(StdioBadInput, DuplicateInFlightIdIsRejected) {
  auto p = spawn();
  initialize(*p);
  ASSERT_TRUE(p->write_line(request(7, "tools/call", long_op(1))));
  ASSERT_TRUE(p->write_line(request(7, "tools/call", long_op(1))));
  auto m = next(*p);
  EXPECT_TRUE(is_error(m, 7, -32600));
  m = next(*p, 10s);
  EXPECT_TRUE(is_result(m, 7));
  EXPECT_FALSE(tool_is_error(m)) << text(m);
  expect_silence(*p, 1500ms);  // the rejected duplicate never ran
  // Once finished, the id can be used again.
  ASSERT_TRUE(p->write_line(request(7, "tools/call", long_op(0))));
  EXPECT_TRUE(is_result(next(*p), 7));
}

TEST(StdioBadInput, SameNumberAndStringIdsAreDifferentRequests) {
  auto p = spawn();
  initialize(*p);
  ASSERT_TRUE(p->write_line(request(7, "tools/call", long_op(0.5))));
  ASSERT_TRUE(p->write_line(request("7", "tools/call", long_op(0.5))));
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    auto m = next(*p);
    ASSERT_TRUE(m.is_object() && m.get_object().contains("result")) << text(m);
    seen.insert(text(m.at("id")));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"7", "\"7\""}));
}

TEST(StdioBadInput, CancelledRequestGetsNoResponse) {
  auto p = spawn();
  initialize(*p);
  ASSERT_TRUE(p->write_line(request("slow", "tools/call", long_op(5, 50))));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(p->write_line(notification("notifications/cancelled",
                                         bj::object{{"requestId", "slow"}, {"reason", "test"}})));
  expect_silence(*p, 1200ms);
  expect_serving(*p);
  // A cancel for an unknown or finished request is ignored.
  ASSERT_TRUE(
      p->write_line(notification("notifications/cancelled", bj::object{{"requestId", "slow"}})));
  ASSERT_TRUE(p->write_line(request("fast", "tools/call", call_params("echo", {{"text", "hi"}}))));
  auto m = next(*p);
  EXPECT_TRUE(is_result(m, "fast"));
  EXPECT_EQ(tool_text(m), "hi");
}

TEST(StdioBadInput, SlowCallDoesNotBlockFastCall) {
  auto p = spawn();
  initialize(*p);
  auto start = child_process::clock::now();
  ASSERT_TRUE(p->write_line(request(1, "tools/call", long_op(1))));
  ASSERT_TRUE(p->write_line(request(2, "tools/call", call_params("echo", {{"text", "quick"}}))));
  auto first = next(*p);
  EXPECT_TRUE(is_result(first, 2));
  EXPECT_EQ(tool_text(first), "quick");
  EXPECT_LT(child_process::clock::now() - start, 800ms);
  auto second = next(*p);
  EXPECT_TRUE(is_result(second, 1));
  EXPECT_FALSE(tool_is_error(second)) << text(second);
}

TEST(StdioBadInput, StdinEofExitsPromptly) {
  {
    auto p = spawn();
    expect_serving(*p);
    p->close_stdin();
    auto st = p->wait_exit(3s);
    ASSERT_TRUE(st) << "idle server did not exit after EOF";
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << *st;
  }
  auto p = spawn();
  initialize(*p);
  ASSERT_TRUE(p->write_line(request("long", "tools/call", long_op(60, 600))));
  std::this_thread::sleep_for(100ms);
  auto start = child_process::clock::now();
  p->close_stdin();
  auto st = p->wait_exit(3s);
  ASSERT_TRUE(st) << "server still running 3 s after EOF with a call in flight";
  EXPECT_LT(child_process::clock::now() - start, 3s);
  EXPECT_TRUE(WIFEXITED(*st)) << *st;
  EXPECT_EQ(WEXITSTATUS(*st), 0);
  for (const auto& line : p->read_all_lines(1s)) {
    auto v = parse_line(line);
    EXPECT_TRUE(v.is_object()) << line;
  }
}

// Every stdout line is one JSON-RPC message (object, or array of them); logs go to stderr.
void expect_jsonrpc_line(const std::string& line) {
  boost::system::error_code ec;
  bj::value v = bj::parse(line, ec);
  ASSERT_FALSE(ec) << "not JSON: " << line.substr(0, 300);
  auto check = [&](const bj::value& m) {
    ASSERT_TRUE(m.is_object()) << line;
    const auto& o = m.get_object();
    EXPECT_EQ(o.if_contains("jsonrpc") ? *o.if_contains("jsonrpc") : bj::value(), "2.0") << line;
    bool response = o.contains("id") && (o.contains("result") != o.contains("error"));
    bool notif = !o.contains("id") && o.contains("method") && o.at("method").is_string();
    bool server_request = o.contains("id") && o.contains("method");
    EXPECT_TRUE(response || notif || server_request) << line;
  };
  if (v.is_array()) {
    EXPECT_FALSE(v.get_array().empty()) << line;
    for (const auto& m : v.get_array()) check(m);
  } else {
    check(v);
  }
}

TEST(StdioBadInput, StdoutCarriesOnlyJsonRpcLogsGoToStderr) {
  // --log-level is an option of the main command; trace makes the server as chatty as it gets.
  auto p = std::make_unique<child_process>(
      std::vector<std::string>{PLEXUS_BINARY, "--log-level", "trace", "everything", "--stdio",
                               "--max-message-bytes", "4096", "--expose-errors"});
  std::string in;
  in += "garbage\n{}\n[]\n42\n" + request(1, "ping") + "\n";
  in += request("init", "initialize",
                bj::object{{"protocolVersion", "2025-03-26"}, {"capabilities", bj::object{}}}) +
        "\n";
  in += notification("notifications/initialized") + "\n";
  in += request(2, "tools/list") + "\n";
  in += request(3, "tools/call",
                bj::object{{"name", "test_tool_with_logging"}, {"arguments", bj::object{}}}) +
        "\n";
  in += request(4, "tools/call",
                bj::object{{"name", "test_tool_with_progress"},
                           {"arguments", bj::object{}},
                           {"_meta", bj::object{{"progressToken", "tok"}}}}) +
        "\n";
  in += request(5, "tools/call",
                bj::object{{"name", "test_error_handling"}, {"arguments", bj::object{}}}) +
        "\n";
  in += "[" + request(6, "ping") + "," + request(7, "nope") + "]\n";
  in += std::string(10000, 'x') + "\n";
  in += "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}\n";
  in += request(9, "tools/call", modern(call_params("echo", {{"text", "modern"}}))) + "\n";
  ASSERT_TRUE(p->write(in));
  p->close_stdin();
  auto lines = p->read_all_lines(15s);
  auto st = p->wait_exit(5s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
  EXPECT_GE(lines.size(), 14u);
  std::set<std::string> answered;
  for (const auto& line : lines) {
    expect_jsonrpc_line(line);
    boost::system::error_code ec;
    auto v = bj::parse(line, ec);
    if (!ec && v.is_object() && v.get_object().contains("id") && !v.get_object().contains("method"))
      answered.insert(text(v.at("id")));
  }
  for (auto id : {"1", "\"init\"", "2", "3", "4", "5", "9"})
    EXPECT_TRUE(answered.count(id)) << "no answer for id " << id;
}

TEST(StdioBadInput, TwoHundredPipelinedRequestsAnsweredOnce) {
  auto p = spawn();
  initialize(*p);
  std::string in;
  for (int i = 0; i < 200; ++i) {
    if (i % 2)
      in += request(i, "ping") + "\n";
    else
      in +=
          request(i, "tools/call", call_params("echo", {{"text", "n" + std::to_string(i)}})) + "\n";
  }
  ASSERT_TRUE(p->write(in));
  std::map<std::int64_t, int> count;
  for (int i = 0; i < 200; ++i) {
    auto m = next(*p);
    ASSERT_TRUE(m.is_object() && m.get_object().contains("id")) << text(m);
    const auto& id = m.at("id");
    ASSERT_TRUE(id.is_int64()) << text(m);
    EXPECT_TRUE(is_result(m, id));
    if (id.get_int64() % 2 == 0) {
      EXPECT_EQ(tool_text(m), "n" + std::to_string(id.get_int64()));
    }
    ++count[id.get_int64()];
  }
  EXPECT_EQ(count.size(), 200u);
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << "id " << id;
  expect_silence(*p, 300ms);
  expect_serving(*p);
}

}  // namespace
