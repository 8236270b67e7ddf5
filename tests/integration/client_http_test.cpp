// The Plexus client over HTTP against `plexus everything --http`: both eras of
// Streamable HTTP, the HTTP+SSE fallback, MRTR, server requests on the POST's
// stream, x-mcp-header mirroring, and cancellation by closing the stream.
#include "async_answers.hpp"
#include "http_client.hpp"
#include "plexus/client/client.hpp"
#include "plexus/core/batch.hpp"
#include "plexus/server/typed_tool.hpp"
#include "plexus/transport/http_server.hpp"
#include "plexus_http_process.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <future>
#include <stdexcept>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

using namespace plexus;
using namespace plexus::client;
using plexus::testing::plexus_http_process;

namespace {

client_options handlers(version_mode mode) {
  client_options o;
  o.mode = mode;
  o.handlers.elicitation = [](const json::object&) -> result<json::object> {
    return json::object{{"action", "accept"}, {"content", json::object{{"name", "Grace"}}}};
  };
  o.handlers.sampling = [](const json::object&) -> result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "42"}}},
                        {"model", "m"}};
  };
  return o;
}

std::string text(const json::object& r) {
  return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
}

}  // namespace

TEST(ClientHttp, ModernAutoDetectToolsMrtrAndHeaders) {
  plexus_http_process srv;
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::modern);
  auto tools = (*c)->list_tools();
  ASSERT_TRUE(tools);
  auto r = (*c)->call_tool("test_input_required_result_elicitation");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "Hello, Grace!");
  // The server checks Mcp-Param-Region against the body: the client mirrors it.
  auto h = (*c)->call_tool("test_x_mcp_header", {{"region", "eu-west é"}});
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ(text(*h), "region=eu-west é");
  int progress = 0;
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  auto p = (*c)->call_tool("test_tool_with_progress", {}, ro);
  ASSERT_TRUE(p);
  EXPECT_EQ(progress, 3);
  auto missing = (*c)->read_resource("test://nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, -32602);
}

TEST(ClientHttp, LegacySessionWithServerRequestsOnThePostStream) {
  plexus_http_process srv;
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::legacy_only));
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::legacy);
  auto r = (*c)->call_tool("test_sampling", {{"prompt", "the answer?"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "LLM response: 42");
  // SEP-1699: the server closes the stream mid-call; the client resumes with Last-Event-ID.
  auto rc = (*c)->call_tool("test_reconnection");
  ASSERT_TRUE(rc) << rc.error().describe();
  EXPECT_EQ(text(*rc).rfind("Reconnection test completed successfully", 0), 0u);
}

TEST(ClientHttp, FallsBackToHttpPlusSse) {
  plexus_http_process srv;
  auto c = client::client::connect(make_http_transport(srv.url("/sse")),
                                   handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::legacy);
  auto r = (*c)->call_tool("echo", {{"text", "over sse"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "over sse");
}

namespace {

// A long call cancelled after 200 ms on a server with one worker; then a call that needs that
// worker (long_running_operation runs on the pool; echo runs on the I/O thread and would prove
// nothing) must be answered at once: the cancelled call stopped, and was not run again.
void cancelled_call_frees_the_only_worker(version_mode mode, bool streamed) {
  plexus_http_process srv({"--workers", "1"});
  auto c = client::client::connect(make_http_transport(srv.url()), handlers(mode));
  ASSERT_TRUE(c);
  auto cancel = std::make_shared<cancellation>();
  std::thread t([cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel->cancel();
  });
  request_options ro;
  ro.cancel = cancel;
  if (streamed) ro.on_progress = [](const json::object&) {};  // an SSE answer
  auto r = (*c)->call_tool("long_running_operation", {{"duration", 20}, {"steps", 200}}, ro);
  t.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, error::cancelled);
  auto start = std::chrono::steady_clock::now();
  auto next = (*c)->call_tool("long_running_operation", {{"duration", 0.1}, {"steps", 1}});
  ASSERT_TRUE(next) << next.error().describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace

TEST(ClientHttp, CancellationClosesTheStream) {
  cancelled_call_frees_the_only_worker(version_mode::auto_detect, /*streamed=*/true);
}

TEST(ClientHttp, ACancelledRequestIsNotSentAgain) {
  // Closing its kept-alive connection (how 2026-07-28 cancels) looked like a connection the
  // server had closed while idle: the request went again on a fresh one and ran to its end,
  // holding the server's only worker for 20 s. No progress: a plain JSON answer, still
  // awaited when cancelled.
  cancelled_call_frees_the_only_worker(version_mode::modern_only, /*streamed=*/false);
}

// An application may drop its client from the client's own callback (an asynchronous answer,
// delivered on the transport's I/O thread): the client goes away, the process goes on.
TEST(ClientHttp, TheClientMayBeDestroyedFromItsOwnCallback) {
  plexus_http_process srv;
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::modern_only));
  ASSERT_TRUE(c) << c.error().describe();
  auto box = std::make_shared<std::unique_ptr<client::client>>(std::move(*c));
  std::promise<void> destroyed;
  auto on_answer = [box, &destroyed](result<json::object> r) {
    EXPECT_TRUE(r);
    box->reset();  // the last owner: ~client runs here
    destroyed.set_value();
  };
  ASSERT_TRUE((*box)->request_async(
      "tools/call", {{"name", "echo"}, {"arguments", {{"text", "bye"}}}}, {}, on_answer));
  ASSERT_EQ(destroyed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

// request_async over HTTP: a 2026-07-28 request is posted by a thread of its own, so it goes
// out at once and its answer (and a cancel, which closes its stream) reach `done`; a legacy
// session is left to request(), which re-initializes a session the server lost.
TEST(ClientHttp, AsyncRequestsInTheModernEraOnly) {
  plexus_http_process srv;
  auto modern =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::modern_only));
  ASSERT_TRUE(modern);
  plexus::testing::async_answers a;
  ASSERT_TRUE((*modern)->request_async(
      "tools/call", {{"name", "echo"}, {"arguments", {{"text", "posted"}}}}, {}, a.sink()));
  ASSERT_TRUE(a.wait_for(1));
  ASSERT_TRUE(a.got[0]) << a.got[0].error().describe();
  EXPECT_EQ(text(*a.got[0]), "posted");

  auto cancel = std::make_shared<cancellation>();
  request_options ro;
  ro.cancel = cancel;
  ro.on_progress = [](const json::object&) {};
  ASSERT_TRUE((*modern)->request_async(
      "tools/call",
      {{"name", "long_running_operation"}, {"arguments", {{"duration", 20}, {"steps", 200}}}}, ro,
      a.sink()));
  cancel->cancel();
  ASSERT_TRUE(a.wait_for(2));
  ASSERT_FALSE(a.got[1]);
  EXPECT_EQ(a.got[1].error().kind, error::cancelled);

  auto legacy =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::legacy_only));
  ASSERT_TRUE(legacy);
  EXPECT_FALSE((*legacy)->request_async("tools/call", {{"name", "echo"}}, {}, a.sink()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(a.count(), 2u);
}

TEST(ClientHttp, AsyncRequestsOnKeptAliveConnectionsHoldNoThreadEach) {
  // A 2026-07-28 request that finds an idle kept-alive connection is written from the
  // caller's thread and its answer read on the transport's one I/O thread: eight slow
  // calls in flight do not hold eight waiting threads (they did).
  plexus_http_process srv;
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::modern_only));
  ASSERT_TRUE(c);
  auto slow = [](double seconds) {
    return json::object{{"name", "long_running_operation"},
                        {"arguments", {{"duration", seconds}, {"steps", 1}}}};
  };
  // Eight calls at once leave eight kept-alive connections behind.
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i)
    warm.emplace_back([&] { EXPECT_TRUE((*c)->request("tools/call", slow(0.2))); });
  for (auto& t : warm) t.join();
  plexus::testing::async_answers a;
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE((*c)->request_async("tools/call", slow(0.3), {}, a.sink()));
  ASSERT_TRUE(a.wait_for(8));
  for (auto& r : a.got) {
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(text(*r).rfind("Long running operation completed", 0), 0u);
  }
  EXPECT_EQ(std::set<std::thread::id>(a.threads.begin(), a.threads.end()).size(), 1u);

  // An answer that streams (progress) is handed on to a reader of its own.
  std::atomic<int> progress{0};
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  ASSERT_TRUE((*c)->request_async(
      "tools/call",
      {{"name", "long_running_operation"}, {"arguments", {{"duration", 0.2}, {"steps", 2}}}}, ro,
      a.sink()));
  ASSERT_TRUE(a.wait_for(9));
  ASSERT_TRUE(a.got[8]) << a.got[8].error().describe();
  EXPECT_EQ(text(*a.got[8]).rfind("Long running operation completed: 2 steps", 0), 0u);
  EXPECT_EQ(progress.load(), 2);
}

namespace {
struct said {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(said, (), (text))
}  // namespace

namespace {
// A 2026-07-28 client of an in-process server listening on 127.0.0.1.
auto modern_client_of(const transport::http_server& hs) {
  return client::client::connect(
      make_http_transport("http://127.0.0.1:" + std::to_string(hs.port()) + "/mcp"),
      handlers(version_mode::modern_only));
}
}  // namespace

TEST(ClientHttp, AnAsyncRequestOnAConnectionTheServerClosedGoesAgainOnAFreshOne) {
  // The server drops idle kept-alive connections (here after 100 ms): a request written on one
  // was not processed, and is sent again on a new connection.
  server::server srv(protocol::implementation{"idle-closer", "1.0.0"});
  server::add_tool(srv, "echo", "echo", [](said a) { return std::move(a.text); });
  transport::http_server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.idle_timeout = std::chrono::milliseconds(100);
  transport::http_server hs(srv, o);
  hs.start();
  auto c = modern_client_of(hs);
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->call_tool("echo", {{"text", "first"}}));    // leaves a kept-alive connection
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // which the server closes
  plexus::testing::async_answers a;
  ASSERT_TRUE((*c)->request_async(
      "tools/call", {{"name", "echo"}, {"arguments", {{"text", "again"}}}}, {}, a.sink()));
  ASSERT_TRUE(a.wait_for(1));
  ASSERT_TRUE(a.got[0]) << a.got[0].error().describe();
  EXPECT_EQ(text(*a.got[0]), "again");
  c->reset();
  hs.stop();
}

TEST(HttpServerLoop, WorkDeferredByAFastPathRunsOnTheLoopAfterItsBatch) {
  // A stdio upstream's writes from a gateway wait for the end of the loop's batch (see
  // batch_deferrer): the server's I/O threads must offer a deferrer, and run what it takes.
  server::server srv(protocol::implementation{"deferring", "1.0.0"});
  protocol::tool tool;
  tool.name = "later";
  tool.description = "answers from a deferred task";
  tool.input_schema = json::object{{"type", "object"}};
  std::atomic<bool> deferred_on_the_loop{false};
  srv.add_tool(
      std::move(tool),
      [](server::context&, const json::object&) { return server::tool_result::text("pool"); },
      server::task_start::by_handler,
      [&](server::context&, const json::object&, server::tool_completion done) {
        auto* loop = plexus::thread_batch_deferrer();
        if (!loop) return false;
        auto offered_on = std::this_thread::get_id();
        loop->defer([&, done, offered_on] {
          deferred_on_the_loop = std::this_thread::get_id() == offered_on;
          done(server::tool_result::text("deferred"));
        });
        return true;
      });
  transport::http_server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  transport::http_server hs(srv, o);
  hs.start();
  auto c = modern_client_of(hs);
  ASSERT_TRUE(c);
  auto r = (*c)->call_tool("later", {});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "deferred");
  EXPECT_TRUE(deferred_on_the_loop);
  c->reset();
  hs.stop();
}

TEST(HttpServerKeepAlive, AConnectionIdleBetweenRequestsIsClosedAfterIdleTimeout) {
  // http_server_options::idle_timeout was ignored: an idle kept-alive connection lived
  // read_timeout (30 s) whatever it said. A request still gets read_timeout once it begins.
  server::server srv(protocol::implementation{"idle-closer", "1.0.0"});
  transport::http_server_options o;
  o.port = 0;
  o.idle_timeout = std::chrono::milliseconds(200);
  o.read_timeout = std::chrono::seconds(5);
  transport::http_server hs(srv, o);
  hs.start();
  namespace th = plexus::testing::http;
  th::client raw(hs.port());
  ASSERT_TRUE(raw.connected());
  auto discover =
      th::build_request("POST", "/mcp", hs.port(),
                        {{"Content-Type", "application/json"},
                         {"Accept", "application/json, text/event-stream"},
                         {"MCP-Protocol-Version", "2026-07-28"},
                         {"Mcp-Method", "server/discover"}},
                        R"({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{)"
                        R"("io.modelcontextprotocol/protocolVersion":"2026-07-28",)"
                        R"("io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},)"
                        R"("io.modelcontextprotocol/clientCapabilities":{}}}})");
  ASSERT_TRUE(raw.send(discover));
  auto r = raw.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(raw.peer_closed());  // kept alive
  EXPECT_TRUE(raw.wait_closed(std::chrono::seconds(2)));
  hs.stop();
}

TEST(ClientHttp, UnreachableServerIsAClearError) {
  auto c = client::client::connect(make_http_transport("http://127.0.0.1:1/mcp"), client_options{});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().kind, error::transport);
  EXPECT_NE(c.error().message.find("cannot reach http://127.0.0.1:1/mcp"), std::string::npos);
}

TEST(ClientHttp, ListsAreCachedForTheirTtlAndDroppedOnListChanged) {
  plexus_http_process srv;
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::auto_detect));
  ASSERT_TRUE(c);
  std::atomic<int> frames{0};
  std::vector<std::string> methods;
  std::mutex mu;
  auto sub =
      (*c)->listen({{"toolsListChanged", true}}, [&](const std::string& m, const json::object&) {
        std::lock_guard lk(mu);
        methods.push_back(m);
        ++frames;
      });
  ASSERT_TRUE(sub) << sub.error().describe();
  for (int i = 0; i < 100 && frames < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(frames.load(), 1);
  EXPECT_EQ(methods.front(), "notifications/subscriptions/acknowledged");
  // The everything server answers tools/list with ttlMs 60000: the second list is served
  // from the cache, which the (counting) server proves by not being asked.
  auto first = (*c)->list_tools();
  ASSERT_TRUE(first);
  auto t0 = std::chrono::steady_clock::now();
  auto second = (*c)->list_tools();
  ASSERT_TRUE(second);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(5));
  EXPECT_EQ(first->size(), second->size());
  // A list_changed on the listen stream reaches the callback (and drops the cached list).
  ASSERT_TRUE((*c)->call_tool("test_trigger_tool_change"));
  for (int i = 0; i < 200 && frames < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard lk(mu);
    ASSERT_GE(methods.size(), 2u);
    EXPECT_EQ(methods[1], "notifications/tools/list_changed");
  }
  (*sub)->cancel();
  EXPECT_TRUE((*c)->call_tool("echo", {{"text", "after listen"}}));
}

TEST(ClientHttp, LegacySessionExpiryStartsANewSession) {
  plexus_http_process srv({"--session-idle-seconds", "1"});
  auto c =
      client::client::connect(make_http_transport(srv.url()), handlers(version_mode::legacy_only));
  ASSERT_TRUE(c);
  ASSERT_TRUE((*c)->call_tool("echo", {{"text", "one"}}));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(2600));  // the server drops the idle session
  auto r = (*c)->call_tool("echo", {{"text", "two"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "two");
}

namespace {

// A server that answers each POSTed JSON-RPC request with bytes the test writes, in the
// pieces it chooses: how the client's asynchronous exchange reads an answer however it is
// framed and however its bytes arrive. One thread per connection; loopback only.
class scripted_http_server {
 public:
  struct answer {
    std::vector<std::string> pieces;  // written one after another, 5 ms apart
    bool close_after = false;
  };
  using script = std::function<answer(const json::value& id)>;

  explicit scripted_http_server(script s) : script_(std::move(s)) {
    std::tie(fd_, port_) = plexus::testing::http::listen_on_loopback();
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~scripted_http_server() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(mu_);
      for (int c : open_) ::shutdown(c, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  int connections() const { return accepted_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::lock_guard lk(mu_);
      if (stopping_) {
        ::close(c);
        return;
      }
      ++accepted_;
      open_.insert(c);
      threads_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    for (bool open = true; open;) {
      auto head_end = in.find("\r\n\r\n");
      if (head_end == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      auto head = plexus::testing::http::lower(in.substr(0, head_end));
      auto cl = head.find("content-length:");
      std::size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
      while (in.size() < head_end + 4 + length) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) {
          open = false;
          break;
        }
        in.append(buf, static_cast<std::size_t>(n));
      }
      if (!open) break;
      auto request = boost::json::parse(in.substr(head_end + 4, length));
      in.erase(0, head_end + 4 + length);
      auto a = script_(request.as_object().at("id"));
      for (const auto& piece : a.pieces) {
        if (::send(c, piece.data(), piece.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(piece.size()))
          open = false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (a.close_after) break;
    }
    std::lock_guard lk(mu_);
    open_.erase(c);
    ::close(c);
  }

  script script_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::thread acceptor_;
  std::vector<std::thread> threads_;
};

std::string rpc_answer(const json::value& id, const std::string& text) {
  return json::dump(
      json::object{{"jsonrpc", "2.0"},
                   {"id", id},
                   {"result", {{"content", json::array{{{"type", "text"}, {"text", text}}}}}}});
}

// `bytes` cut into pieces of `size`.
std::vector<std::string> cut(const std::string& bytes, std::size_t size) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < bytes.size(); i += size) out.push_back(bytes.substr(i, size));
  return out;
}

std::string chunked(const std::string& body, std::size_t size) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += size) {
    auto part = body.substr(i, size);
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", part.size());
    out += len + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

json::object modern_call(int id) {
  return json::object{
      {"jsonrpc", "2.0"},
      {"id", id},
      {"method", "tools/call"},
      {"params",
       {{"name", "echo"},
        {"arguments", json::object{}},
        {"_meta", {{std::string(protocol::meta::protocol_version), "2026-07-28"}}}}}};
}

// What a transport delivered, and on which thread.
struct delivered {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json::value> messages;
  std::vector<std::thread::id> threads;
  client_transport::inbound sink() {
    return [this](const json::value& v) {
      std::lock_guard lk(mu);
      messages.push_back(v);
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), [&] { return messages.size() >= n; });
  }
};

std::string answer_text(const json::value& v) {
  const auto& content = v.as_object().at("result").as_object().at("content").as_array();
  return std::string(content.at(0).as_object().at("text").as_string());
}

}  // namespace

TEST(ClientHttp, AnAsyncAnswerIsReadHoweverItsBytesArrive) {
  // Each answer of a request posted asynchronously (try_send on a kept-alive connection) is
  // framed and cut differently: the client must read them all, on its I/O thread.
  const std::string big(40 * 1024, 'x');  // over the exchange's 16 KiB read chunk
  scripted_http_server srv([&](const json::value& id) -> scripted_http_server::answer {
    auto n = id.as_int64();
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    if (n == 1 || n == 2) {  // whole, then in 7-byte pieces
      auto body = rpc_answer(id, "answer " + std::to_string(n));
      auto bytes = head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      return {n == 1 ? std::vector<std::string>{bytes} : cut(bytes, 7)};
    }
    if (n == 3) {  // chunked, its chunks split across writes
      auto bytes =
          head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(rpc_answer(id, "three"), 10);
      return {cut(bytes, 13)};
    }
    if (n == 4) {  // larger than a read chunk, with its head in one write
      auto body = rpc_answer(id, big);
      return {{head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n", body}};
    }
    if (n == 5)  // larger than a read chunk, chunked in pieces of 5,000
      return {{head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(rpc_answer(id, big), 5000)}};
    // 6: a body that ends with the connection
    return {{head + "Connection: close\r\n\r\n", rpc_answer(id, "six")}, true};
  });
  auto t = make_http_transport(srv.url());
  delivered d;
  t->start(d.sink(), [](const std::string&) {});
  ASSERT_FALSE(t->send(modern_call(1)));  // leaves a kept-alive connection
  ASSERT_TRUE(d.wait_for(1));
  EXPECT_EQ(answer_text(d.messages[0]), "answer 1");
  for (int id = 2; id <= 6; ++id) {
    ASSERT_TRUE(t->try_send(modern_call(id)));
    ASSERT_TRUE(d.wait_for(static_cast<std::size_t>(id))) << "no answer to " << id;
  }
  EXPECT_EQ(answer_text(d.messages[1]), "answer 2");
  EXPECT_EQ(answer_text(d.messages[2]), "three");
  EXPECT_EQ(answer_text(d.messages[3]), big);
  EXPECT_EQ(answer_text(d.messages[4]), big);
  EXPECT_EQ(answer_text(d.messages[5]), "six");
  // All on the one kept-alive connection, read by the I/O thread (not the thread that
  // waited for the first answer, which send() would have used again).
  EXPECT_EQ(srv.connections(), 1);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(d.threads[static_cast<std::size_t>(i)], d.threads[1]);
  EXPECT_NE(d.threads[1], d.threads[0]);
  t->close();
}

TEST(ClientHttp, AnAsyncAnswerOverTheLimitIsAnError) {
  scripted_http_server srv([](const json::value& id) -> scripted_http_server::answer {
    auto body = rpc_answer(id, std::string(id.as_int64() == 1 ? 10 : 100 * 1024, 'y'));
    return {{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body}};
  });
  http_transport_options o;
  o.max_message_bytes = 64 * 1024;
  auto t = make_http_transport(srv.url(), o);
  delivered d;
  t->start(d.sink(), [](const std::string&) {});
  ASSERT_FALSE(t->send(modern_call(1)));
  ASSERT_TRUE(d.wait_for(1));
  ASSERT_TRUE(t->try_send(modern_call(2)));
  ASSERT_TRUE(d.wait_for(2));
  const auto& e = d.messages[1].as_object().at("error").as_object();
  EXPECT_EQ(e.at("code").as_int64(), -32000);
  EXPECT_NE(std::string(e.at("message").as_string()).find("reading the answer failed"),
            std::string::npos)
      << json::dump(d.messages[1]);
  t->close();
}

TEST(ClientHttp, AnAnswerCutOffIsAnErrorNotASecondCall) {
  // A kept-alive connection that the server closed before answering is retried on a fresh one
  // (the request was not processed). One that breaks after the answer began was processed: the
  // call must fail, not run again. Both the asynchronous exchange (try_send) and the blocking
  // one (send) are checked.
  std::mutex mu;
  std::map<std::int64_t, int> seen;
  scripted_http_server srv([&](const json::value& id) -> scripted_http_server::answer {
    auto n = id.as_int64();
    int times;
    {
      std::lock_guard lk(mu);
      times = ++seen[n];
    }
    auto body = rpc_answer(id, "answer " + std::to_string(n));
    auto whole = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body;
    if ((n == 2 || n == 4) && times == 1)  // the head cut off, then the connection closed
      return {{whole.substr(0, 20)}, true};
    return {{whole}};
  });
  auto t = make_http_transport(srv.url());
  delivered d;
  t->start(d.sink(), [](const std::string&) {});
  ASSERT_FALSE(t->send(modern_call(1)));  // leaves a kept-alive connection
  ASSERT_TRUE(d.wait_for(1));
  ASSERT_TRUE(t->try_send(modern_call(2)));
  ASSERT_TRUE(d.wait_for(2));
  ASSERT_FALSE(t->send(modern_call(3)));  // a fresh kept-alive connection for the next
  ASSERT_TRUE(d.wait_for(3));
  EXPECT_EQ(answer_text(d.messages[2]), "answer 3");
  ASSERT_FALSE(t->send(modern_call(4)));
  ASSERT_TRUE(d.wait_for(4));
  for (std::size_t i : {1u, 3u}) {
    ASSERT_TRUE(d.messages[i].as_object().contains("error")) << json::dump(d.messages[i]);
    EXPECT_NE(json::dump(d.messages[i]).find("reading the answer failed"), std::string::npos)
        << json::dump(d.messages[i]);
  }
  std::lock_guard lk(mu);
  EXPECT_EQ(seen[2], 1) << "call 2 ran again";
  EXPECT_EQ(seen[4], 1) << "call 4 ran again";
  t->close();
}
