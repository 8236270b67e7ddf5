// JSON-RPC codec: every message kind, every invalid form, batches, and the
// official 2026-07-28 examples (each validated against its schema definition,
// and each JSON-RPC message round-tripped through the codec unchanged).
#include "engine_harness.hpp"

#include "plexus/jsonrpc/message.hpp"

#include <cmath>
#include <filesystem>

using namespace plexus;
namespace rpc = plexus::jsonrpc;

namespace {

rpc::decoded decode(std::string_view s, bool batch = false) {
  return rpc::decode(s, {.max_depth = 64, .allow_batch = batch});
}

int only_error_code(const rpc::decoded& d) {
  EXPECT_TRUE(d.messages.empty());
  EXPECT_EQ(d.errors.size(), 1u);
  return d.errors.empty() ? 0 : d.errors[0].err.code;
}

}  // namespace

TEST(JsonRpc, DecodesEachKind) {
  auto d = decode(R"({"jsonrpc":"2.0","id":"a","method":"m","params":{"x":1}})");
  ASSERT_EQ(d.messages.size(), 1u);
  auto& r = std::get<rpc::request>(d.messages[0]);
  EXPECT_EQ(std::get<std::string>(r.id), "a");
  EXPECT_EQ(r.method, "m");

  d = decode(R"({"jsonrpc":"2.0","method":"n"})");
  EXPECT_TRUE(std::holds_alternative<rpc::notification>(d.messages.at(0)));
  d = decode(R"({"jsonrpc":"2.0","id":7,"result":{}})");
  EXPECT_EQ(std::get<std::int64_t>(std::get<rpc::response>(d.messages.at(0)).id), 7);
}

// Regression: a peer's error response is a message to route, not an error of ours
// to send back (it used to be classified as a decode error and echoed).
TEST(JsonRpc, PeerErrorResponseIsAMessage) {
  auto d = decode(R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}})");
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.messages.size(), 1u);
  auto& e = std::get<rpc::error_response>(d.messages[0]);
  EXPECT_EQ(e.err.code, -1);
  EXPECT_EQ(e.err.message, "no");
  d = decode(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})");
  ASSERT_EQ(d.messages.size(), 1u);
  EXPECT_FALSE(std::get<rpc::error_response>(d.messages[0]).id);
}

TEST(JsonRpc, RejectsInvalidForms) {
  EXPECT_EQ(only_error_code(decode("{")), rpc::codes::parse_error);
  EXPECT_EQ(only_error_code(decode("\"\xff\"")), rpc::codes::parse_error);  // invalid UTF-8
  EXPECT_EQ(only_error_code(decode("42")), rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode("{}")), rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"1.0","id":1,"method":"m"})")),
            rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"2.0","id":null,"method":"m"})")),
            rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"2.0","id":1.5,"method":"m"})")),
            rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"2.0","id":1,"method":3})")),
            rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"2.0","id":1,"method":"m","params":"x"})")),
            rpc::codes::invalid_request);
  EXPECT_EQ(only_error_code(decode(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{}})")),
            rpc::codes::invalid_request);
  // The id is echoed when it could be read.
  auto d = decode(R"({"jsonrpc":"1.0","id":9,"method":"m"})");
  EXPECT_EQ(std::get<std::int64_t>(*d.errors.at(0).id), 9);
  // Nesting deeper than the limit is a parse error, not a crash.
  std::string deep(100000, '[');
  EXPECT_EQ(only_error_code(decode(deep)), rpc::codes::parse_error);
}

TEST(JsonRpc, BatchesOnlyWhenAllowed) {
  std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"a"},{"bad":1},{"jsonrpc":"2.0","method":"n"}])";
  auto d = decode(batch, false);
  EXPECT_FALSE(d.batch);  // one invalid request: answered with one error object
  EXPECT_EQ(only_error_code(d), rpc::codes::invalid_request);
  d = decode(batch, true);
  EXPECT_TRUE(d.batch);
  EXPECT_EQ(d.messages.size(), 2u);
  EXPECT_EQ(d.errors.size(), 1u);
  d = decode("[]", true);
  EXPECT_FALSE(d.batch);
  EXPECT_EQ(only_error_code(d), rpc::codes::invalid_request);
}

TEST(JsonRpc, EncodesWithoutEmbeddedNewlines) {
  auto s = rpc::encode(rpc::notification{"m", json::object{{"t", "a\nb\r\u2028"}}});
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_EQ(s.find('\r'), std::string::npos);
}

TEST(JsonRpc, EncodeWritesWhatToJsonDescribes) {
  // encode() writes the envelope directly; it must say exactly what to_json() builds.
  std::vector<rpc::message> all{
      rpc::request{rpc::request_id{std::int64_t{7}}, "tools/call",
                   json::object{{"name", "echo"}, {"arguments", json::object{{"t", "x"}}}}},
      rpc::request{rpc::request_id{std::string("a\"b\\c\n")}, "ping", nullptr},
      rpc::notification{"notifications/progress", json::object{{"progress", 0.5}}},
      rpc::notification{"notifications/initialized", nullptr},
      rpc::response{rpc::request_id{std::int64_t{-3}},
                    json::object{{"content", json::array{json::object{{"text", "\u00e9"}}}}}},
      rpc::response{rpc::request_id{std::string("id-1")}, json::object{}},
      rpc::make_error(rpc::request_id{std::int64_t{1}}, -32602, "bad \"args\"",
                      json::object{{"field", "x"}}),
      rpc::make_error(std::nullopt, -32700, "Parse error"),
  };
  for (const auto& m : all) {
    auto text = rpc::encode(m);
    EXPECT_EQ(text, json::dump(rpc::to_json(m)));
    auto back = rpc::decode(text);
    if (!std::holds_alternative<rpc::error_response>(m)) {
      ASSERT_EQ(back.messages.size(), 1u) << text;
      EXPECT_EQ(json::dump(rpc::to_json(back.messages[0])), text);
    }
  }
}

TEST(JsonRpc, EncodeResultAppendsItsMembersToTheResult) {
  // encode_result() must write what encode() writes for the result with those members added.
  rpc::request_id id{std::string("r\"1")};
  json::object content{{"content", json::array{json::object{{"type", "text"}, {"text", "é"}}}}};
  EXPECT_EQ(rpc::encode_result(id, content, R"("resultType":"complete","n":1)"),
            rpc::encode(rpc::response{id, json::object{{"content", content.at("content")},
                                                       {"resultType", "complete"},
                                                       {"n", 1}}}));
  EXPECT_EQ(rpc::encode_result(rpc::request_id{std::int64_t{2}}, json::object{}, R"("n":1)"),
            rpc::encode(rpc::response{rpc::request_id{std::int64_t{2}}, json::object{{"n", 1}}}));
  EXPECT_EQ(rpc::encode_result(id, content, ""), rpc::encode(rpc::response{id, content}));
  EXPECT_EQ(rpc::encode_result(id, json::object{}, ""),
            rpc::encode(rpc::response{id, json::object{}}));
}

TEST(JsonRpc, FromJsonMovesOrCopiesAsAsked) {
  // from_json(value&&) takes params, results and error data out of the value; the const&
  // form leaves its input whole. Both read the same message.
  json::value request = boost::json::parse(
      R"({"jsonrpc":"2.0","id":"r1","method":"tools/call","params":{"name":"echo","arguments":{"text":"long enough not to fit in place"}}})");
  json::value response = boost::json::parse(
      R"({"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"x"}]}})");
  json::value failure = boost::json::parse(
      R"({"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"bad","data":{"why":"y"}}})");
  for (auto* v : {&request, &response, &failure}) {
    const json::value before = *v;
    auto copied = rpc::from_json(static_cast<const json::value&>(*v));
    EXPECT_EQ(*v, before) << "the const& form changed its input";
    auto moved = rpc::from_json(std::move(*v));
    ASSERT_TRUE(std::holds_alternative<rpc::message>(copied));
    ASSERT_TRUE(std::holds_alternative<rpc::message>(moved));
    EXPECT_EQ(rpc::encode(std::get<rpc::message>(moved)),
              rpc::encode(std::get<rpc::message>(copied)));
    EXPECT_EQ(rpc::encode(std::get<rpc::message>(moved)), json::dump(before));
  }
}

TEST(JsonRpc, OfficialExamplesValidateAndRoundTrip) {
  namespace fs = std::filesystem;
  plexus::testing::wire_schema ws("2026-07-28");
  fs::path dir = fs::path(PLEXUS_SHARED_DIR) / "mcp-schema/2026-07-28/examples";
  int files = 0, messages = 0;
  for (const auto& type_dir : fs::directory_iterator(dir)) {
    std::string def = type_dir.path().filename().string();
    for (const auto& f : fs::directory_iterator(type_dir)) {
      ++files;
      auto v = boost::json::parse(plexus::testing::read_file(f.path().string()));
      auto errors = ws.check(def, v);
      EXPECT_TRUE(errors.empty()) << f.path() << ": " << errors.front().instance_path << " "
                                  << errors.front().message;
      if (v.is_object() && v.as_object().contains("jsonrpc")) {
        ++messages;
        auto d = rpc::decode(json::dump(v));
        ASSERT_EQ(d.messages.size(), 1u) << f.path();
        EXPECT_EQ(rpc::to_json(d.messages[0]), v) << f.path();
      }
    }
  }
  EXPECT_GE(files, 88);
  EXPECT_GT(messages, 20);
  std::cout << "[ examples ] " << files << " files validated, " << messages
            << " JSON-RPC messages round-tripped\n";
}

TEST(JsonDump, ShortestNumbersAndStrictEscapes) {
  json::value v = boost::json::parse(
      R"({"a":20.0,"b":21.5,"c":1e21,"d":-0.1,"e":7,"f":18446744073709551615,"s":"q\"\\\n\t\u0001é"})");
  EXPECT_EQ(json::dump(v),
            R"({"a":20.0,"b":21.5,"c":1e+21,"d":-0.1,"e":7,"f":18446744073709551615,)"
            R"("s":"q\"\\\n\t\u0001é"})");
  // What we write reads back to the same value.
  EXPECT_EQ(boost::json::parse(json::dump(v)), v);
  EXPECT_EQ(json::dump(json::value(std::nan(""))), "null");
}
