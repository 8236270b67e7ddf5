// The gateway federating real upstreams: the everything server in-process and over
// stdio (both eras), the memory server as a child process, a child that cannot start,
// and the misbehaving fault server (tests/interop/fault_server.mjs). Callers are
// Plexus clients of both eras connected in-process to the federated endpoint.
#include "plexus/gateway/gateway.hpp"
#include "plexus/client/client.hpp"
#include "plexus/client/in_process.hpp"
#include "plexus/gateway/operations.hpp"
#include "plexus/gateway/stages.hpp"
#include "plexus/transport/http_server.hpp"

#include "../common/children.hpp"
#include "http_client.hpp"
#include "plexus_http_process.hpp"

#include <gtest/gtest.h>
#include "temp_dir.hpp"

#include <sched.h>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

using namespace plexus;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using plexus::testing::temp_dir;

fs::path interop_dir() {
  return fs::path(__FILE__).parent_path().parent_path() / "interop";
}

gateway::upstream_config builtin(std::string name, std::string server, std::string prefix) {
  gateway::upstream_config u;
  u.name = std::move(name);
  u.prefix = std::move(prefix);
  u.kind = gateway::upstream_kind::builtin;
  u.builtin = std::move(server);
  return u;
}

gateway::upstream_config child(std::string name, std::vector<std::string> argv,
                               std::string prefix) {
  gateway::upstream_config u;
  u.name = std::move(name);
  u.prefix = std::move(prefix);
  u.kind = gateway::upstream_kind::stdio;
  u.command = argv.front();
  u.args.assign(argv.begin() + 1, argv.end());
  u.restart_backoff = 100ms;
  u.restart_backoff_max = 500ms;
  return u;
}

std::set<std::string> names_of(const std::vector<json::object>& items, const char* field = "name") {
  std::set<std::string> out;
  for (const auto& i : items)
    if (auto n = json::find_string(i, field)) out.insert(std::string(*n));
  return out;
}

std::string text_of(const json::object& result) {
  std::string out;
  if (auto c = json::find_array(result, "content"))
    for (const auto& b : *c)
      if (b.is_object())
        if (auto t = json::find_string(b.get_object(), "text")) out += std::string(*t);
  return out;
}

client::input_handlers answering() {
  client::input_handlers h;
  h.sampling = [](const json::object&) -> client::result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "Paris"}}},
                        {"model", "test-model"}};
  };
  h.elicitation = [](const json::object& p) -> client::result<json::object> {
    json::object content;
    if (auto schema = json::find_object(p, "requestedSchema"))
      if (auto props = json::find_object(*schema, "properties"))
        for (const auto& kv : *props) content[kv.key()] = "Ada";
    return json::object{{"action", "accept"}, {"content", content}};
  };
  h.roots = [](const json::object&) -> client::result<json::object> {
    return json::object{
        {"roots", json::array{json::object{{"uri", "file:///work"}, {"name", "work"}}}}};
  };
  return h;
}

std::unique_ptr<client::client> connect(gateway::gateway& gw, client::version_mode mode,
                                        bool with_handlers = true) {
  client::client_options o;
  o.mode = mode;
  if (with_handlers) o.handlers = answering();
  auto c = client::client::connect(client::make_in_process_transport(gw.endpoint()), o);
  if (!c) throw std::runtime_error(c.error().describe());
  return std::move(*c);
}

// A gateway over the everything server (in-process and as a legacy child), the memory
// server as a child, and a child that cannot start.
struct GatewayTest : ::testing::Test {
  temp_dir dir;
  std::unique_ptr<gateway::gateway> gw;

  gateway::gateway_config config() {
    gateway::gateway_config c;
    c.data_dir = dir.path.string();
    c.worker_threads = 16;
    c.upstreams.push_back(builtin("every", "everything", "ev"));
    auto legacy = child("legacy", {PLEXUS_BINARY, "everything", "--stdio"}, "old");
    legacy.protocol = "legacy";
    legacy.allow_tools = {"test_sampling",
                          "test_elicitation",
                          "test_simple_text",
                          "test_tool_with_progress",
                          "test_input_required_result_*",
                          "failing_job"};
    c.upstreams.push_back(legacy);
    c.upstreams.push_back(child(
        "mem",
        {PLEXUS_BINARY, "server", "memory", "--stdio", "--data-dir", (dir.path / "mem").string()},
        "memory"));
    c.upstreams.push_back(child("dead", {(dir.path / "no-such-binary").string()}, "dead"));
    gateway::virtual_server_config v;
    v.name = "simple";
    v.upstreams = {"every"};
    v.tools = {"ev_test_simple_*"};
    c.virtual_servers.push_back(v);
    return c;
  }

  void SetUp() override {
    gw = std::make_unique<gateway::gateway>(config());
    gw->start(20s);
  }
  void TearDown() override { gw->stop(); }
};

}  // namespace

TEST(GatewayNames, PrefixSeparatorAndShortening) {
  EXPECT_EQ(gateway::federated_name("weather", "_", "get_forecast"), "weather_get_forecast");
  EXPECT_EQ(gateway::federated_name("fs", ".", "read"), "fs_read");  // '.' is not kept
  EXPECT_EQ(gateway::federated_name("", "_", "plain"), "plain");
  EXPECT_EQ(gateway::federated_name("x", "_", "a/b c"), "x_a_b_c");
  std::string long_name(80, 'n');
  auto a = gateway::federated_name("p", "_", long_name);
  auto b = gateway::federated_name("p", "_", long_name + "2");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(b.size(), 64u);
  EXPECT_NE(a, b);                                             // same head, different hash
  EXPECT_EQ(a, gateway::federated_name("p", "_", long_name));  // deterministic
  EXPECT_EQ(gateway::federated_uri("fs", "file:///tmp/a"), "fs+file:///tmp/a");
  EXPECT_EQ(gateway::federated_uri("My_Files", "file:///a"), "my-files+file:///a");
  EXPECT_EQ(gateway::federated_uri("", "file:///a"), "file:///a");
}

TEST_F(GatewayTest, ListsArePrefixedAndADeadUpstreamDoesNotBreakThem) {
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    auto c = connect(*gw, mode);
    auto tools = c->list_tools();
    ASSERT_TRUE(tools) << tools.error().describe();
    auto names = names_of(*tools);
    EXPECT_TRUE(names.count("ev_test_simple_text"));
    EXPECT_TRUE(names.count("old_test_sampling"));
    EXPECT_FALSE(names.count("old_test_image_content"));  // not in the allow list
    EXPECT_TRUE(names.count("memory_create_entities"));
    EXPECT_TRUE(names.count("memory_read_graph"));
    for (const auto& n : names) EXPECT_FALSE(n.starts_with("dead_")) << n;
    for (const auto& n : names) EXPECT_LE(n.size(), 64u) << n;
  }
  bool saw_dead = false;
  for (const auto& s : gw->status()) {
    if (s.name == "dead") {
      saw_dead = true;
      EXPECT_EQ(s.state, "down");
      EXPECT_NE(s.last_error.find("no-such-binary"), std::string::npos) << s.last_error;
    } else {
      EXPECT_EQ(s.state, "ready") << s.name << ": " << s.last_error;
    }
  }
  EXPECT_TRUE(saw_dead);
  EXPECT_FALSE(gw->ready());
}

TEST_F(GatewayTest, CallsResourcesAndPromptsCrossTheHop) {
  auto c = connect(*gw, client::version_mode::modern_only);
  auto r = c->call_tool("ev_test_simple_text");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text_of(*r), "This is a simple text response for testing.");

  auto created = c->call_tool(
      "memory_create_entities",
      json::object{{"entities", json::array{json::object{{"name", "Ada"},
                                                         {"entityType", "person"},
                                                         {"observations", json::array{"math"}}}}}});
  ASSERT_TRUE(created) << created.error().describe();
  auto graph = c->call_tool("memory_read_graph");
  ASSERT_TRUE(graph) << graph.error().describe();
  EXPECT_NE(text_of(*graph).find("Ada"), std::string::npos);

  auto resources = c->list_resources();
  ASSERT_TRUE(resources) << resources.error().describe();
  auto uris = names_of(*resources, "uri");
  ASSERT_TRUE(uris.count("ev+test://static-text"));
  auto read = c->read_resource("ev+test://static-text");
  ASSERT_TRUE(read) << read.error().describe();
  auto contents = json::find_array(*read, "contents");
  ASSERT_TRUE(contents && !contents->empty());
  EXPECT_EQ(json::find_string(contents->front().get_object(), "uri")->c_str(),
            std::string("ev+test://static-text"));

  auto templates = c->list_resource_templates();
  ASSERT_TRUE(templates) << templates.error().describe();
  EXPECT_TRUE(names_of(*templates, "uriTemplate").count("ev+test://template/{id}/data"));
  auto templated = c->read_resource("ev+test://template/42/data");
  ASSERT_TRUE(templated) << templated.error().describe();

  auto prompts = c->list_prompts();
  ASSERT_TRUE(prompts) << prompts.error().describe();
  EXPECT_TRUE(names_of(*prompts).count("ev_test_simple_prompt"));
  auto p = c->get_prompt("ev_test_prompt_with_arguments", {{"arg1", "a"}, {"arg2", "b"}});
  ASSERT_TRUE(p) << p.error().describe();

  auto unknown = c->call_tool("ev_no_such_tool");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, -32602);
}

// A result names the server that answers it: the gateway, not the upstream behind it
// (whose modern results carry their own serverInfo). The tool's own _meta still crosses.
TEST_F(GatewayTest, ResultsCarryTheGatewaysServerInfo) {
  auto c = connect(*gw, client::version_mode::modern_only);
  auto server_name = [](const json::object& result) -> std::string {
    auto meta = json::find_object(result, "_meta");
    if (!meta) return "(no _meta)";
    auto info = json::find_object(*meta, "io.modelcontextprotocol/serverInfo");
    if (!info) return "(no serverInfo)";
    auto name = json::find_string(*info, "name");
    return name ? std::string(*name) : "(no name)";
  };
  for (const char* tool : {"ev_test_simple_text", "memory_read_graph"}) {
    auto r = c->call_tool(tool);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(server_name(*r), "plexus-gateway") << tool;
  }
  auto resources = c->list_resources();
  ASSERT_TRUE(resources) << resources.error().describe();
  auto read = c->read_resource("ev+test://static-text");
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(server_name(*read), "plexus-gateway");
}

TEST_F(GatewayTest, ProgressAndTraceContextCrossTheHop) {
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    auto c = connect(*gw, mode);
    for (std::string tool : {"ev_test_tool_with_progress", "old_test_tool_with_progress"}) {
      std::atomic<int> progress{0};
      client::request_options ro;
      ro.on_progress = [&](const json::object&) { ++progress; };
      ro.meta["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      auto r = c->call_tool(tool, {}, ro);
      ASSERT_TRUE(r) << tool << ": " << r.error().describe();
      EXPECT_GE(progress.load(), 1) << tool;
    }
  }
}

// Sampling and elicitation asked by an upstream reach the caller, in every pairing of
// eras: a legacy upstream's request becomes MRTR for a modern caller, and a modern
// upstream's MRTR becomes a request for a legacy caller.
TEST_F(GatewayTest, QuestionsOfUpstreamsReachTheCallerInEveryEraPairing) {
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    auto c = connect(*gw, mode);
    for (std::string prefix : {"ev_", "old_"}) {
      auto s = c->call_tool(prefix + "test_sampling", json::object{{"prompt", "Capital?"}});
      ASSERT_TRUE(s) << prefix
                     << (mode == client::version_mode::modern_only ? " modern" : " legacy") << ": "
                     << s.error().describe();
      EXPECT_NE(text_of(*s).find("Paris"), std::string::npos) << json::dump(*s);
      auto e = c->call_tool(prefix + "test_elicitation", json::object{{"message", "Name?"}});
      ASSERT_TRUE(e) << prefix << ": " << e.error().describe();
      EXPECT_NE(text_of(*e).find("accept"), std::string::npos) << json::dump(*e);
      auto multi = c->call_tool(prefix + "test_input_required_result_multi_round");
      ASSERT_TRUE(multi) << prefix << ": " << multi.error().describe();
      EXPECT_FALSE(json::find_bool(*multi, "isError").value_or(false)) << json::dump(*multi);
    }
  }
}

// Hosts declare roots, sampling or elicitation, so their calls must not cost a waiting
// thread: they take the fast path, and only a call whose upstream really asks moves to the
// handler pool. Stdio upstreams of both eras (questions as legacy requests, and as MRTR
// rounds of an asynchronous request).
struct GatewayAskingCallers : ::testing::Test {
  temp_dir dir;
  std::unique_ptr<gateway::gateway> gw;

  void SetUp() override {
    gateway::gateway_config c;
    c.data_dir = dir.path.string();
    c.worker_threads = 4;  // the fewest handler threads a gateway runs
    auto old = child("old", {PLEXUS_BINARY, "everything", "--stdio"}, "old");
    old.protocol = "legacy";
    auto modern = child("new", {PLEXUS_BINARY, "everything", "--stdio"}, "new");
    modern.protocol = "modern";
    c.upstreams = {old, modern};
    gw = std::make_unique<gateway::gateway>(c);
    gw->start(20s);
  }
  void TearDown() override { gw->stop(); }
};

TEST_F(GatewayAskingCallers, QuestionsReachTheCallerInEveryEraPairing) {
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    auto c = connect(*gw, mode);
    for (std::string prefix : {"old_", "new_"}) {
      std::string where =
          prefix + (mode == client::version_mode::modern_only ? " modern" : " legacy");
      auto plain = c->call_tool(prefix + "test_simple_text");
      ASSERT_TRUE(plain) << where << ": " << plain.error().describe();
      auto s = c->call_tool(prefix + "test_sampling", json::object{{"prompt", "Capital?"}});
      ASSERT_TRUE(s) << where << ": " << s.error().describe();
      EXPECT_NE(text_of(*s).find("Paris"), std::string::npos) << where << json::dump(*s);
      auto e = c->call_tool(prefix + "test_elicitation", json::object{{"message", "Name?"}});
      ASSERT_TRUE(e) << where << ": " << e.error().describe();
      EXPECT_NE(text_of(*e).find("accept"), std::string::npos) << where << json::dump(*e);
      auto multi = c->call_tool(prefix + "test_input_required_result_multi_round");
      ASSERT_TRUE(multi) << where << ": " << multi.error().describe();
      EXPECT_FALSE(json::find_bool(*multi, "isError").value_or(false))
          << where << json::dump(*multi);
    }
  }
}

TEST_F(GatewayAskingCallers, CallsRunWhileEveryHandlerThreadWaitsForAnAnswer) {
  // Legacy callers whose person takes their time: each question holds a handler thread,
  // until all four are held. (A modern upstream: its questions name their call; a legacy
  // one's over stdio cannot while several calls are in flight.)
  constexpr int pool = 4;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> asked{0};
  client::client_options o;
  o.mode = client::version_mode::legacy_only;
  o.handlers = answering();
  o.handlers.elicitation = [&, answer = o.handlers.elicitation](const json::object& p) {
    ++asked;
    released.wait();
    return answer(p);
  };
  auto asker = client::client::connect(client::make_in_process_transport(gw->endpoint()), o);
  ASSERT_TRUE(asker) << asker.error().describe();
  std::vector<std::optional<client::result<json::object>>> asked_results(pool);
  std::vector<std::thread> waiting;
  for (int i = 0; i < pool; ++i)
    waiting.emplace_back([&, i] {
      asked_results[i] =
          (*asker)->call_tool("new_test_elicitation", json::object{{"message", "Name?"}});
    });
  for (int i = 0; i < 500 && asked.load() < pool; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(asked.load(), pool);
  // Callers that could be asked too (they declare all three capabilities) are still served.
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    client::client_options co;
    co.mode = mode;
    co.handlers = answering();
    co.request_timeout = 5s;
    auto c = client::client::connect(client::make_in_process_transport(gw->endpoint()), co);
    ASSERT_TRUE(c) << c.error().describe();
    for (std::string prefix : {"old_", "new_"}) {
      auto r = (*c)->call_tool(prefix + "test_simple_text");
      EXPECT_TRUE(r) << prefix << ": " << (r ? std::string() : r.error().describe());
    }
  }
  release.set_value();
  for (auto& t : waiting) t.join();
  for (const auto& r : asked_results) {
    ASSERT_TRUE(r && *r) << (r ? r->error().describe() : "no answer");
    EXPECT_NE(text_of(**r).find("accept"), std::string::npos);
  }
}

// An upstream's list_changed reaches callers even when the list looks the same from here.
TEST_F(GatewayTest, ListChangedAndCompletionsCrossTheHop) {
  std::atomic<int> changed{0};
  client::client_options o;
  o.mode = client::version_mode::legacy_only;
  o.on_notification = [&](const std::string& method, const json::object&) {
    if (method == "notifications/tools/list_changed") ++changed;
  };
  auto c = client::client::connect(client::make_in_process_transport(gw->endpoint()), o);
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->call_tool("ev_test_trigger_tool_change");
  ASSERT_TRUE(r) << r.error().describe();
  for (int i = 0; i < 100 && changed.load() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(changed.load(), 1);

  auto done = (*c)->request(
      "completion/complete",
      json::object{
          {"ref", json::object{{"type", "ref/resource"}, {"uri", "ev+test://template/{id}/data"}}},
          {"argument", json::object{{"name", "id"}, {"value", ""}}}});
  ASSERT_TRUE(done) << done.error().describe();
  auto values = json::find_array(*json::find_object(*done, "completion"), "values");
  ASSERT_NE(values, nullptr);
  EXPECT_FALSE(values->empty()) << json::dump(*done);
}

// An upstream that keeps announcing list changes while calls run (the gateway re-lists and
// re-announces each time): every call still succeeds.
TEST_F(GatewayTest, ListChangeAnnouncementsWhileCallsRun) {
  auto c = connect(*gw, client::version_mode::modern_only);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) (void)c->call_tool("ev_test_trigger_tool_change");
  });
  std::vector<std::thread> callers;
  std::atomic<int> ok{0}, failed{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto r = c->call_tool("ev_test_simple_text");
        if (r && !json::find_bool(*r, "isError").value_or(false))
          ++ok;
        else
          ++failed;
      }
    });
  for (auto& t : callers) t.join();
  stop.store(true);
  churn.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), 200);
  auto tools = c->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_TRUE(names_of(*tools).count("ev_test_simple_text"));
}

TEST_F(GatewayTest, VirtualServerExposesItsSubset) {
  auto eps = gw->virtual_endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].first, "simple");
  client::client_options o;
  auto c = client::client::connect(client::make_in_process_transport(*eps[0].second), o);
  ASSERT_TRUE(c) << c.error().describe();
  auto tools = (*c)->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  auto names = names_of(*tools);
  EXPECT_TRUE(names.count("ev_test_simple_text"));
  for (const auto& n : names) EXPECT_TRUE(n.starts_with("ev_test_simple_")) << n;
  auto r = (*c)->call_tool("ev_test_simple_text");
  ASSERT_TRUE(r) << r.error().describe();
}

TEST_F(GatewayTest, ReloadAddsAndRemovesUpstreams) {
  auto cfg = config();
  cfg.upstreams.erase(cfg.upstreams.begin() + 2);  // mem
  cfg.upstreams.push_back(builtin("mem2", "memory", "graph"));
  cfg.upstreams.back().builtin_settings.data_dir = (dir.path / "mem2").string();
  gw->reload(cfg);
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::set<std::string> names;
  while (std::chrono::steady_clock::now() < deadline) {
    names.clear();
    for (const auto& t : gw->tools()) names.insert(t.name);
    if (names.count("graph_read_graph") && !names.count("memory_read_graph")) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(names.count("graph_read_graph"));
  EXPECT_FALSE(names.count("memory_read_graph"));
  EXPECT_TRUE(names.count("ev_test_simple_text"));  // untouched upstreams keep serving
}

TEST(Gateway, NameCollisionsAreReportedAtLoad) {
  temp_dir dir;
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  c.upstreams.push_back(builtin("a", "everything", "x_y"));
  c.upstreams.push_back(builtin("b", "everything", "x.y"));  // the same federated names
  gateway::gateway gw(c);
  gw.start(20s);
  auto problems = gw.problems();
  gw.stop();
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find("name collision"), std::string::npos) << problems.front();
}

TEST(Gateway, FaultyUpstreamsFailFastWithClearToolErrors) {
  if (std::system("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  temp_dir dir;
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  c.upstreams.push_back(builtin("every", "everything", "ev"));
  auto crash =
      child("crash", {"node", (interop_dir() / "fault_server.mjs").string(), "crash"}, "crash");
  crash.breaker_failures = 2;
  crash.breaker_cooldown = 30s;
  c.upstreams.push_back(crash);
  auto hang =
      child("hang", {"node", (interop_dir() / "fault_server.mjs").string(), "hang"}, "hang");
  hang.timeout = 500ms;
  c.upstreams.push_back(hang);
  auto garbage =
      child("garbage", {"node", (interop_dir() / "fault_server.mjs").string(), "garbage"}, "junk");
  garbage.timeout = 500ms;
  c.upstreams.push_back(garbage);
  gateway::gateway gw(c);
  gw.start(20s);
  // A caller that answers nothing takes the fast path (request_async), one that answers
  // questions the handler's path: both fail fast and clearly.
  for (bool answers : {false, true}) {
    SCOPED_TRACE(answers ? "handler path" : "fast path");
    auto cl = connect(gw, client::version_mode::modern_only, answers);

    auto r = cl->call_tool("crash_boom");
    ASSERT_TRUE(r) << r.error().describe();  // a tool error, not a protocol error
    EXPECT_TRUE(json::find_bool(*r, "isError").value_or(false));
    EXPECT_NE(text_of(*r).find("upstream 'crash'"), std::string::npos) << text_of(*r);

    auto t0 = std::chrono::steady_clock::now();
    auto h = cl->call_tool("hang_boom");
    ASSERT_TRUE(h) << h.error().describe();
    EXPECT_TRUE(json::find_bool(*h, "isError").value_or(false));
    EXPECT_NE(text_of(*h).find("timed out"), std::string::npos) << text_of(*h);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

    auto g = cl->call_tool("junk_boom");
    ASSERT_TRUE(g) << g.error().describe();
    EXPECT_TRUE(json::find_bool(*g, "isError").value_or(false));

    // The healthy upstream is untouched by all of this.
    auto ok = cl->call_tool("ev_test_simple_text");
    ASSERT_TRUE(ok) << ok.error().describe();
    EXPECT_FALSE(json::find_bool(*ok, "isError").value_or(false));
  }
  gw.stop();
}

// A caller that can answer nothing makes plain calls: to a stdio, WebSocket or 2026-07-28 HTTP
// upstream they go out from the thread that decoded them and come back on the upstream
// client's threads, with no handler thread waiting (server::async_tool_handler,
// client::request_async): slow calls do not hold the handler threads, and progress,
// time-outs, cancellation and failures still cross the hop.
TEST(Gateway, PlainCallsHoldNoHandlerThread) {
  plexus::testing::plexus_http_process upstream_server;
  for (auto kind : {gateway::upstream_kind::stdio, gateway::upstream_kind::http,
                    gateway::upstream_kind::websocket}) {
    SCOPED_TRACE("upstream kind " + std::to_string(static_cast<int>(kind)));
    temp_dir dir;
    gateway::gateway_config c;
    c.data_dir = dir.path.string();
    c.worker_threads = 4;
    auto ev = child("ev", {PLEXUS_BINARY, "everything", "--stdio"}, "ev");
    ev.kind = kind;
    if (kind == gateway::upstream_kind::http) ev.url = upstream_server.url();
    if (kind == gateway::upstream_kind::websocket)
      ev.url = "ws://127.0.0.1:" + std::to_string(upstream_server.port()) + "/ws";
    ev.timeout = 2s;
    c.upstreams.push_back(ev);
    gateway::gateway gw(c);
    gw.start(20s);
    for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
      auto cl = connect(gw, mode, false);
      auto r = cl->call_tool("ev_echo", {{"text", "over the hop"}});
      ASSERT_TRUE(r) << r.error().describe();
      EXPECT_EQ(text_of(*r), "over the hop");
      // Arguments are checked against the federated schema first.
      auto bad = cl->call_tool("ev_echo", {{"text", 5}});
      ASSERT_TRUE(bad) << bad.error().describe();
      EXPECT_TRUE(json::find_bool(*bad, "isError").value_or(false));

      // Four slow calls fill the four handler threads (the least a gateway has) while they
      // wait upstream; a fifth call is not held behind them.
      std::vector<std::thread> callers;
      std::atomic<int> ok{0};
      for (int i = 0; i < 4; ++i)
        callers.emplace_back([&] {
          auto x = cl->call_tool("ev_long_running_operation", {{"duration", 1.5}, {"steps", 1}});
          if (x && !json::find_bool(*x, "isError").value_or(false)) ++ok;
        });
      std::this_thread::sleep_for(300ms);
      auto t0 = std::chrono::steady_clock::now();
      auto quick = cl->call_tool("ev_echo", {{"text", "not queued"}});
      auto waited = std::chrono::steady_clock::now() - t0;
      ASSERT_TRUE(quick) << quick.error().describe();
      EXPECT_EQ(text_of(*quick), "not queued");
      EXPECT_LT(waited, 700ms);
      for (auto& t : callers) t.join();
      EXPECT_EQ(ok.load(), 4);

      std::atomic<int> progress{0};
      client::request_options ro;
      ro.on_progress = [&](const json::object&) { ++progress; };
      auto p = cl->call_tool("ev_long_running_operation", {{"duration", 0.2}, {"steps", 2}}, ro);
      ASSERT_TRUE(p) << p.error().describe();
      EXPECT_EQ(progress.load(), 2);

      // The caller's era does not change what the upstream client does next.
      if (mode == client::version_mode::legacy_only) continue;
      // The upstream's time-out (2 s) ends a call that takes longer: a tool error.
      auto slow = cl->call_tool("ev_long_running_operation", {{"duration", 4}, {"steps", 1}});
      ASSERT_TRUE(slow) << slow.error().describe();
      EXPECT_TRUE(json::find_bool(*slow, "isError").value_or(false));
      EXPECT_NE(text_of(*slow).find("timed out"), std::string::npos) << text_of(*slow);

      // The caller's cancel reaches the upstream call.
      auto cancel = std::make_shared<client::cancellation>();
      client::request_options co;
      co.cancel = cancel;
      std::thread canceller([cancel] {
        std::this_thread::sleep_for(200ms);
        cancel->cancel();
      });
      auto x = cl->call_tool("ev_long_running_operation", {{"duration", 1.5}, {"steps", 1}}, co);
      canceller.join();
      ASSERT_FALSE(x);
      EXPECT_EQ(x.error().kind, client::error::cancelled);
      // The gateway's upstream call ends well before the 1.5 s the tool would take.
      auto deadline = std::chrono::steady_clock::now() + 700ms;
      while (gw.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
      EXPECT_EQ(gw.in_flight(), 0);
    }
    gw.stop();
  }
}

TEST_F(GatewayTest, OperationsEndpoints) {
  gateway::operations ops(*gw);
  transport::http_server_options h;
  h.port = 0;
  transport::http_server hs(gw->endpoint(), h);
  ops.mount(hs);
  hs.start();
  auto c = connect(*gw, client::version_mode::modern_only);
  ASSERT_TRUE(c->call_tool("ev_test_simple_text"));

  auto get = [&](const std::string& path) {
    auto r = plexus::testing::http::exchange(
        hs.port(), plexus::testing::http::build_request("GET", path, hs.port()));
    if (!r) throw std::runtime_error("no answer to GET " + path);
    return *r;
  };
  auto health = get("/health");
  EXPECT_EQ(health.status, 200);
  auto ready = get("/ready");
  EXPECT_EQ(ready.status, 503);  // "dead" never starts
  auto rj = boost::json::parse(ready.body).as_object();
  EXPECT_EQ(rj.at("status"), "not_ready");
  EXPECT_EQ(rj.at("upstreams").as_array().size(), 4u);
  auto metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("plexus_gateway_requests_total{method=\"tools/call\",name=\"ev_test_"
                              "simple_text\",upstream=\"every\",outcome=\"ok\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("plexus_gateway_upstream_up{upstream=\"dead\",kind=\"stdio\"} 0"),
            std::string::npos);
  auto tools = get("/api/tools");
  EXPECT_EQ(tools.status, 200);
  EXPECT_NE(tools.body.find("memory_read_graph"), std::string::npos);
  auto call = plexus::testing::http::exchange(
      hs.port(),
      plexus::testing::http::build_request("POST", "/api/tools/ev_test_simple_text", hs.port(),
                                           {{"Content-Type", "application/json"}}, "{}"));
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, 200) << call->body;
  EXPECT_NE(call->body.find("simple text response"), std::string::npos) << call->body;
  hs.stop(0ms);
}

// Floods of output, a line that never ends, and a tool removed while it is being called:
// the gateway keeps serving everyone else, and each caller gets a clear answer.
TEST(Gateway, FloodingUpstreamsAndToolsRemovedMidCall) {
  if (std::system("node --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  temp_dir dir;
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  c.upstreams.push_back(builtin("every", "everything", "ev"));
  auto fault = [&](const char* mode, const char* prefix) {
    auto u = child(prefix, {"node", (interop_dir() / "fault_server.mjs").string(), mode}, prefix);
    u.timeout = 10s;
    return u;
  };
  c.upstreams.push_back(fault("flood", "flood"));
  c.upstreams.push_back(fault("endless-line", "endless"));
  c.upstreams.push_back(fault("remove-tool", "change"));
  gateway::gateway gw(c);
  gw.start(20s);
  auto cl = connect(gw, client::version_mode::modern_only);

  // While one upstream floods, the others answer promptly.
  std::optional<client::result<json::object>> flooded;
  std::thread flood([&] { flooded = cl->call_tool("flood_boom"); });
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto ok = cl->call_tool("ev_test_simple_text");
    ASSERT_TRUE(ok) << ok.error().describe();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  }
  flood.join();
  ASSERT_TRUE(flooded && *flooded) << (flooded ? flooded->error().describe() : "no answer");
  EXPECT_FALSE(json::find_bool(**flooded, "isError").value_or(false)) << text_of(**flooded);
  EXPECT_EQ(text_of(**flooded).rfind("flooded ", 0), 0u) << text_of(**flooded);

  // A line past the message size limit ends that call (and that child), not the gateway.
  auto t0 = std::chrono::steady_clock::now();
  auto endless = cl->call_tool("endless_boom");
  ASSERT_TRUE(endless) << endless.error().describe();
  EXPECT_TRUE(json::find_bool(*endless, "isError").value_or(false));
  EXPECT_NE(text_of(*endless).find("upstream 'endless'"), std::string::npos) << text_of(*endless);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 9s);

  // The tool being called disappears: the call in flight still gets its answer, the
  // federated list drops the tool, and a new call to it is an unknown tool.
  auto before = cl->list_tools();
  ASSERT_TRUE(before) << before.error().describe();
  ASSERT_TRUE(names_of(*before).count("change_boom"));
  auto removed = cl->call_tool("change_boom");
  ASSERT_TRUE(removed) << removed.error().describe();
  EXPECT_EQ(text_of(*removed), "answered after removal");
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    // A new caller each time: a modern caller's list is cached for its ttlMs.
    auto now = connect(gw, client::version_mode::modern_only)->list_tools();
    ASSERT_TRUE(now) << now.error().describe();
    gone = !names_of(*now).count("change_boom") && names_of(*now).count("change_stays");
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone) << "change_boom is still listed";
  auto unknown = cl->call_tool("change_boom");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, -32602);
  auto stays = cl->call_tool("change_stays");
  ASSERT_TRUE(stays) << stays.error().describe();
  EXPECT_EQ(text_of(*stays), "still here");
  auto ok = cl->call_tool("ev_test_simple_text");
  ASSERT_TRUE(ok) << ok.error().describe();
  gw.stop();
}

namespace {

// Polls the gateway's tasks/get until the task is terminal (or input_required).
json::object poll_task(client::client& c, const std::string& id) {
  client::request_options ro;
  ro.tasks = true;
  for (int i = 0; i < 500; ++i) {
    auto g = c.request("tasks/get", json::object{{"taskId", id}}, ro);
    if (!g) throw std::runtime_error(g.error().describe());
    auto s = std::string(*json::find_string(*g, "status"));
    if (s != "working") return *g;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("task " + id + " still working");
}

}  // namespace

// Tasks cross the gateway: the caller's task follows the upstream's, for an in-process
// (modern) upstream and a legacy child; input asked inside the task, failures and
// cancellation reach the right side.
TEST_F(GatewayTest, TasksFollowTheUpstreamTask) {
  auto c = connect(*gw, client::version_mode::modern_only);
  client::request_options ro;
  ro.tasks = true;
  for (std::string prefix : {"ev_", "old_"}) {
    // A tool that requires a task: the caller gets a task handle, then the tool's result.
    auto r = c->call_tool(prefix + "failing_job", {}, ro);
    ASSERT_TRUE(r) << prefix << ": " << r.error().describe();
    ASSERT_EQ(std::string(*json::find_string(*r, "resultType")), "task") << json::dump(*r);
    auto done = poll_task(*c, std::string(*json::find_string(*r, "taskId")));
    EXPECT_EQ(std::string(*json::find_string(done, "status")), "completed") << json::dump(done);
    auto result = json::find_object(done, "result");
    ASSERT_TRUE(result) << json::dump(done);
    EXPECT_TRUE(json::find_bool(*result, "isError").value_or(false));
    EXPECT_NE(text_of(*result).find("the job failed"), std::string::npos) << json::dump(done);
  }

  // Input asked inside the upstream's task: our task waits for tasks/update.
  auto r = c->call_tool("ev_confirm_delete", json::object{{"filename", "a.txt"}}, ro);
  ASSERT_TRUE(r) << r.error().describe();
  ASSERT_EQ(std::string(*json::find_string(*r, "resultType")), "task") << json::dump(*r);
  std::string id(*json::find_string(*r, "taskId"));
  auto waiting = poll_task(*c, id);
  ASSERT_EQ(std::string(*json::find_string(waiting, "status")), "input_required")
      << json::dump(waiting);
  auto reqs = json::find_object(waiting, "inputRequests");
  ASSERT_TRUE(reqs && reqs->size() == 1) << json::dump(waiting);
  json::object answers;
  answers[reqs->begin()->key()] =
      json::object{{"action", "accept"}, {"content", json::object{{"confirm", true}}}};
  auto u =
      c->request("tasks/update", json::object{{"taskId", id}, {"inputResponses", answers}}, ro);
  ASSERT_TRUE(u) << u.error().describe();
  auto finished = poll_task(*c, id);
  ASSERT_EQ(std::string(*json::find_string(finished, "status")), "completed")
      << json::dump(finished);
  EXPECT_EQ(text_of(*json::find_object(finished, "result")), "Deleted a.txt");

  // A protocol error of the upstream's task fails ours with the same error.
  auto p = c->call_tool("ev_protocol_error_job", {}, ro);
  ASSERT_TRUE(p) << p.error().describe();
  auto failed = poll_task(*c, std::string(*json::find_string(*p, "taskId")));
  ASSERT_EQ(std::string(*json::find_string(failed, "status")), "failed") << json::dump(failed);
  EXPECT_EQ(json::find_int(*json::find_object(failed, "error"), "code"), -32603);

  // Cancelling ours cancels the upstream's: the gateway stops following it at once.
  auto slow = c->call_tool("ev_slow_compute", json::object{{"seconds", 30}}, ro);
  ASSERT_TRUE(slow) << slow.error().describe();
  std::string slow_id(*json::find_string(*slow, "taskId"));
  std::this_thread::sleep_for(100ms);
  EXPECT_GE(gw->in_flight(), 1);
  auto cancelled = c->request("tasks/cancel", json::object{{"taskId", slow_id}}, ro);
  ASSERT_TRUE(cancelled) << cancelled.error().describe();
  for (int i = 0; i < 150 && gw->in_flight() > 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(gw->in_flight(), 0);

  // A legacy caller asks for the task itself (params.task) and collects the result with
  // tasks/result.
  auto legacy = connect(*gw, client::version_mode::legacy_only);
  auto created = legacy->request(
      "tools/call", json::object{{"name", "old_failing_job"}, {"task", json::object{}}});
  ASSERT_TRUE(created) << created.error().describe();
  auto task = json::find_object(*created, "task");
  ASSERT_TRUE(task) << json::dump(*created);
  auto out = legacy->request("tasks/result",
                             json::object{{"taskId", *json::find_string(*task, "taskId")}});
  ASSERT_TRUE(out) << out.error().describe();
  EXPECT_NE(text_of(*out).find("the job failed"), std::string::npos) << json::dump(*out);
}

// The stage chain in the request path: a rate-limited upstream refuses calls over its limit
// with a JSON-RPC error naming the limit; other upstreams and lists are not affected.
TEST(Gateway, RateLimitStageRefusesCallsOverTheUpstreamLimit) {
  temp_dir dir;
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  auto limited = builtin("every", "everything", "ev");
  limited.rate_limit = {.per_second = 2, .burst = 2};
  c.upstreams.push_back(limited);
  c.upstreams.push_back(builtin("other", "everything", "ot"));
  gateway::gateway gw(c);
  gw.start(20s);
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    auto cl = connect(gw, mode);
    std::this_thread::sleep_for(1100ms);  // a full bucket
    int ok = 0, refused = 0;
    for (int i = 0; i < 6; ++i) {
      auto r = cl->call_tool("ev_test_simple_text");
      if (r) {
        ++ok;
        continue;
      }
      ++refused;
      EXPECT_EQ(r.error().code, gateway::rate_limited_code) << r.error().describe();
      EXPECT_NE(r.error().message.find("upstream every"), std::string::npos) << r.error().message;
    }
    EXPECT_GE(ok, 2);
    EXPECT_LE(ok, 3);  // the burst, plus at most one token refilled meanwhile
    EXPECT_EQ(ok + refused, 6);
    for (int i = 0; i < 10; ++i) {
      auto r = cl->call_tool("ot_test_simple_text");
      ASSERT_TRUE(r) << r.error().describe();
    }
    auto tools = cl->list_tools();
    ASSERT_TRUE(tools) << tools.error().describe();
  }
  gw.stop();
}

TEST(Gateway, ChildUpstreamsRunUnderTheConfiguredScheduling) {
  if (::sched_getscheduler(0) != SCHED_OTHER) GTEST_SKIP() << "the tests run under another policy";
  temp_dir dir;
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  auto batch_dir = (dir.path / "batch").string(), plain_dir = (dir.path / "plain").string();
  auto batch =
      child("b", {PLEXUS_BINARY, "server", "memory", "--stdio", "--data-dir", batch_dir}, "b");
  batch.batch_scheduling = true;
  c.upstreams.push_back(batch);
  c.upstreams.push_back(
      child("p", {PLEXUS_BINARY, "server", "memory", "--stdio", "--data-dir", plain_dir}, "p"));
  gateway::gateway gw(c);
  gw.start(20s);
  using plexus::testing::child_with, plexus::testing::policy_of;
  EXPECT_EQ(policy_of(child_with(batch_dir)), SCHED_BATCH);
  EXPECT_EQ(policy_of(child_with(plain_dir)), SCHED_OTHER);  // the default: inherited
  gw.stop();
}

TEST(Gateway, UpstreamsAreAskedOnlyForTheLogsTheCallerTakes) {
  // The gateway asked every upstream for debug logs and dropped what its caller did not take:
  // all of them when the caller named no level, as most 2026-07-28 callers do.
  temp_dir dir;
  auto seen = dir.path / "upstream-input.jsonl";
  gateway::gateway_config c;
  c.data_dir = dir.path.string();
  c.upstreams.push_back(child(
      "ev", {"sh", "-c", "tee " + seen.string() + " | " + PLEXUS_BINARY + " everything --stdio"},
      "ev"));
  gateway::gateway gw(c);
  gw.start(20s);
  auto cl = connect(gw, client::version_mode::modern_only, false);
  ASSERT_TRUE(cl->call_tool("ev_echo", {{"text", "no logs"}}));
  client::request_options warnings;
  warnings.log_level = protocol::logging_level::warning;
  ASSERT_TRUE(cl->call_tool("ev_echo", {{"text", "warnings"}}, warnings));
  gw.stop();

  std::vector<json::object> metas;  // of the tools/call requests the upstream read
  std::ifstream in(seen);
  for (std::string line; std::getline(in, line);) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    auto method = ec || !v.is_object() ? nullptr : json::find_string(v.get_object(), "method");
    if (!method || *method != "tools/call") continue;
    auto params = json::find_object(v.get_object(), "params");
    auto meta = params ? json::find_object(*params, "_meta") : nullptr;
    metas.push_back(meta ? *meta : json::object{});
  }
  ASSERT_EQ(metas.size(), 2u);
  EXPECT_FALSE(metas[0].contains(protocol::meta::log_level));
  auto level = json::find_string(metas[1], protocol::meta::log_level);
  ASSERT_TRUE(level);
  EXPECT_EQ(*level, "warning");
}

TEST(GatewayCli, CheckShowsUpstreamsWithoutAPrefix) {
  // `prefix: ""` mounts an upstream's tools under their own names: the table says "(none)"
  // (it printed "_*", a prefix no tool has).
  temp_dir dir;
  auto cfg = dir.path / "plexus.yaml";
  std::ofstream(cfg) << "upstreams:\n"
                        "  plain:\n"
                        "    builtin: everything\n"
                        "    prefix: \"\"\n"
                        "  ev:\n"
                        "    builtin: everything\n"
                        "    prefix: ev\n";
  std::string cmd = std::string(PLEXUS_BINARY) + " gateway --check " + cfg.string() + " 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  EXPECT_NE(out.find("(none)"), std::string::npos) << out;
  EXPECT_NE(out.find("ev_*"), std::string::npos) << out;
  EXPECT_EQ(out.find(" _*"), std::string::npos) << out;
}
