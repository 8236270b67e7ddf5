// tool_dispatch::direct: a tool that neither blocks nor runs long runs on the thread that
// decoded the call (no hand-off to the handler pool), in both eras; it cannot wait for the
// client; task tools stay on the pool whatever they ask for.
#include "engine_harness.hpp"

#include "plexus/server/typed_tool.hpp"

#include <boost/describe.hpp>

#include <atomic>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

struct word_args {
  std::string word;
};
BOOST_DESCRIBE_STRUCT(word_args, (), (word))

protocol::tool plain(std::string name) {
  protocol::tool t;
  t.name = std::move(name);
  t.description = "test";
  t.input_schema = json::object{{"type", "object"}};
  return t;
}

struct DirectDispatch : ::testing::Test {
  std::unique_ptr<server::server> srv =
      std::make_unique<server::server>(protocol::implementation{"direct-test", "1.0.0"});
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::mutex mu;
  std::map<std::string, std::thread::id> ran_on;

  void record(const std::string& tool) {
    std::lock_guard lk(mu);
    ran_on[tool] = std::this_thread::get_id();
  }
  std::thread::id where(const std::string& tool) {
    std::lock_guard lk(mu);
    return ran_on[tool];
  }

  void SetUp() override {
    srv->add_tool(
        plain("direct"),
        [this](server::context&, const json::object&) {
          record("direct");
          return server::tool_result::text("direct");
        },
        server::tool_dispatch::direct);
    srv->add_tool(plain("pooled"), [this](server::context&, const json::object&) {
      record("pooled");
      return server::tool_result::text("pooled");
    });
    server::add_tool(*srv, "typed_direct", "typed",
                     [this](const word_args& a) {
                       record("typed_direct");
                       return a.word;
                     },
                     {.dispatch = server::tool_dispatch::direct});
    srv->add_tool(
        plain("asks"),
        [](server::context& ctx, const json::object&) {
          auto r = ctx.elicit("confirm", "Sure?",
                              json::object{{"type", "object"}, {"properties", json::object{}}});
          return server::tool_result::text(r.accepted() ? "yes" : "no");
        },
        server::tool_dispatch::direct);
    auto task_tool = plain("task_direct");
    task_tool.task_support = "optional";
    srv->add_tool(
        std::move(task_tool),
        [this](server::context&, const json::object&) {
          record("task_direct");
          return server::tool_result::text("task");
        },
        server::tool_dispatch::direct);
  }

  void initialize(server::connection& conn, json::object caps = {}) {
    conn.receive(request(1000, "initialize",
                         {{"protocolVersion", "2025-11-25"},
                          {"capabilities", std::move(caps)},
                          {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
    ASSERT_TRUE(out->response(1000));
    conn.receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  static std::string text_of(const json::value& response) {
    return std::string(response.at("result")
                           .as_object()
                           .at("content")
                           .as_array()
                           .at(0)
                           .as_object()
                           .at("text")
                           .as_string());
  }
};

}  // namespace

TEST_F(DirectDispatch, RunsOnTheReadingThreadAndAnswersBeforeReceiveReturns) {
  server::connection conn(*srv, out, {});
  initialize(conn);
  conn.receive(request(1, "tools/call", {{"name", "direct"}}));
  // Answered synchronously: no wait at all.
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "direct");
  EXPECT_EQ(where("direct"), std::this_thread::get_id());

  conn.receive(request(2, "tools/call",
                       {{"name", "typed_direct"}, {"arguments", json::object{{"word", "hi"}}}}));
  r = out->response(2, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "hi");
  EXPECT_EQ(where("typed_direct"), std::this_thread::get_id());

  // Validation still runs first: a bad argument is a tool error, answered directly too.
  conn.receive(request(3, "tools/call",
                       {{"name", "typed_direct"}, {"arguments", json::object{{"word", 7}}}}));
  r = out->response(3, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("isError"), true);

  conn.receive(request(4, "tools/call", {{"name", "pooled"}}));
  r = out->response(4);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "pooled");
  EXPECT_NE(where("pooled"), std::this_thread::get_id());
}

TEST_F(DirectDispatch, ModernCallsRunDirectlyToo) {
  server::connection conn(*srv, out, {});
  conn.receive(modern_request(1, "tools/call", {{"name", "direct"}}));
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "direct");
  EXPECT_EQ(where("direct"), std::this_thread::get_id());
}

TEST_F(DirectDispatch, CannotWaitForTheClientInTheLegacyEra) {
  server::connection conn(*srv, out, {});
  initialize(conn, {{"elicitation", json::object{}}});
  conn.receive(request(1, "tools/call", {{"name", "asks"}}));
  // No elicitation/create goes out (nobody could read its answer); the tool fails at once.
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("isError"), true);
  EXPECT_NE(text_of(*r).find("cannot wait for the client"), std::string::npos) << text_of(*r);
  EXPECT_FALSE(out->client_request("elicitation/create", 50ms));
}

TEST_F(DirectDispatch, ModernInputRequestsStillWork) {
  // MRTR does not wait: the direct tool answers input_required on the reading thread.
  server::connection conn(*srv, out, {});
  conn.receive(
      modern_request(1, "tools/call", {{"name", "asks"}}, {{"elicitation", json::object{}}}));
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->at("result").at("resultType"), "input_required");
}

TEST_F(DirectDispatch, TaskToolsStayOnThePool) {
  server::connection conn(*srv, out, {});
  initialize(conn);
  conn.receive(request(1, "tools/call", {{"name", "task_direct"}}));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "task");
  EXPECT_NE(where("task_direct"), std::this_thread::get_id());
}

TEST_F(DirectDispatch, LargeMessagesGoToThePool) {
  // Over a stream transport the reader would also write a large answer itself and stop
  // reading while the pipe is full; so a message over 16 KiB is handed off.
  server::connection conn(*srv, out, {});
  initialize(conn);
  conn.receive(request(1, "tools/call",
                       {{"name", "typed_direct"},
                        {"arguments", json::object{{"word", std::string(20 * 1024, 'x')}}}}));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  EXPECT_NE(where("typed_direct"), std::this_thread::get_id());
  conn.receive(request(2, "tools/call",
                       {{"name", "typed_direct"},
                        {"arguments", json::object{{"word", std::string(8 * 1024, 'x')}}}}));
  r = out->response(2, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(where("typed_direct"), std::this_thread::get_id());
}

TEST_F(DirectDispatch, AConnectionMayRaiseTheSizeThatRunsDirectly) {
  // serve_stdio does when it could widen its output pipe: a large answer then does not
  // make the reader wait for the client.
  server::connection conn(*srv, out, {.direct_max_bytes = 64 * 1024});
  initialize(conn);
  conn.receive(request(1, "tools/call",
                       {{"name", "typed_direct"},
                        {"arguments", json::object{{"word", std::string(20 * 1024, 'x')}}}}));
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(where("typed_direct"), std::this_thread::get_id());
  EXPECT_EQ(text_of(*r), std::string(20 * 1024, 'x'));
}

TEST_F(DirectDispatch, TypedToolsTakeTheirArgumentsByValueOrByReference) {
  // By value the converted arguments are moved in (a large text is not copied again); a
  // non-const reference gets them as they are.
  server::add_tool(*srv, "by_value", "typed", [](word_args a) { return std::move(a.word) + "!"; },
                   {.dispatch = server::tool_dispatch::direct});
  server::add_tool(*srv, "by_reference", "typed",
                   [](server::context&, word_args& a) {
                     a.word += "?";
                     return a.word;
                   },
                   {.dispatch = server::tool_dispatch::direct});
  server::connection conn(*srv, out, {});
  initialize(conn);
  conn.receive(request(1, "tools/call",
                       {{"name", "by_value"}, {"arguments", json::object{{"word", "hi"}}}}));
  auto r = out->response(1, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "hi!");
  conn.receive(request(2, "tools/call",
                       {{"name", "by_reference"}, {"arguments", json::object{{"word", "hi"}}}}));
  r = out->response(2, 0ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "hi?");
}
