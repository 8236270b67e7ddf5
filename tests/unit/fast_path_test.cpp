// A tool's asynchronous fast path (server::async_tool_handler): it is offered plain calls on
// the thread that decoded them, may answer later from any thread, may decline (the handler
// then runs on the pool), and every way it can end answers the call exactly once.
#include "engine_harness.hpp"

#include <atomic>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

protocol::tool plain(std::string name, std::optional<std::string> task_support = std::nullopt) {
  protocol::tool t;
  t.name = std::move(name);
  t.description = "test";
  t.input_schema = json::object{{"type", "object"},
                                {"properties", json::object{{"word", {{"type", "string"}}}}}};
  t.task_support = std::move(task_support);
  return t;
}

std::string text_of(const json::value& response) {
  return std::string(response.at("result").at("content").as_array().at(0).at("text").as_string());
}

struct FastPath : ::testing::Test {
  std::unique_ptr<server::server> srv =
      std::make_unique<server::server>(protocol::implementation{"fast-path-test", "1.0.0"});
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::mutex mu;
  std::vector<std::thread> workers;  // answer "later, from another thread"
  std::atomic<int> handler_runs{0};
  std::atomic<int> fast_offers{0};
  std::thread::id offered_on;
  std::optional<server::tool_completion> parked;  // answered by the test itself
  server::context* parked_ctx = nullptr;

  ~FastPath() override {
    for (auto& t : workers) t.join();
  }

  // A tool whose fast path does what `fast` says, and whose handler says "pool".
  void add(std::string name, server::async_tool_handler fast,
           std::optional<std::string> task_support = std::nullopt) {
    srv->add_tool(
        plain(std::move(name), std::move(task_support)),
        [this](server::context&, const json::object&) {
          ++handler_runs;
          return server::tool_result::text("pool");
        },
        server::task_start::by_handler,
        [this, fast = std::move(fast)](server::context& ctx, const json::object& args,
                                       server::tool_completion done) {
          ++fast_offers;
          offered_on = std::this_thread::get_id();
          return fast(ctx, args, std::move(done));
        });
  }

  void SetUp() override {
    add("later", [this](server::context&, const json::object& args, server::tool_completion done) {
      auto w = json::find_string(args, "word");
      std::string word = w ? std::string(*w) : "none";
      std::lock_guard lk(mu);
      workers.emplace_back([done, word] {
        std::this_thread::sleep_for(20ms);
        done(server::tool_result::text("later:" + word));
        done(server::tool_result::text("twice"));  // only the first answer counts
      });
      return true;
    });
    add("declines",
        [](server::context&, const json::object&, server::tool_completion) { return false; });
    add("throws", [](server::context&, const json::object&, server::tool_completion) -> bool {
      throw server::tool_error("no upstream");
    });
    add("fails", [](server::context&, const json::object&, server::tool_completion done) {
      done.fail(-32602, "Invalid params: upstream says no");
      return true;
    });
    add("drops", [](server::context&, const json::object&, server::tool_completion) {
      return true;  // takes the call, then loses its completion
    });
    add("parks", [this](server::context& ctx, const json::object&, server::tool_completion done) {
      std::lock_guard lk(mu);
      parked_ctx = &ctx;
      parked = std::move(done);
      return true;
    });
    add(
        "task_capable",
        [](server::context&, const json::object&, server::tool_completion done) {
          done(server::tool_result::text("fast"));
          return true;
        },
        "optional");
  }

  std::string call(server::connection& conn, std::int64_t id, const std::string& tool,
                   json::object args = {}, json::object caps = {}) {
    json::object params{{"name", tool}};
    if (!args.empty()) params["arguments"] = std::move(args);
    conn.receive(modern_request(id, "tools/call", std::move(params), std::move(caps)));
    auto r = out->response(id);
    if (!r) return "(no answer)";
    if (r->as_object().contains("error"))
      return "error " + std::to_string(r->at("error").at("code").as_int64()) + ": " +
             std::string(r->at("error").at("message").as_string());
    std::string t = text_of(*r);
    return r->at("result").as_object().contains("isError") &&
                   r->at("result").at("isError").as_bool()
               ? "isError: " + t
               : t;
  }
};

}  // namespace

TEST_F(FastPath, AnswersLaterFromAnotherThreadWithoutThePool) {
  server::connection conn(*srv, out, {});
  conn.receive(modern_request(1, "tools/call",
                              {{"name", "later"}, {"arguments", json::object{{"word", "hi"}}}}));
  EXPECT_EQ(offered_on, std::this_thread::get_id());  // offered on the reading thread
  EXPECT_FALSE(out->response(1, 0ms));                // and not answered yet
  auto r = out->response(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "later:hi");
  wire_schema("2026-07-28").expect_valid("CallToolResult", r->at("result"));
  EXPECT_EQ(handler_runs, 0);
  // The second answer was dropped: nothing else arrives.
  EXPECT_FALSE(out->response(1, 100ms));
}

TEST_F(FastPath, ServesTheLegacyEraToo) {
  server::connection conn(*srv, out, {});
  conn.receive(request(1000, "initialize",
                       {{"protocolVersion", "2025-11-25"},
                        {"capabilities", json::object{}},
                        {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
  ASSERT_TRUE(out->response(1000));
  conn.receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  conn.receive(request(1, "tools/call", {{"name", "later"}, {"arguments", {{"word", "old"}}}}));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "later:old");
  EXPECT_EQ(handler_runs, 0);
}

TEST_F(FastPath, DecliningRunsTheHandlerOnThePool) {
  server::connection conn(*srv, out, {});
  EXPECT_EQ(call(conn, 1, "declines"), "pool");
  EXPECT_EQ(fast_offers, 1);
  EXPECT_EQ(handler_runs, 1);
}

TEST_F(FastPath, ErrorsAnswerLikeTheHandlers) {
  server::connection conn(*srv, out, {});
  EXPECT_EQ(call(conn, 1, "throws"), "isError: no upstream");
  EXPECT_EQ(call(conn, 2, "fails"), "error -32602: Invalid params: upstream says no");
  EXPECT_EQ(call(conn, 3, "drops"), "isError: Tool drops did not answer");
  EXPECT_EQ(handler_runs, 0);
}

TEST_F(FastPath, ArgumentsAreCheckedBeforeTheFastPath) {
  server::connection conn(*srv, out, {});
  std::string r = call(conn, 1, "later", {{"word", 7}});
  EXPECT_EQ(r.rfind("isError: Invalid arguments for tool later", 0), 0u) << r;
  EXPECT_EQ(fast_offers, 0);
}

TEST_F(FastPath, CallsThatMayBecomeTasksOrAreRetriesGoToThePool) {
  server::connection conn(*srv, out, {});
  // The client takes tasks: the pool decides whether this call becomes one.
  EXPECT_EQ(call(conn, 1, "task_capable", {},
                 {{"extensions", json::object{{"io.modelcontextprotocol/tasks", json::object{}}}}}),
            "pool");
  // It does not: the fast path may take it.
  EXPECT_EQ(call(conn, 2, "task_capable"), "fast");
  // An MRTR retry carries answers for the handler.
  conn.receive(
      modern_request(3, "tools/call", {{"name", "later"}, {"inputResponses", json::object{}}}));
  auto r = out->response(3);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "pool");
  EXPECT_EQ(fast_offers, 1);
}

TEST_F(FastPath, TheContextLivesUntilTheAnswerAndSeesCancellation) {
  server::connection conn(*srv, out, {});
  conn.receive(modern_request(1, "tools/call", {{"name", "parks"}}));
  std::optional<server::tool_completion> done;
  {
    std::lock_guard lk(mu);
    ASSERT_TRUE(parked);
    done = parked;
  }
  EXPECT_FALSE(parked_ctx->cancelled());
  conn.receive(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  EXPECT_TRUE(parked_ctx->cancelled());  // still valid: not answered yet
  (*done)(server::tool_result::text("after cancel"));
  // Whatever the client hears (or not) after cancelling, the request is no longer in flight:
  // the same id may be used again.
  conn.receive(modern_request(1, "tools/call", {{"name", "declines"}}));
  auto r = out->take([](const json::value& v) {
    auto& o = v.get_object();
    return o.contains("result") && text_of(v) == "pool";
  });
  EXPECT_TRUE(r);
}

// A fast path that finds out later that it must ask the client (a proxy whose upstream asks
// the caller something) hands the rest of the call to the pool, where the context may ask.
struct DeferringFastPath : FastPath {
  std::atomic<int> rest_runs{0};
  std::thread::id rest_thread;

  void SetUp() override {
    FastPath::SetUp();
    // Defers from another thread, later; `rest` asks for a name when the word is "ask".
    add("defers", [this](server::context&, const json::object&, server::tool_completion done) {
      std::lock_guard lk(mu);
      workers.emplace_back([this, done] {
        std::this_thread::sleep_for(20ms);
        done.continue_on_pool([this](server::context& ctx, const json::object& args) {
          ++rest_runs;
          rest_thread = std::this_thread::get_id();
          auto w = json::find_string(args, "word");
          std::string word = w ? std::string(*w) : "none";
          if (word == "ask") {
            auto e = ctx.elicit(
                "who", "Name?",
                json::object{
                    {"type", "object"},
                    {"properties", json::object{{"name", json::object{{"type", "string"}}}}}});
            return server::tool_result::text("asked:" + e.action);
          }
          return server::tool_result::text("rest:" + word);
        });
        done(server::tool_result::text("too late"));  // the deferral was the answer
      });
      return true;
    });
  }
};

TEST_F(DeferringFastPath, TheRestRunsOnThePoolWithTheCallsArguments) {
  server::connection conn(*srv, out, {});
  EXPECT_EQ(call(conn, 1, "defers", {{"word", "hi"}}), "rest:hi");
  EXPECT_EQ(rest_runs, 1);
  EXPECT_NE(rest_thread, offered_on);
  EXPECT_EQ(handler_runs, 0);
  EXPECT_FALSE(out->response(1, 100ms));  // "too late" was dropped
}

TEST_F(DeferringFastPath, TheRestMayAskAModernClientBoundToTheCall) {
  server::connection conn(*srv, out, {});
  json::object caps{{"elicitation", json::object{{"form", json::object{}}}}};
  json::object params{{"name", "defers"}, {"arguments", json::object{{"word", "ask"}}}};
  conn.receive(modern_request(1, "tools/call", params, caps));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  const auto& result = r->at("result").as_object();
  auto rt = json::find_string(result, "resultType");
  ASSERT_TRUE(rt && *rt == "input_required") << json::dump(*r);
  EXPECT_TRUE(result.at("inputRequests").as_object().contains("who"));
  wire_schema("2026-07-28").expect_valid("InputRequiredResult", r->at("result"));
  auto state = result.at("requestState");
  // The state is bound to this call: other arguments are refused...
  json::object other = params;
  other["arguments"] = json::object{{"word", "other"}};
  other["requestState"] = state;
  other["inputResponses"] = json::object{{"who", json::object{{"action", "decline"}}}};
  conn.receive(modern_request(2, "tools/call", other, caps));
  auto refused = out->response(2);
  ASSERT_TRUE(refused);
  EXPECT_NE(json::dump(*refused).find("bound to another request"), std::string::npos)
      << json::dump(*refused);
  // ...and the same call's retry reaches the handler (a retry is never offered to the fast path).
  json::object retry = params;
  retry["requestState"] = state;
  retry["inputResponses"] = json::object{{"who", json::object{{"action", "decline"}}}};
  conn.receive(modern_request(3, "tools/call", retry, caps));
  auto again = out->response(3);
  ASSERT_TRUE(again);
  EXPECT_EQ(text_of(*again), "pool");
}

TEST_F(DeferringFastPath, TheRestMayAskALegacyClientInline) {
  server::connection conn(*srv, out, {});
  conn.receive(request(1000, "initialize",
                       {{"protocolVersion", "2025-11-25"},
                        {"capabilities", json::object{{"elicitation", json::object{}}}},
                        {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
  ASSERT_TRUE(out->response(1000));
  conn.receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  conn.receive(request(1, "tools/call", {{"name", "defers"}, {"arguments", {{"word", "ask"}}}}));
  // The server asks (elicitation/create) on the call's stream; the client answers.
  auto ask = out->take([](const json::value& v) {
    auto m = json::find_string(v.get_object(), "method");
    return m && *m == "elicitation/create";
  });
  ASSERT_TRUE(ask);
  conn.receive(json::dump(json::object{
      {"jsonrpc", "2.0"},
      {"id", ask->at("id")},
      {"result", json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}}}}));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(text_of(*r), "asked:accept");
  EXPECT_EQ(rest_runs, 1);
}
