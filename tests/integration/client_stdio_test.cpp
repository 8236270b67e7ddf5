// The Plexus client against `plexus everything --stdio`: era probing in both
// directions, tools, MRTR and legacy server requests through the same handlers.
#include "../common/children.hpp"
#include "../common/wide_pipes.hpp"
#include "async_answers.hpp"
#include "plexus/client/client.hpp"
#include "plexus/core/batch.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

using namespace plexus;
using namespace plexus::client;

namespace {

client_options options(version_mode mode) {
  client_options o;
  o.mode = mode;
  o.handlers.elicitation = [](const json::object& p) -> result<json::object> {
    auto schema = json::find_object(p, "requestedSchema");
    json::object content;
    if (schema)
      if (auto props = json::find_object(*schema, "properties"))
        for (const auto& kv : *props) {
          auto type = json::find_string(kv.value().as_object(), "type");
          if (type && *type == "boolean")
            content[kv.key()] = true;
          else
            content[kv.key()] = "Ada";
        }
    return json::object{{"action", "accept"}, {"content", content}};
  };
  o.handlers.sampling = [](const json::object&) -> result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "Paris"}}},
                        {"model", "test-model"}};
  };
  o.handlers.roots = [](const json::object&) -> result<json::object> {
    return json::object{
        {"roots", json::array{json::object{{"uri", "file:///work"}, {"name", "w"}}}}};
  };
  return o;
}

std::unique_ptr<client::client> start(version_mode mode) {
  auto t = make_stdio_transport({.command = PLEXUS_BINARY, .args = {"everything", "--stdio"}});
  auto c = client::client::connect(std::move(t), options(mode));
  EXPECT_TRUE(c) << (c ? "" : c.error().describe());
  return c ? std::move(*c) : nullptr;
}

std::string text(const json::object& r) {
  return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
}

}  // namespace

TEST(ClientStdio, AutoDetectFindsModernAndRunsMrtr) {
  auto c = start(version_mode::auto_detect);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->era(), protocol::era::modern);
  EXPECT_EQ(c->protocol_version(), "2026-07-28");
  EXPECT_EQ(c->server_info().at("name"), "plexus-everything");
  auto tools = c->list_tools();
  ASSERT_TRUE(tools);
  EXPECT_GT(tools->size(), 20u);
  auto r = c->call_tool("test_input_required_result_multi_round");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), R"(Done: {"name":"Ada"} {"color":"Ada"})");
  auto s = c->call_tool("test_input_required_result_sampling");
  ASSERT_TRUE(s);
  EXPECT_EQ(text(*s), "The model said: Paris");
  auto e = c->call_tool("no_such_tool");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, -32602);
}

TEST(ClientStdio, LegacySessionAnswersServerRequests) {
  auto c = start(version_mode::legacy_only);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->era(), protocol::era::legacy);
  EXPECT_EQ(c->protocol_version(), "2025-11-25");
  auto r = c->call_tool("test_sampling", {{"prompt", "Capital of France?"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "LLM response: Paris");
  auto roots = c->call_tool("test_input_required_result_list_roots");
  ASSERT_TRUE(roots);
  EXPECT_EQ(text(*roots), "Roots: file:///work");
  EXPECT_TRUE(c->ping());
}

TEST(ClientStdio, ProgressTimeoutAndCancellation) {
  auto c = start(version_mode::auto_detect);
  ASSERT_TRUE(c);
  int progress = 0;
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  auto r = c->call_tool("long_running_operation", {{"duration", 0.3}, {"steps", 3}}, ro);
  ASSERT_TRUE(r);
  EXPECT_EQ(progress, 3);
  request_options quick;
  quick.timeout = std::chrono::milliseconds(200);
  auto t = c->call_tool("long_running_operation", {{"duration", 3}, {"steps", 1}}, quick);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, error::timeout);
  auto cancel = std::make_shared<cancellation>();
  request_options co;
  co.cancel = cancel;
  std::thread canceller([cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel->cancel();
  });
  auto x = c->call_tool("long_running_operation", {{"duration", 3}, {"steps", 1}}, co);
  canceller.join();
  ASSERT_FALSE(x);
  EXPECT_EQ(x.error().kind, error::cancelled);
  EXPECT_TRUE(c->call_tool("echo", {{"text", "still here"}}));  // the session survives
}

using plexus::testing::async_answers;

TEST(ClientStdio, AsyncRequestsAnswerOnTheClientsThreads) {
  auto c = start(version_mode::auto_detect);
  ASSERT_TRUE(c);
  async_answers a;
  int progress = 0;
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  ASSERT_TRUE(c->request_async(
      "tools/call",
      {{"name", "long_running_operation"}, {"arguments", {{"duration", 0.2}, {"steps", 2}}}}, ro,
      a.sink()));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(c->request_async(
        "tools/call", {{"name", "echo"}, {"arguments", {{"text", "n" + std::to_string(i)}}}}, {},
        a.sink()));
  ASSERT_TRUE(a.wait_for(21));
  std::set<std::string> texts;
  for (auto& r : a.got) {
    ASSERT_TRUE(r) << r.error().describe();
    texts.insert(text(*r));
  }
  EXPECT_EQ(texts.size(), 21u);
  EXPECT_TRUE(texts.count("n19")) << *texts.rbegin();
  EXPECT_EQ(progress, 2);
  for (auto id : a.threads) EXPECT_NE(id, std::this_thread::get_id());
  // Errors are results too: an unknown tool is the server's JSON-RPC error.
  ASSERT_TRUE(c->request_async("tools/call", {{"name", "no_such_tool"}}, {}, a.sink()));
  ASSERT_TRUE(a.wait_for(22));
  ASSERT_FALSE(a.got.back());
  EXPECT_EQ(a.got.back().error().kind, error::protocol);
}

// MRTR rounds of an asynchronous request: answered by the request's own handlers, on a
// thread that is not the transport's reader (a handler may wait for a person).
TEST(ClientStdio, AsyncRequestsAnswerInputRoundsWithTheirHandlers) {
  auto c = start(version_mode::modern_only);
  ASSERT_TRUE(c);
  async_answers a;
  request_options ro;
  auto h = std::make_shared<client::input_handlers>(options(version_mode::modern_only).handlers);
  std::mutex mu;
  std::set<std::thread::id> asked_on;
  auto elicit = h->elicitation;
  h->elicitation = [&, elicit](const json::object& p) {
    {
      std::lock_guard lk(mu);
      asked_on.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(20));  // waiting here must not stall other answers
    return elicit(p);
  };
  ro.handlers = h;
  ASSERT_TRUE(c->request_async("tools/call", {{"name", "test_input_required_result_multi_round"}},
                               ro, a.sink()));
  ASSERT_TRUE(c->request_async("tools/call", {{"name", "echo"}, {"arguments", {{"text", "x"}}}}, {},
                               a.sink()));
  ASSERT_TRUE(a.wait_for(2));
  ASSERT_TRUE(a.got[0]) << a.got[0].error().describe();
  EXPECT_EQ(text(*a.got[0]), "x");  // the echo did not wait for the rounds
  ASSERT_TRUE(a.got[1]) << a.got[1].error().describe();
  EXPECT_EQ(text(*a.got[1]), R"(Done: {"name":"Ada"} {"color":"Ada"})");
  std::lock_guard lk(mu);
  EXPECT_FALSE(asked_on.empty());
  EXPECT_FALSE(asked_on.count(std::this_thread::get_id()));
  EXPECT_FALSE(asked_on.count(a.threads[0]));  // not the reader that delivered the echo
  // Without handlers of its own, the client's answer (as request() does).
  ASSERT_TRUE(c->request_async("tools/call", {{"name", "test_input_required_result_sampling"}}, {},
                               a.sink()));
  ASSERT_TRUE(a.wait_for(3));
  ASSERT_TRUE(a.got[2]) << a.got[2].error().describe();
  EXPECT_EQ(text(*a.got[2]), "The model said: Paris");
}

// An application may drop its client from the client's own callback (the answer it waited
// for, on the transport's reader thread): the client goes away, the process goes on.
TEST(ClientStdio, TheClientMayBeDestroyedFromItsOwnCallback) {
  auto box = std::make_shared<std::unique_ptr<client::client>>(start(version_mode::auto_detect));
  ASSERT_TRUE(*box);
  std::promise<std::thread::id> destroyed;
  auto on_answer = [box, &destroyed](result<json::object> r) {
    EXPECT_TRUE(r);
    box->reset();  // the last owner: ~client runs here, on the reader thread
    destroyed.set_value(std::this_thread::get_id());
  };
  ASSERT_TRUE((*box)->request_async(
      "tools/call", {{"name", "echo"}, {"arguments", {{"text", "bye"}}}}, {}, on_answer));
  auto f = destroyed.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_NE(f.get(), std::this_thread::get_id());
}

TEST(ClientStdio, AsyncRequestsTimeOutAreCancelledAndEndWithTheClient) {
  auto c = start(version_mode::auto_detect);
  ASSERT_TRUE(c);
  async_answers a;
  request_options quick;
  quick.timeout = std::chrono::milliseconds(200);
  auto slow = json::object{{"name", "long_running_operation"},
                           {"arguments", {{"duration", 5}, {"steps", 1}}}};
  ASSERT_TRUE(c->request_async("tools/call", slow, quick, a.sink()));
  ASSERT_TRUE(a.wait_for(1, std::chrono::seconds(3)));
  ASSERT_FALSE(a.got[0]);
  EXPECT_EQ(a.got[0].error().kind, error::timeout);

  auto cancel = std::make_shared<cancellation>();
  request_options co;
  co.cancel = cancel;
  ASSERT_TRUE(c->request_async("tools/call", slow, co, a.sink()));
  cancel->cancel();
  ASSERT_TRUE(a.wait_for(2, std::chrono::seconds(3)));
  ASSERT_FALSE(a.got[1]);
  EXPECT_EQ(a.got[1].error().kind, error::cancelled);

  ASSERT_TRUE(c->request_async("tools/call", slow, {}, a.sink()));
  c->close();
  ASSERT_TRUE(a.wait_for(3, std::chrono::seconds(3)));
  ASSERT_FALSE(a.got[2]);
  EXPECT_EQ(a.got[2].error().kind, error::closed);
  // A closed client sends nothing and never calls back.
  EXPECT_FALSE(c->request_async("tools/call", slow, {}, a.sink()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(a.count(), 3u);
}

TEST(ClientStdio, AsyncRequestsNeverWaitToWrite) {
  auto c = start(version_mode::auto_detect);
  ASSERT_TRUE(c);
  async_answers a;
  // More than one atomic pipe write: declined, nothing sent; request() takes it.
  json::object big{{"name", "echo"}, {"arguments", {{"text", std::string(8192, 'x')}}}};
  EXPECT_FALSE(c->request_async("tools/call", big, {}, a.sink()));
  auto r = c->request("tools/call", big);
  ASSERT_TRUE(r) << r.error().describe();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(a.count(), 0u);
}

TEST(ClientStdio, ServerThatIsNotThereFailsClearly) {
  EXPECT_THROW(make_stdio_transport({.command = "/nonexistent/server"}), std::runtime_error);
  auto t = make_stdio_transport({.command = "/bin/false"});
  auto c = client::client::connect(std::move(t), client_options{});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, error::closed);
}

namespace {

int pipe_size_of(pid_t pid, int fd) {
  int f = ::open(("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd)).c_str(),
                 O_RDONLY | O_NONBLOCK);
  if (f < 0) return -1;
  int size = ::fcntl(f, F_GETPIPE_SZ);
  ::close(f);
  return size;
}

}  // namespace

TEST(ClientStdio, ThePipesToTheServerAreWide) {
  // Most servers leave their pipes as they are: the client widens both, so that a large
  // message does not make its writer wait for the reader once per message.
  if (!plexus::testing::pipes_can_grow_to(256 * 1024))
    GTEST_SKIP() << "pipes cannot grow to 256 KiB here";
  // `sleep` touches no pipe: whatever size they have, the client gave them.
  auto t = make_stdio_transport({.command = "sleep", .args = {"30.25"}});
  pid_t child = plexus::testing::child_with("30.25");
  ASSERT_NE(child, 0);
  EXPECT_EQ(pipe_size_of(child, 0), 256 * 1024);
  EXPECT_EQ(pipe_size_of(child, 1), 256 * 1024);
  t->close();
}

TEST(ClientStdio, ABatchScheduledServerRunsUnderSchedBatch) {
  // A gateway upstream with `scheduling: batch` asks for it (its wake-ups then do not preempt
  // the gateway's event loop); otherwise the child inherits the spawning thread's policy.
  if (::sched_getscheduler(0) != SCHED_OTHER) GTEST_SKIP() << "the tests run under another policy";
  auto batch = make_stdio_transport({.command = "sleep",
                                     .args = {"30.5"},
                                     .shutdown_grace = std::chrono::milliseconds(50),
                                     .batch_scheduling = true});
  EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);  // the spawning thread's is given back
  auto plain = make_stdio_transport(
      {.command = "sleep", .args = {"30.75"}, .shutdown_grace = std::chrono::milliseconds(50)});
  EXPECT_EQ(plexus::testing::policy_of(plexus::testing::child_with("30.5")), SCHED_BATCH);
  EXPECT_EQ(plexus::testing::policy_of(plexus::testing::child_with("30.75")), SCHED_OTHER);
  batch->close();
  plain->close();
}

namespace {

// A stand-in for an event loop's batch: what is deferred runs (and is let go) when the test
// says the batch is handled.
class test_loop final : public plexus::batch_deferrer {
 public:
  test_loop() { plexus::set_thread_batch_deferrer(this); }
  ~test_loop() { plexus::set_thread_batch_deferrer(nullptr); }
  void defer(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  void end_batch(bool run = true) {
    auto tasks = std::move(tasks_);
    tasks_.clear();
    if (run)
      for (auto& t : tasks) t();
  }
  std::size_t deferred() const { return tasks_.size(); }

 private:
  std::vector<std::function<void()>> tasks_;
};

// Write system calls made by the calling thread so far.
long writes_by_this_thread() {
  std::ifstream io("/proc/self/task/" + std::to_string(::gettid()) + "/io");
  std::string key;
  long value = 0;
  while (io >> key >> value)
    if (key == "syscw:") return value;
  return -1;
}

// What a `cat` child echoes back, in order.
struct echoes : plexus::testing::collector<json::value> {
  client_transport::inbound sink() {
    return [this](json::value& m) { add(std::move(m)); };
  }
};

// A transport to a shell that echoes with `cat` (after what `before_cat` does).
std::unique_ptr<client_transport> echo_server(echoes& e, const std::string& before_cat = "") {
  auto t = make_stdio_transport({.command = "sh", .args = {"-c", before_cat + "exec cat"}});
  t->start(e.sink(), [](const std::string&) {});
  return t;
}

json::object note(int n, std::size_t padding = 0) {
  return {{"jsonrpc", "2.0"},
          {"method", "notifications/test"},
          {"params", {{"n", n}, {"pad", std::string(padding, 'x')}}}};
}

}  // namespace

TEST(ClientStdio, WhatALoopSendsInOneBatchGoesOutInOneWrite) {
  echoes e;
  auto t = echo_server(e);
  test_loop loop;
  long before = writes_by_this_thread();
  ASSERT_GE(before, 0);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t->try_send(note(i)));
  EXPECT_EQ(loop.deferred(), 1u);  // one flush for the batch
  EXPECT_EQ(writes_by_this_thread(), before);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(e.count(), 0u) << "held until the batch is handled";
  loop.end_batch();
  EXPECT_EQ(writes_by_this_thread(), before + 1);
  ASSERT_TRUE(e.wait_for(3));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(e.got[static_cast<std::size_t>(i)].at("params").at("n").as_int64(), i);
  // Off the loop, a message goes out at once, as before.
  plexus::set_thread_batch_deferrer(nullptr);
  EXPECT_TRUE(t->try_send(note(3)));
  EXPECT_EQ(writes_by_this_thread(), before + 2);
  ASSERT_TRUE(e.wait_for(4));
  t->close();
}

TEST(ClientStdio, HeldMessagesWaitForAFullPipeOnAThreadOfTheirOwn) {
  // The server reads nothing for half a second: the flush writes what the pipe takes and
  // returns at once; the rest follows as the server reads, in order, and messages sent
  // meanwhile from the loop are declined (the caller's send() queues behind them).
  echoes e;
  auto t = echo_server(e, "sleep 0.5; ");
  test_loop loop;
  const std::size_t piece = 16 * 1024;
  int sent = 0;
  bool declined = false;
  // Batches of 240 KiB until the loop is declined: no pipe here takes more than 256 KiB.
  for (int batch = 0; batch < 4 && !declined; ++batch) {
    for (int i = 0; i < 15 && !declined; ++i) {
      if (t->try_send(note(sent, piece)))
        ++sent;
      else
        declined = true;
    }
    auto t0 = std::chrono::steady_clock::now();
    loop.end_batch();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(declined) << "a thread drains what the pipe did not take";
  EXPECT_GT(sent, 15);
  EXPECT_FALSE(t->send(note(sent++, piece)).has_value());  // waits its turn
  ASSERT_TRUE(e.wait_for(static_cast<std::size_t>(sent)));
  for (int i = 0; i < sent; ++i)
    EXPECT_EQ(e.got[static_cast<std::size_t>(i)].at("params").at("n").as_int64(), i);
  t->close();
}

TEST(ClientStdio, ALoopsFlushNeverWaitsForAnotherWriter) {
  // The loop held a message; before its batch ends, another thread's send() takes the pipe
  // and waits for room (the server reads nothing for two seconds). The flush must not wait:
  // it tries again after the next batches, then leaves it to a thread; send() wrote the held
  // messages first, so everything arrives in order.
  echoes e;
  auto t = echo_server(e, "sleep 2; ");
  test_loop loop;
  ASSERT_TRUE(t->try_send(note(0)));
  std::vector<std::int64_t> expected{0};
  std::thread other([&] { EXPECT_FALSE(t->send(note(1, 300 * 1024)).has_value()); });
  // Until send() holds the pipe, the loop's messages join the batch.
  bool taken = false;
  for (int probe = 100; probe < 300 && !taken; ++probe) {
    if (t->try_send(note(probe))) {
      expected.push_back(probe);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      taken = true;
    }
  }
  EXPECT_TRUE(taken) << "send() never took the pipe";
  expected.push_back(1);
  for (int batch = 0; batch < 4; ++batch) {
    auto t0 = std::chrono::steady_clock::now();
    loop.end_batch();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
    EXPECT_EQ(loop.deferred(), batch < 3 ? 1u : 0u) << "batch " << batch;
  }
  other.join();
  ASSERT_TRUE(e.wait_for(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(e.got[i].at("params").at("n").as_int64(), expected[i]);
  t->close();
}

TEST(ClientStdio, HeldMessagesGoOutEvenIfTheLoopDropsItsTask) {
  // A loop that stops before it runs what it deferred (a server shutting down) lets the task
  // go: what the transport held is written then.
  echoes e;
  auto t = echo_server(e);
  test_loop loop;
  EXPECT_TRUE(t->try_send(note(7)));
  loop.end_batch(false);
  ASSERT_TRUE(e.wait_for(1));
  EXPECT_EQ(e.got[0].at("params").at("n").as_int64(), 7);
  t->close();
}
