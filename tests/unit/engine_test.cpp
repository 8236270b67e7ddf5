// The session engine in process: both eras, MRTR, subscriptions, pagination,
// cancellation, and the wire shape of every result against the official schemas.
#include "engine_harness.hpp"

#include "plexus/server/typed_tool.hpp"

#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

struct EngineTest : ::testing::Test {
  std::unique_ptr<server::server> srv = servers::make_everything_server();
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn =
      std::make_unique<server::connection>(*srv, out, server::connection_options{});

  json::object result_of(std::int64_t id) {
    auto r = out->response(id);
    EXPECT_TRUE(r) << "no response to " << id;
    if (!r) return {};
    auto& o = r->as_object();
    EXPECT_TRUE(o.contains("result")) << json::dump(*r);
    return o.contains("result") ? o.at("result").as_object() : json::object{};
  }
  json::object error_of(std::int64_t id) {
    auto r = out->response(id);
    EXPECT_TRUE(r) << "no response to " << id;
    if (!r) return {};
    auto& o = r->as_object();
    EXPECT_TRUE(o.contains("error")) << json::dump(*r);
    return o.contains("error") ? o.at("error").as_object() : json::object{};
  }
  void initialize(std::string version = "2025-11-25", json::object caps = {}) {
    conn->receive(request(1000, "initialize",
                          {{"protocolVersion", version},
                           {"capabilities", caps},
                           {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
    auto r = result_of(1000);
    ASSERT_EQ(r.at("protocolVersion"), json::value(version));
    conn->receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
};

std::string text_of(const json::object& call_result) {
  return std::string(call_result.at("content").as_array().at(0).as_object().at("text").as_string());
}

}  // namespace

TEST_F(EngineTest, ModernDiscoverHasEnvelopeAndCacheHints) {
  conn->receive(modern_request(1, "server/discover"));
  auto r = result_of(1);
  EXPECT_EQ(r.at("resultType"), "complete");
  EXPECT_EQ(r.at("supportedVersions").as_array().at(0), "2026-07-28");
  EXPECT_TRUE(r.at("capabilities").as_object().contains("tools"));
  EXPECT_TRUE(r.contains("ttlMs"));
  EXPECT_EQ(r.at("cacheScope"), "public");
  EXPECT_EQ(
      r.at("_meta").as_object().at("io.modelcontextprotocol/serverInfo").as_object().at("name"),
      "plexus-everything");
  wire_schema("2026-07-28").expect_valid("DiscoverResult", r);
}

TEST_F(EngineTest, ModernEnvelopeErrors) {
  // Missing clientCapabilities.
  conn->receive(request(
      1, "tools/list",
      {{"_meta", json::object{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}}));
  EXPECT_EQ(error_of(1).at("code"), -32602);
  // Unsupported version.
  json::object meta = modern_meta();
  meta["io.modelcontextprotocol/protocolVersion"] = "v999.0.0";
  conn->receive(request(2, "tools/list", {{"_meta", meta}}));
  auto e = error_of(2);
  EXPECT_EQ(e.at("code"), -32022);
  EXPECT_EQ(e.at("data").as_object().at("requested"), "v999.0.0");
  EXPECT_EQ(e.at("data").as_object().at("supported").as_array().at(0), "2026-07-28");
  conn->receive(request(3, "tools/list", {{"_meta", meta}}));
  auto full = out->response(3);
  ASSERT_TRUE(full);
  wire_schema("2026-07-28").expect_valid("UnsupportedProtocolVersionError", *full);
  // Removed legacy methods with the modern envelope are unknown.
  for (auto m : {"initialize", "ping", "logging/setLevel", "resources/subscribe"}) {
    conn->receive(modern_request(4, m));
    EXPECT_EQ(error_of(4).at("code"), -32601) << m;
  }
  // Bad log level.
  meta = modern_meta();
  meta["io.modelcontextprotocol/logLevel"] = "loud";
  conn->receive(request(5, "tools/list", {{"_meta", meta}}));
  EXPECT_EQ(error_of(5).at("code"), -32602);
}

TEST_F(EngineTest, ModernListsAreDeterministicAndValid) {
  wire_schema ws("2026-07-28");
  conn->receive(modern_request(1, "tools/list"));
  auto a = result_of(1);
  conn->receive(modern_request(2, "tools/list"));
  auto b = result_of(2);
  EXPECT_EQ(a.at("tools"), b.at("tools"));
  ws.expect_valid("ListToolsResult", a);
  conn->receive(modern_request(3, "resources/list"));
  ws.expect_valid("ListResourcesResult", result_of(3));
  conn->receive(modern_request(4, "resources/templates/list"));
  ws.expect_valid("ListResourceTemplatesResult", result_of(4));
  conn->receive(modern_request(5, "prompts/list"));
  ws.expect_valid("ListPromptsResult", result_of(5));
  conn->receive(modern_request(6, "resources/read", {{"uri", "test://template/42/data"}}));
  auto read = result_of(6);
  ws.expect_valid("ReadResourceResult", read);
  EXPECT_EQ(read.at("contents").as_array().at(0).as_object().at("text"),
            R"({"id":"42","templateTest":true,"data":"Data for ID: 42"})");
  conn->receive(modern_request(7, "prompts/get",
                               {{"name", "test_prompt_with_arguments"},
                                {"arguments", json::object{{"arg1", "x"}, {"arg2", "y"}}}}));
  ws.expect_valid("GetPromptResult", result_of(7));
  conn->receive(modern_request(
      8, "completion/complete",
      {{"ref", json::object{{"type", "ref/prompt"}, {"name", "test_prompt_with_arguments"}}},
       {"argument", json::object{{"name", "arg1"}, {"value", "par"}}}}));
  auto c = result_of(8);
  ws.expect_valid("CompleteResult", c);
  EXPECT_EQ(c.at("completion").as_object().at("values").as_array().size(), 3u);
}

TEST_F(EngineTest, ModernToolResultsValidate) {
  wire_schema ws("2026-07-28");
  std::int64_t id = 1;
  for (auto name :
       {"test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
        "test_multiple_content_types", "test_error_handling"}) {
    conn->receive(modern_request(id, "tools/call", {{"name", name}}));
    ws.expect_valid("CallToolResult", result_of(id));
    ++id;
  }
  conn->receive(modern_request(
      id, "tools/call",
      {{"name", "stats"}, {"arguments", json::object{{"numbers", json::array{1, 2, 3}}}}}));
  auto r = result_of(id);
  ws.expect_valid("CallToolResult", r);
  EXPECT_EQ(r.at("structuredContent").as_object().at("sum"), 6.0);
  EXPECT_EQ(r.at("structuredContent").as_object().at("count"), 3);
}

TEST_F(EngineTest, ResourceNotFoundPerEra) {
  conn->receive(modern_request(1, "resources/read", {{"uri", "test://nope"}}));
  auto e = error_of(1);
  EXPECT_EQ(e.at("code"), -32602);
  EXPECT_EQ(e.at("data").as_object().at("uri"), "test://nope");
  initialize();
  conn->receive(request(2, "resources/read", {{"uri", "test://nope"}}));
  EXPECT_EQ(error_of(2).at("code"), -32002);
}

TEST_F(EngineTest, MrtrMultiRoundCarriesAnswersInSealedState) {
  json::object caps{{"elicitation", json::object{}}};
  conn->receive(
      modern_request(1, "tools/call", {{"name", "test_input_required_result_multi_round"}}, caps));
  auto r1 = result_of(1);
  wire_schema("2026-07-28").expect_valid("InputRequiredResult", r1);
  ASSERT_EQ(r1.at("resultType"), "input_required");
  ASSERT_TRUE(r1.at("inputRequests").as_object().contains("step1"));
  std::string state1(r1.at("requestState").as_string());
  EXPECT_FALSE(r1.contains("ttlMs"));

  auto accept = [](json::object content) {
    return json::object{{"action", "accept"}, {"content", std::move(content)}};
  };
  conn->receive(
      modern_request(2, "tools/call",
                     {{"name", "test_input_required_result_multi_round"},
                      {"inputResponses", json::object{{"step1", accept({{"name", "Ada"}})}}},
                      {"requestState", state1}},
                     caps));
  auto r2 = result_of(2);
  ASSERT_EQ(r2.at("resultType"), "input_required");
  ASSERT_TRUE(r2.at("inputRequests").as_object().contains("step2"));
  std::string state2(r2.at("requestState").as_string());
  EXPECT_NE(state1, state2);

  conn->receive(
      modern_request(3, "tools/call",
                     {{"name", "test_input_required_result_multi_round"},
                      {"inputResponses", json::object{{"step2", accept({{"color", "green"}})}}},
                      {"requestState", state2}},
                     caps));
  auto r3 = result_of(3);
  EXPECT_EQ(r3.at("resultType"), "complete");
  EXPECT_EQ(text_of(r3), R"(Done: {"name":"Ada"} {"color":"green"})");
}

TEST_F(EngineTest, MrtrRejectsTamperedOrRebound) {
  json::object caps{{"elicitation", json::object{}}};
  conn->receive(modern_request(1, "tools/call",
                               {{"name", "test_input_required_result_tampered_state"}}, caps));
  std::string state(result_of(1).at("requestState").as_string());
  conn->receive(modern_request(2, "tools/call",
                               {{"name", "test_input_required_result_tampered_state"},
                                {"requestState", state + "-TAMPERED"}},
                               caps));
  auto e = error_of(2);
  EXPECT_EQ(e.at("code"), -32602);
  EXPECT_EQ(e.at("data").as_object().at("reason"), "invalid_request_state");
  // The same state presented to another tool is bound to the first request.
  conn->receive(modern_request(
      3, "tools/call",
      {{"name", "test_input_required_result_request_state"}, {"requestState", state}}, caps));
  EXPECT_EQ(error_of(3).at("code"), -32602);
}

TEST_F(EngineTest, MrtrMissingOrMalformedAnswerAsksAgain) {
  json::object caps{{"elicitation", json::object{}}};
  conn->receive(modern_request(1, "tools/call",
                               {{"name", "test_input_required_result_elicitation"},
                                {"inputResponses", json::object{{"wrong_key", 1}}}},
                               caps));
  EXPECT_EQ(result_of(1).at("resultType"), "input_required");
  conn->receive(modern_request(2, "tools/call",
                               {{"name", "test_input_required_result_elicitation"},
                                {"inputResponses", json::object{{"user_name", 12345}}}},
                               caps));
  EXPECT_EQ(result_of(2).at("resultType"), "input_required");
  conn->receive(modern_request(
      3, "tools/call",
      {{"name", "test_input_required_result_elicitation"},
       {"inputResponses",
        json::object{{"user_name", json::object{{"action", "accept"},
                                                {"content", json::object{{"name", "Alice"}}}}},
                     {"unknown_extra_key", 1}}}},
      caps));
  EXPECT_EQ(text_of(result_of(3)), "Hello, Alice!");
}

TEST_F(EngineTest, MissingCapabilityIs32021) {
  conn->receive(modern_request(1, "tools/call", {{"name", "test_missing_capability"}}));
  auto e = error_of(1);
  EXPECT_EQ(e.at("code"), -32021);
  EXPECT_EQ(e.at("data").as_object().at("requiredCapabilities"),
            json::value(json::object{{"sampling", json::object{}}}));
  // Only the declared kinds are asked for.
  conn->receive(modern_request(2, "tools/call",
                               {{"name", "test_input_required_result_capabilities"}},
                               {{"sampling", json::object{}}}));
  auto r = result_of(2);
  auto& reqs = r.at("inputRequests").as_object();
  EXPECT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs.at("greeting").as_object().at("method"), "sampling/createMessage");
}

TEST_F(EngineTest, LegacyServerToClientRequestResumesHandler) {
  initialize("2025-11-25", {{"elicitation", json::object{}}, {"sampling", json::object{}}});
  conn->receive(request(
      2, "tools/call", {{"name", "test_sampling"}, {"arguments", json::object{{"prompt", "Hi"}}}}));
  auto req = out->client_request("sampling/createMessage");
  ASSERT_TRUE(req);
  auto& o = req->as_object();
  conn->receive(json::dump(json::object{
      {"jsonrpc", "2.0"},
      {"id", o.at("id")},
      {"result", json::object{{"role", "assistant"},
                              {"content", json::object{{"type", "text"}, {"text", "Hello!"}}},
                              {"model", "m"}}}}));
  EXPECT_EQ(text_of(result_of(2)), "LLM response: Hello!");
  // A client error answer becomes a tool error.
  conn->receive(
      request(3, "tools/call",
              {{"name", "test_elicitation"}, {"arguments", json::object{{"message", "?"}}}}));
  auto ereq = out->client_request("elicitation/create");
  ASSERT_TRUE(ereq);
  conn->receive(json::dump(
      json::object{{"jsonrpc", "2.0"},
                   {"id", ereq->as_object().at("id")},
                   {"error", json::object{{"code", -1}, {"message", "user closed the dialog"}}}}));
  auto r = result_of(3);
  EXPECT_EQ(r.at("isError"), true);
}

TEST_F(EngineTest, LegacyWithoutCapabilityIsToolError) {
  initialize();
  conn->receive(request(
      2, "tools/call", {{"name", "test_sampling"}, {"arguments", json::object{{"prompt", "Hi"}}}}));
  auto r = result_of(2);
  EXPECT_EQ(r.at("isError"), true);
  EXPECT_NE(text_of(r).find("sampling"), std::string::npos);
}

TEST_F(EngineTest, LegacyProgressAndLogging) {
  initialize();
  conn->receive(request(2, "logging/setLevel", {{"level", "info"}}));
  EXPECT_EQ(result_of(2), json::object{});
  conn->receive(request(
      3, "tools/call",
      {{"name", "test_tool_with_progress"}, {"_meta", json::object{{"progressToken", 3}}}}));
  for (int expected : {0, 50, 100}) {
    auto n = out->notification("notifications/progress");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->at("params").at("progressToken"), 3);
    EXPECT_EQ(n->at("params").at("progress"), expected);  // whole numbers as integers
  }
  result_of(3);
  conn->receive(request(4, "tools/call", {{"name", "test_tool_with_logging"}}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(out->notification("notifications/message"));
  result_of(4);
  conn->receive(request(5, "logging/setLevel", {{"level", "error"}}));
  result_of(5);
  conn->receive(request(6, "tools/call", {{"name", "test_tool_with_logging"}}));
  result_of(6);
  EXPECT_FALSE(out->notification("notifications/message", 50ms));
}

TEST_F(EngineTest, ModernLogsOnlyWhenAsked) {
  conn->receive(modern_request(1, "tools/call", {{"name", "test_logging_tool"}}));
  result_of(1);
  EXPECT_FALSE(out->notification("notifications/message", 50ms));
  json::object meta = modern_meta();
  meta["io.modelcontextprotocol/logLevel"] = "debug";
  conn->receive(request(2, "tools/call", {{"name", "test_logging_tool"}, {"_meta", meta}}));
  for (int i = 0; i < 3; ++i) {
    auto n = out->notification("notifications/message");
    ASSERT_TRUE(n);
    wire_schema("2026-07-28").expect_valid("LoggingMessageNotification", *n);
  }
  result_of(2);
}

TEST_F(EngineTest, LegacySubscriptionsAndListChanged) {
  initialize();
  conn->receive(request(2, "resources/subscribe", {{"uri", "test://watched-resource"}}));
  result_of(2);
  conn->receive(request(3, "tools/call", {{"name", "test_trigger_resource_update"}}));
  auto n = out->notification("notifications/resources/updated");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->at("params").at("uri"), "test://watched-resource");
  result_of(3);
  conn->receive(request(4, "resources/unsubscribe", {{"uri", "test://watched-resource"}}));
  result_of(4);
  conn->receive(request(5, "tools/call", {{"name", "test_trigger_resource_update"}}));
  result_of(5);
  EXPECT_FALSE(out->notification("notifications/resources/updated", 50ms));
  conn->receive(request(6, "tools/call", {{"name", "test_trigger_tool_change"}}));
  EXPECT_TRUE(out->notification("notifications/tools/list_changed"));
}

TEST_F(EngineTest, ListenAcknowledgesFirstAndTagsEveryFrame) {
  wire_schema ws("2026-07-28");
  conn->receive(modern_request(
      7, "subscriptions/listen",
      {{"notifications",
        json::object{{"promptsListChanged", true},
                     {"resourceSubscriptions", json::array{"test://watched-resource"}}}}}));
  auto ack = out->notification("notifications/subscriptions/acknowledged");
  ASSERT_TRUE(ack);
  ws.expect_valid("SubscriptionsAcknowledgedNotification", *ack);
  EXPECT_EQ(ack->at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId"), 7);
  EXPECT_FALSE(ack->at("params").at("notifications").as_object().contains("toolsListChanged"));
  // Not requested: tools changes never reach this stream.
  conn->receive(modern_request(8, "tools/call", {{"name", "test_trigger_tool_change"}}));
  result_of(8);
  EXPECT_FALSE(out->notification("notifications/tools/list_changed", 50ms));
  conn->receive(modern_request(9, "tools/call", {{"name", "test_trigger_prompt_change"}}));
  auto p = out->notification("notifications/prompts/list_changed");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->at("params").at("_meta").at("io.modelcontextprotocol/subscriptionId"), 7);
  conn->receive(modern_request(10, "tools/call", {{"name", "test_trigger_resource_update"}}));
  auto u = out->notification("notifications/resources/updated");
  ASSERT_TRUE(u);
  ws.expect_valid("ResourceUpdatedNotification", *u);
  // Cancelling ends the subscription: nothing more arrives.
  conn->receive(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}})");
  conn->receive(modern_request(11, "tools/call", {{"name", "test_trigger_prompt_change"}}));
  result_of(11);
  EXPECT_FALSE(out->notification("notifications/prompts/list_changed", 50ms));
}

TEST_F(EngineTest, CancelledRequestGetsNoAnswer) {
  conn->receive(modern_request(1, "tools/call",
                               {{"name", "long_running_operation"},
                                {"arguments", json::object{{"duration", 5}, {"steps", 50}}}}));
  std::this_thread::sleep_for(50ms);
  conn->receive(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  EXPECT_TRUE(conn->wait_idle(2s));
  EXPECT_FALSE(out->response(1, 100ms));
}

TEST_F(EngineTest, SlowHandlerDoesNotBlockOthers) {
  conn->receive(modern_request(1, "tools/call",
                               {{"name", "long_running_operation"},
                                {"arguments", json::object{{"duration", 1}, {"steps", 2}}}}));
  conn->receive(modern_request(2, "tools/call",
                               {{"name", "echo"}, {"arguments", json::object{{"text", "fast"}}}}));
  auto r = out->response(2, 500ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(r->at("result").as_object()), "fast");
  EXPECT_FALSE(out->response(1, 10ms));
  EXPECT_TRUE(out->response(1, 3s));
}

TEST_F(EngineTest, BatchesOnlyIn20250326) {
  initialize("2025-03-26");
  conn->receive(
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},)"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"},)"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}}])");
  EXPECT_TRUE(out->response(1));
  EXPECT_TRUE(out->response(2));
  auto raw = out->raw();
  EXPECT_EQ(raw.back().front(), '[');
}

TEST_F(EngineTest, BatchRejectedElsewhere) {
  initialize("2025-06-18");
  conn->receive(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  auto e = out->take([](const json::value& v) { return v.as_object().contains("error"); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("error").at("code"), -32600);
}

TEST_F(EngineTest, LegacyOutputMatchesEachEraSchema) {
  for (std::string version : {"2025-11-25", "2025-06-18"}) {
    auto s = servers::make_everything_server();
    auto o = std::make_shared<capture>();
    server::connection c(*s, o);
    c.receive(request(1, "initialize",
                      {{"protocolVersion", version},
                       {"capabilities", json::object{}},
                       {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
    wire_schema ws(version);
    ws.expect_valid("InitializeResult", o->response(1)->at("result"));
    c.receive(request(2, "tools/list"));
    ws.expect_valid("ListToolsResult", o->response(2)->at("result"));
    c.receive(request(3, "prompts/list"));
    ws.expect_valid("ListPromptsResult", o->response(3)->at("result"));
    c.receive(
        request(4, "tools/call",
                {{"name", "stats"}, {"arguments", json::object{{"numbers", json::array{1, 2}}}}}));
    ws.expect_valid("CallToolResult", o->response(4)->at("result"));
    c.receive(request(5, "resources/read", {{"uri", "test://static-binary"}}));
    ws.expect_valid("ReadResourceResult", o->response(5)->at("result"));
  }
}

namespace {
struct page_args {
  int n;
};
BOOST_DESCRIBE_STRUCT(page_args, (), (n))
}  // namespace

TEST(EnginePagination, CursorsWalkTheWholeListAndRejectForgeries) {
  server::server s({.name = "p", .version = "1"}, {.page_size = 2});
  for (int i = 0; i < 5; ++i)
    server::add_tool(s, "t" + std::to_string(i), "tool", [](const page_args& a) { return a.n; });
  auto o = std::make_shared<capture>();
  server::connection c(s, o);
  std::vector<std::string> names;
  std::optional<std::string> cursor;
  for (int id = 1; id < 10; ++id) {
    json::object params;
    if (cursor) params["cursor"] = *cursor;
    c.receive(modern_request(id, "tools/list", params));
    auto r = o->response(id)->at("result").as_object();
    for (auto& t : r.at("tools").as_array()) names.emplace_back(t.at("name").as_string());
    if (!r.contains("nextCursor")) break;
    cursor = std::string(r.at("nextCursor").as_string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"}));
  c.receive(modern_request(20, "tools/list", {{"cursor", "not-a-cursor"}}));
  EXPECT_EQ(o->response(20)->at("error").at("code"), -32602);
  // Capabilities follow the registries: no prompts registered, so prompts/list is unknown.
  c.receive(modern_request(21, "prompts/list"));
  EXPECT_EQ(o->response(21)->at("error").at("code"), -32601);
}

TEST_F(EngineTest, ModernResultKeepsTheToolsOwnMeta) {
  // The engine stamps serverInfo into a modern result's _meta; it used to replace the _meta
  // the tool returned (value::emplace_object() empties what it finds).
  protocol::tool t;
  t.name = "with_meta";
  t.description = "returns _meta";
  t.input_schema = json::object{{"type", "object"}};
  srv->add_tool(t, [](server::context&, const json::object&) {
    auto r = server::tool_result::text("hi");
    r.meta["example.com/trace"] = "abc";
    // Not the tool's to say: the answering server's own serverInfo replaces it.
    r.meta["io.modelcontextprotocol/serverInfo"] = json::object{{"name", "someone-else"}};
    return r;
  });
  conn->receive(
      modern_request(7, "tools/call", {{"name", "with_meta"}, {"arguments", json::object{}}}));
  auto r = result_of(7);
  ASSERT_TRUE(r.contains("_meta")) << json::dump(r);
  auto& meta = r.at("_meta").as_object();
  EXPECT_EQ(meta.at("example.com/trace"), "abc") << json::dump(r);
  EXPECT_EQ(meta.at("io.modelcontextprotocol/serverInfo").as_object().at("name"),
            "plexus-everything");
  wire_schema("2026-07-28").expect_valid("CallToolResult", r);
}
