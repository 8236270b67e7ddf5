// Tasks in both eras, in process: the modern extension io.modelcontextprotocol/tasks
// (server-directed tasks, tasks/get|update|cancel, MRTR inside tasks) and legacy
// 2025-11-25 tasks (task-augmented tools/call, tasks/get|result|cancel|list,
// notifications/tasks/status), with wire shapes checked against the official schemas.
#include "engine_harness.hpp"

#include "server/server_impl.hpp"
#include "server/tasks.hpp"

#include <regex>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view ext = "io.modelcontextprotocol/tasks";

json::object tasks_caps(json::object extra = {}) {
  extra["extensions"] = json::object{{ext, json::object{}}};
  return extra;
}

bool is_iso8601(const json::value& v) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
  return v.is_string() && std::regex_match(std::string(v.get_string()), re);
}

std::string first_text(const json::object& call_result) {
  return std::string(call_result.at("content").as_array().at(0).as_object().at("text").as_string());
}

struct TasksTest : ::testing::Test {
  std::unique_ptr<server::server> srv = servers::make_everything_server();
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn =
      std::make_unique<server::connection>(*srv, out, server::connection_options{});
  std::int64_t next_id = 1;

  // The whole response to one request.
  json::object exchange(const std::string& text, std::int64_t id) {
    conn->receive(text);
    auto r = out->response(id, 10s);
    EXPECT_TRUE(r) << "no response to " << text;
    return r ? r->as_object() : json::object{};
  }
  json::object modern(std::string_view method, json::object params,
                      json::object caps = tasks_caps({{"elicitation", json::object{}}})) {
    auto id = next_id++;
    return exchange(modern_request(id, method, std::move(params), std::move(caps)), id);
  }
  json::object legacy(std::string_view method, json::object params = {}) {
    auto id = next_id++;
    return exchange(request(id, method, std::move(params)), id);
  }
  static json::object result(const json::object& response) {
    EXPECT_TRUE(response.contains("result")) << json::dump(response);
    return response.contains("result") ? response.at("result").as_object() : json::object{};
  }
  static json::object error(const json::object& response) {
    EXPECT_TRUE(response.contains("error")) << json::dump(response);
    return response.contains("error") ? response.at("error").as_object() : json::object{};
  }

  // Modern: creates a task by calling a task-supporting tool.
  std::string create(std::string_view tool, json::object args = {}) {
    auto r = result(modern("tools/call", {{"name", tool}, {"arguments", std::move(args)}}));
    EXPECT_EQ(r["resultType"], "task") << json::dump(r);
    return r.contains("taskId") ? std::string(r.at("taskId").as_string()) : std::string();
  }
  // Modern: polls tasks/get until the status is `want` or terminal.
  json::object poll(const std::string& task_id, std::string_view want = "completed",
                    std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json::object t;
    while (std::chrono::steady_clock::now() < deadline) {
      t = result(modern("tasks/get", {{"taskId", task_id}}));
      std::string status = t["status"].is_string() ? std::string(t["status"].get_string()) : "";
      if (status == want || status == "completed" || status == "failed" || status == "cancelled")
        return t;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "task " << task_id << " never reached " << want << ": " << json::dump(t);
    return t;
  }

  void initialize(std::string version = "2025-11-25", json::object caps = {}) {
    auto r = result(
        legacy("initialize", {{"protocolVersion", version},
                              {"capabilities", std::move(caps)},
                              {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}));
    ASSERT_EQ(r.at("protocolVersion"), json::value(version));
    conn->receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
  // Legacy: a task-augmented tools/call; returns the task id.
  std::string legacy_create(std::string_view tool, json::object args = {},
                            json::object task = {{"ttl", 60000}}) {
    auto r = result(
        legacy("tools/call", {{"name", tool}, {"arguments", std::move(args)}, {"task", task}}));
    wire_schema("2025-11-25").expect_valid("CreateTaskResult", r);
    EXPECT_FALSE(r.contains("content"));
    auto t = r["task"].is_object() ? r["task"].get_object() : json::object{};
    EXPECT_EQ(t["status"], "working");
    return t.contains("taskId") ? std::string(t.at("taskId").as_string()) : std::string();
  }
};

}  // namespace

// ---- modern (2026-07-28, extension io.modelcontextprotocol/tasks) ------------------

TEST_F(TasksTest, ModernDiscoverAdvertisesTheExtension) {
  auto r = result(modern("server/discover", {}));
  const auto& caps = r.at("capabilities").as_object();
  ASSERT_TRUE(caps.contains("extensions")) << json::dump(caps);
  EXPECT_TRUE(caps.at("extensions").as_object().contains(ext));
  EXPECT_FALSE(caps.contains("tasks"));  // the v1 slot is legacy only
  wire_schema("2026-07-28").expect_valid("DiscoverResult", r);
}

TEST_F(TasksTest, ModernCreateGetComplete) {
  auto created = result(
      modern("tools/call", {{"name", "slow_compute"},
                            {"arguments", json::object{{"seconds", 0.3}, {"label", "unit"}}}}));
  // A flat CreateTaskResult: the Task fields at the top, no wrapper, no result.
  EXPECT_EQ(created["resultType"], "task");
  ASSERT_TRUE(created["taskId"].is_string());
  EXPECT_EQ(created["status"], "working");
  EXPECT_TRUE(is_iso8601(created["createdAt"])) << json::dump(created);
  EXPECT_TRUE(is_iso8601(created["lastUpdatedAt"]));
  EXPECT_TRUE(created["ttlMs"].is_int64() && created["ttlMs"].get_int64() > 0);
  EXPECT_TRUE(created["pollIntervalMs"].is_int64() && created["pollIntervalMs"].get_int64() > 0);
  for (auto k : {"task", "ttl", "pollInterval", "result", "error", "inputRequests", "requestState",
                 "content"})
    EXPECT_FALSE(created.contains(k)) << k;
  std::string id(created["taskId"].get_string());

  // Durable create: tasks/get right away resolves it, still working.
  auto working = result(modern("tasks/get", {{"taskId", id}}));
  EXPECT_EQ(working["taskId"], json::value(id));
  EXPECT_EQ(working["resultType"], "complete");
  EXPECT_EQ(working["status"], "working");
  EXPECT_FALSE(working.contains("result"));
  EXPECT_FALSE(working.contains("requestState"));

  auto done = poll(id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["resultType"], "complete");
  ASSERT_TRUE(done["result"].is_object()) << json::dump(done);
  const auto& inlined = done["result"].get_object();
  EXPECT_EQ(first_text(inlined), "slow_compute unit: done after 0.3 s");
  EXPECT_FALSE(inlined.contains("isError"));
  EXPECT_FALSE(done.contains("error"));
  // No related-task metadata on the inlined result: the taskId is at the root.
  if (auto m = json::find_object(inlined, "_meta")) {
    EXPECT_FALSE(m->contains("io.modelcontextprotocol/related-task"));
  }
  wire_schema("2026-07-28").expect_valid("CallToolResult", inlined);
}

TEST_F(TasksTest, ModernToolErrorCompletesWithIsError) {
  auto id = create("failing_job");
  auto done = poll(id);
  EXPECT_EQ(done["status"], "completed");
  ASSERT_TRUE(done["result"].is_object());
  EXPECT_EQ(done["result"].get_object()["isError"], true);
  EXPECT_FALSE(done.contains("error"));
}

TEST_F(TasksTest, ModernProtocolErrorFailsWithInlinedError) {
  auto id = create("protocol_error_job");
  auto done = poll(id);
  EXPECT_EQ(done["status"], "failed");
  ASSERT_TRUE(done["error"].is_object()) << json::dump(done);
  EXPECT_EQ(done["error"].get_object()["code"], -32603);
  EXPECT_EQ(done["error"].get_object()["message"], "protocol_error_job: the job crashed");
  EXPECT_FALSE(done.contains("result"));
}

TEST_F(TasksTest, ModernCancelAcksAndSettlesCancelled) {
  auto id = create("slow_compute", {{"seconds", 60}, {"label", "cancel-me"}});
  auto ack = result(modern("tasks/cancel", {{"taskId", id}}));
  EXPECT_EQ(ack["resultType"], "complete");
  for (auto k : {"taskId", "status", "result", "error", "inputRequests"})
    EXPECT_FALSE(ack.contains(k)) << k;
  wire_schema("2026-07-28").expect_valid("Result", ack);
  auto t = poll(id, "cancelled");
  EXPECT_EQ(t["status"], "cancelled");
  // The handler saw cancelled() and stopped; its late answer does not revive the task.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(result(modern("tasks/get", {{"taskId", id}}))["status"], "cancelled");
  // Idempotent on a finished task.
  auto again = result(modern("tasks/cancel", {{"taskId", id}}));
  EXPECT_EQ(again["resultType"], "complete");
  EXPECT_FALSE(again.contains("status"));
}

TEST_F(TasksTest, ModernInputRequiredAndUpdateResumes) {
  auto id = create("confirm_delete", {{"filename", "notes.txt"}});
  auto waiting = poll(id, "input_required");
  ASSERT_EQ(waiting["status"], "input_required") << json::dump(waiting);
  ASSERT_TRUE(waiting["inputRequests"].is_object());
  const auto& requests = waiting["inputRequests"].get_object();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests.at("confirm").as_object().at("method"), "elicitation/create");
  EXPECT_FALSE(waiting.contains("requestState"));

  // A key nobody asked for is acknowledged and ignored.
  auto ack = result(
      modern("tasks/update",
             {{"taskId", id}, {"inputResponses", json::object{{"unknown-key", json::object{}}}}}));
  EXPECT_EQ(ack["resultType"], "complete");
  EXPECT_EQ(result(modern("tasks/get", {{"taskId", id}}))["status"], "input_required");

  ack = result(modern(
      "tasks/update",
      {{"taskId", id},
       {"inputResponses",
        json::object{{"confirm", json::object{{"action", "accept"},
                                              {"content", json::object{{"confirm", true}}}}}}}}));
  EXPECT_EQ(ack["resultType"], "complete");
  for (auto k : {"taskId", "status", "result", "error", "inputRequests"})
    EXPECT_FALSE(ack.contains(k)) << k;
  auto done = poll(id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(first_text(done["result"].get_object()), "Deleted notes.txt");
}

TEST_F(TasksTest, ModernPartialUpdateKeepsTheRestPending) {
  auto id = create("multi_input");
  auto waiting = poll(id, "input_required");
  ASSERT_EQ(waiting["inputRequests"].get_object().size(), 2u) << json::dump(waiting);
  auto answer = [](std::string name) {
    return json::object{{"action", "accept"},
                        {"content", json::object{{"name", name}, {"confirm", true}}}};
  };
  result(modern("tasks/update",
                {{"taskId", id}, {"inputResponses", json::object{{"name", answer("Ada")}}}}));
  auto partial = result(modern("tasks/get", {{"taskId", id}}));
  EXPECT_EQ(partial["status"], "input_required");
  const auto& left = partial["inputRequests"].get_object();
  EXPECT_FALSE(left.contains("name"));
  EXPECT_TRUE(left.contains("confirm"));
  result(modern("tasks/update",
                {{"taskId", id}, {"inputResponses", json::object{{"confirm", answer("x")}}}}));
  auto done = poll(id);
  EXPECT_EQ(done["status"], "completed");
  auto text = first_text(done["result"].get_object());
  EXPECT_NE(text.find("Ada"), std::string::npos) << text;
}

TEST_F(TasksTest, ModernUnknownTaskIsInvalidParams) {
  for (auto m : {"tasks/get", "tasks/cancel", "tasks/update"}) {
    json::object params{{"taskId", "no-such-task"}};
    if (std::string_view(m) == "tasks/update") params["inputResponses"] = json::object{};
    EXPECT_EQ(error(modern(m, params))["code"], -32602) << m;
  }
  EXPECT_EQ(
      error(modern("tasks/update", {{"taskId", create("slow_compute", {{"seconds", 0}})}}))["code"],
      -32602);  // inputResponses is required
}

TEST_F(TasksTest, ModernWithoutTheExtension) {
  json::object plain;  // the client declares nothing
  for (auto m : {"tasks/get", "tasks/cancel", "tasks/update"}) {
    auto e = error(modern(m, {{"taskId", "x"}, {"inputResponses", json::object{}}}, plain));
    EXPECT_EQ(e["code"], -32021) << m;
    EXPECT_TRUE(e["data"]
                    .get_object()["requiredCapabilities"]
                    .get_object()["extensions"]
                    .get_object()
                    .contains(ext));
  }
  // A task-supporting tool falls back to a synchronous call.
  auto sync = result(modern(
      "tools/call",
      {{"name", "slow_compute"}, {"arguments", json::object{{"seconds", 0}, {"label", "s"}}}},
      plain));
  EXPECT_EQ(sync["resultType"], "complete");
  EXPECT_FALSE(sync.contains("taskId"));
  EXPECT_EQ(first_text(sync), "slow_compute s: done after 0 s");
  // A tool that runs only as a task is refused before its handler runs.
  auto e = error(modern("tools/call", {{"name", "failing_job"}}, plain));
  EXPECT_EQ(e["code"], -32021);
  // The methods removed from the modern surface are unknown, with or without the extension.
  EXPECT_EQ(error(modern("tasks/result", {{"taskId", "x"}}))["code"], -32601);
  EXPECT_EQ(error(modern("tasks/list", {}))["code"], -32601);
  // A legacy `task` param neither errors nor promotes a sync-only tool.
  auto greet = result(modern("tools/call", {{"name", "greet"},
                                            {"arguments", json::object{{"name", "Bo"}}},
                                            {"task", json::object{{"ttl", 1000}}}}));
  EXPECT_EQ(greet["resultType"], "complete");
  EXPECT_EQ(first_text(greet), "Hello, Bo!");
}

TEST_F(TasksTest, ModernMrtrThenTask) {
  auto round1 = result(modern("tools/call", {{"name", "test_tool_with_task"}}));
  ASSERT_EQ(round1["resultType"], "input_required") << json::dump(round1);
  EXPECT_FALSE(round1.contains("taskId"));
  ASSERT_TRUE(round1["inputRequests"].get_object().contains("user_name"));
  json::object params{
      {"name", "test_tool_with_task"},
      {"inputResponses",
       json::object{{"user_name", json::object{{"action", "accept"},
                                               {"content", json::object{{"name", "Alice"}}}}}}}};
  if (round1.contains("requestState")) params["requestState"] = round1["requestState"];
  auto round2 = result(modern("tools/call", params));
  EXPECT_EQ(round2["resultType"], "task") << json::dump(round2);
  EXPECT_FALSE(round2.contains("requestState"));
  EXPECT_FALSE(round2.contains("inputRequests"));
  auto done = poll(std::string(round2["taskId"].as_string()));
  EXPECT_EQ(done["status"], "completed");
  EXPECT_NE(first_text(done["result"].get_object()).find("Alice"), std::string::npos);
}

TEST_F(TasksTest, ModernTasksOutliveTheirConnection) {
  auto id = create("slow_compute", {{"seconds", 0.2}, {"label", "x"}});
  conn->close();  // e.g. the HTTP exchange that created it ended
  conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  EXPECT_EQ(poll(id)["status"], "completed");
}

TEST_F(TasksTest, ModernToolsListDeclaresTaskSupport) {
  auto r = result(modern("tools/list", {}));
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r);
  const auto& tools = r.at("tools").as_array();
  EXPECT_EQ(tools.at(0).as_object().at("name"), "echo");
  std::map<std::string, std::string> support;
  for (const auto& t : tools) {
    const auto& o = t.as_object();
    if (auto e = json::find_object(o, "execution"))
      support[std::string(o.at("name").as_string())] =
          std::string(e->at("taskSupport").as_string());
  }
  EXPECT_EQ(support["slow_compute"], "optional");
  EXPECT_EQ(support["failing_job"], "required");
  EXPECT_EQ(support["test_tool_with_task"], "required");
  EXPECT_FALSE(support.count("greet"));
}

// ---- the store -----------------------------------------------------------------

TEST(TaskStore, BoundedAndExpiring) {
  server::task_store store;
  server::task_store::limits lim{.max_tasks = 2, .ttl = 50ms, .poll_interval = 10ms};
  auto a = store.create(lim, "", protocol::era::modern, std::nullopt);
  auto b = store.create(lim, "", protocol::era::modern, std::nullopt);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->ttl_ms, 50);
  // Full of unfinished tasks: refused. A finished one is evicted to make room.
  EXPECT_FALSE(store.create(lim, "", protocol::era::modern, std::nullopt));
  EXPECT_TRUE(store.complete(a, json::object{{"content", json::array{}}}));
  EXPECT_FALSE(store.cancel(a, "too late"));  // finished tasks stay as they are
  auto c = store.create(lim, "", protocol::era::modern, std::nullopt);
  ASSERT_TRUE(c);
  EXPECT_FALSE(store.find(a->id, ""));
  // Owners: a legacy session's task is invisible to others.
  EXPECT_FALSE(store.find(c->id, "session:1"));
  // Expiry cancels what still runs.
  auto env = std::make_shared<server::detail::request_env>();
  store.attach(b, env);
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(store.find(b->id, ""));
  EXPECT_EQ(b->status, server::task_status::cancelled);
  EXPECT_TRUE(env->cancelled.load());
  EXPECT_EQ(store.size(), 0u);
}

TEST(TaskStore, LegacyTtlIsClampedAndTimesAreIso) {
  server::task_store store;
  server::task_store::limits lim{.max_tasks = 10, .ttl = 60s, .poll_interval = 500ms};
  EXPECT_EQ(store.create(lim, "o", protocol::era::legacy, 5)->ttl_ms, 1000);
  EXPECT_EQ(store.create(lim, "o", protocol::era::legacy, 10'000)->ttl_ms, 10'000);
  EXPECT_EQ(store.create(lim, "o", protocol::era::legacy, 999'999'999)->ttl_ms, 60'000);
  EXPECT_EQ(server::iso8601(std::chrono::system_clock::time_point(1'700'000'000'123ms)),
            "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(store.list("o").size(), 3u);
  store.drop_owner("o");
  EXPECT_EQ(store.list("o").size(), 0u);
}

// ---- legacy (2025-11-25) -------------------------------------------------------------

TEST_F(TasksTest, LegacyCapabilitiesAndToolExecution) {
  auto id = next_id++;
  auto init =
      result(exchange(request(id, "initialize",
                              {{"protocolVersion", "2025-11-25"},
                               {"capabilities", json::object{}},
                               {"clientInfo", json::object{{"name", "t"}, {"version", "1"}}}}),
                      id));
  wire_schema ws("2025-11-25");
  ws.expect_valid("InitializeResult", init);
  auto tasks = init["capabilities"].get_object()["tasks"];
  ASSERT_TRUE(tasks.is_object()) << json::dump(init);
  EXPECT_TRUE(tasks.get_object().contains("list"));
  EXPECT_TRUE(tasks.get_object().contains("cancel"));
  EXPECT_TRUE(tasks.get_object()["requests"].get_object()["tools"].get_object().contains("call"));
  EXPECT_FALSE(init["capabilities"].get_object().contains("extensions"));
  auto list = result(legacy("tools/list"));
  ws.expect_valid("ListToolsResult", list);
  bool seen = false;
  for (const auto& t : list["tools"].as_array())
    if (t.as_object().at("name") == "slow_compute") {
      seen = true;
      EXPECT_EQ(t.as_object().at("execution").as_object().at("taskSupport"), "optional");
    }
  EXPECT_TRUE(seen);
}

TEST_F(TasksTest, LegacyOlderVersionsHaveNoTasks) {
  initialize("2025-06-18");
  auto list = result(legacy("tools/list"));
  for (const auto& t : list["tools"].as_array())
    EXPECT_FALSE(t.as_object().contains("execution")) << json::dump(t);
  wire_schema("2025-06-18").expect_valid("ListToolsResult", list);
  EXPECT_EQ(error(legacy("tasks/list"))["code"], -32601);
  // The task param means nothing here: a plain synchronous call.
  auto r = result(legacy("tools/call", {{"name", "slow_compute"},
                                        {"arguments", json::object{{"seconds", 0}}},
                                        {"task", json::object{}}}));
  EXPECT_FALSE(r.contains("task"));
  EXPECT_TRUE(r.contains("content"));
}

TEST_F(TasksTest, LegacyTaskAugmentedCallGetResultAndStatus) {
  initialize();
  wire_schema ws("2025-11-25");
  auto id = legacy_create("slow_compute", {{"seconds", 0.3}, {"label", "legacy"}});
  auto got = result(legacy("tasks/get", {{"taskId", id}}));
  ws.expect_valid("GetTaskResult", got);
  EXPECT_EQ(got["taskId"], json::value(id));
  EXPECT_EQ(got["ttl"], 60000);
  EXPECT_TRUE(is_iso8601(got["createdAt"]));
  // tasks/result blocks until the task is done, then answers with the tool's result.
  auto start = std::chrono::steady_clock::now();
  auto res = result(legacy("tasks/result", {{"taskId", id}}));
  EXPECT_GT(std::chrono::steady_clock::now() - start, 100ms);
  ws.expect_valid("CallToolResult", res);
  EXPECT_EQ(first_text(res), "slow_compute legacy: done after 0.3 s");
  EXPECT_EQ(res["_meta"].get_object()["io.modelcontextprotocol/related-task"],
            (json::object{{"taskId", id}}));
  // The session heard about the change.
  auto note = out->notification("notifications/tasks/status");
  ASSERT_TRUE(note);
  ws.expect_valid("TaskStatusNotification", *note);
  EXPECT_EQ(note->as_object().at("params").as_object().at("status"), "completed");
  // Done: tasks/result answers at once now.
  EXPECT_EQ(first_text(result(legacy("tasks/result", {{"taskId", id}}))),
            "slow_compute legacy: done after 0.3 s");
}

TEST_F(TasksTest, LegacyCancel) {
  initialize();
  wire_schema ws("2025-11-25");
  auto id = legacy_create("slow_compute", {{"seconds", 60}});
  auto cancelled = result(legacy("tasks/cancel", {{"taskId", id}}));
  ws.expect_valid("CancelTaskResult", cancelled);
  EXPECT_EQ(cancelled["status"], "cancelled");
  // A finished task cannot be cancelled again.
  EXPECT_EQ(error(legacy("tasks/cancel", {{"taskId", id}}))["code"], -32602);
  auto e = error(legacy("tasks/result", {{"taskId", id}}));
  EXPECT_NE(std::string(e["message"].as_string()).find("cancelled"), std::string::npos);
  EXPECT_EQ(error(legacy("tasks/get", {{"taskId", "nope"}}))["code"], -32602);
}

TEST_F(TasksTest, LegacyFailedTaskResultIsTheError) {
  initialize();
  auto id = legacy_create("protocol_error_job");
  auto e = error(legacy("tasks/result", {{"taskId", id}}));
  EXPECT_EQ(e["code"], -32603);
  EXPECT_EQ(e["message"], "protocol_error_job: the job crashed");
  EXPECT_EQ(result(legacy("tasks/get", {{"taskId", id}}))["status"], "failed");
}

TEST_F(TasksTest, LegacyListIsPaginatedAndPerSession) {
  server::server_options opts;
  opts.page_size = 2;
  conn.reset();
  srv = servers::make_everything_server(opts);
  conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  initialize();
  wire_schema ws("2025-11-25");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(legacy_create("slow_compute", {{"seconds", 0}}));
  auto page1 = result(legacy("tasks/list"));
  ws.expect_valid("ListTasksResult", page1);
  ASSERT_EQ(page1["tasks"].as_array().size(), 2u);
  EXPECT_EQ(page1["tasks"].as_array()[0].as_object().at("taskId"), json::value(ids[0]));
  ASSERT_TRUE(page1["nextCursor"].is_string());
  auto page2 = result(legacy("tasks/list", {{"cursor", page1["nextCursor"]}}));
  ASSERT_EQ(page2["tasks"].as_array().size(), 1u);
  EXPECT_EQ(page2["tasks"].as_array()[0].as_object().at("taskId"), json::value(ids[2]));
  EXPECT_FALSE(page2.contains("nextCursor"));
  EXPECT_EQ(error(legacy("tasks/list", {{"cursor", "bogus"}}))["code"], -32602);

  // Another session sees none of them.
  auto out2 = std::make_shared<capture>();
  server::connection other(*srv, out2, {});
  other.receive(request(1, "initialize",
                        {{"protocolVersion", "2025-11-25"},
                         {"capabilities", json::object{}},
                         {"clientInfo", json::object{{"name", "u"}, {"version", "1"}}}}));
  ASSERT_TRUE(out2->response(1));
  other.receive(request(2, "tasks/list"));
  auto r = out2->response(2);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->as_object().at("result").as_object().at("tasks").as_array().empty());
  other.receive(request(3, "tasks/get", {{"taskId", ids[0]}}));
  EXPECT_EQ(out2->response(3)->as_object().at("error").as_object().at("code"), -32602);

  // Closing the session ends its tasks.
  EXPECT_EQ(srv->internals().tasks.size(), 3u);
  conn->close();
  EXPECT_EQ(srv->internals().tasks.size(), 0u);
}

TEST_F(TasksTest, LegacyTaskSupportRules) {
  initialize();
  // Sync-only tool with a task param.
  EXPECT_EQ(error(legacy("tools/call", {{"name", "greet"},
                                        {"arguments", json::object{{"name", "x"}}},
                                        {"task", json::object{}}}))["code"],
            -32601);
  // Task-only tool without one.
  EXPECT_EQ(error(legacy("tools/call", {{"name", "failing_job"}}))["code"], -32601);
  // A tool error inside a task completes the task (isError), it does not fail it.
  auto id = legacy_create("failing_job");
  auto r = result(legacy("tasks/result", {{"taskId", id}}));
  EXPECT_EQ(r["isError"], true);
  EXPECT_EQ(result(legacy("tasks/get", {{"taskId", id}}))["status"], "completed");
}

TEST_F(TasksTest, LegacyInputInsideATask) {
  initialize("2025-11-25", {{"elicitation", json::object{}}});
  auto id = legacy_create("confirm_delete", {{"filename", "a.txt"}});
  // The handler's question reaches the client as a request tied to the task.
  auto ask = out->client_request("elicitation/create");
  ASSERT_TRUE(ask);
  const auto& params = ask->as_object().at("params").as_object();
  EXPECT_EQ(params.at("_meta").as_object().at("io.modelcontextprotocol/related-task"),
            (json::object{{"taskId", id}}));
  wire_schema("2025-11-25").expect_valid("ElicitRequest", *ask);
  EXPECT_EQ(result(legacy("tasks/get", {{"taskId", id}}))["status"], "input_required");
  json::object answer{
      {"jsonrpc", "2.0"},
      {"id", ask->as_object().at("id")},
      {"result", json::object{{"action", "accept"}, {"content", json::object{{"confirm", true}}}}}};
  conn->receive(json::dump(answer));
  auto r = result(legacy("tasks/result", {{"taskId", id}}));
  EXPECT_EQ(first_text(r), "Deleted a.txt");
}

TEST_F(TasksTest, PlainCallsAreStillCancelledWithTheirConnection) {
  // Only tasks outlive their connection: a synchronous call stops when it closes.
  conn->receive(modern_request(1, "tools/call",
                               {{"name", "long_running_operation"},
                                {"arguments", json::object{{"duration", 60}, {"steps", 60}}}},
                               tasks_caps()));
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(conn->wait_idle(10ms));
  conn->close();
  EXPECT_TRUE(conn->wait_idle(2s));
}
