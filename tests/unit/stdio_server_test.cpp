// serve_stdio over real pipes: it widens them (a 64 KiB answer no longer fills the pipe,
// which made the reader wait for the client once per message), and then runs the calls of
// direct tools in messages up to half the output pipe on the reading thread.
#include "../common/wide_pipes.hpp"
#include "plexus/core/batch.hpp"
#include "plexus/server/typed_tool.hpp"
#include "plexus/transport/stdio.hpp"

#include <gtest/gtest.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace plexus;

namespace {

struct text_args {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(text_args, (), (text))

std::string call(int id, const std::string& text) {
  return boost::json::serialize(
             boost::json::object{{"jsonrpc", "2.0"},
                                 {"id", id},
                                 {"method", "tools/call"},
                                 {"params", {{"name", "echo"}, {"arguments", {{"text", text}}}}}}) +
         "\n";
}

struct StdioServer : ::testing::Test {
  server::server srv{protocol::implementation{"stdio-test", "1.0.0"}};
  std::atomic<bool> large_ran_on_reader{false};
  std::atomic<int> later_offered{0};
  std::thread::id reader;
  int to_server[2] = {-1, -1}, from_server[2] = {-1, -1};
  std::thread serving;

  void SetUp() override {
    server::add_tool(srv, "echo", "echo",
                     [this](text_args a) {
                       if (a.text.size() > 16 * 1024 && std::this_thread::get_id() == reader)
                         large_ran_on_reader = true;
                       return std::move(a.text);
                     },
                     {.dispatch = server::tool_dispatch::direct});
    // Answers from work deferred to the end of the reader's batch (see batch_deferrer).
    protocol::tool later;
    later.name = "later";
    later.description = "answers once the lines read with it are handled";
    later.input_schema = boost::json::object{{"type", "object"}};
    srv.add_tool(
        std::move(later),
        [](server::context&, const json::object&) { return server::tool_result::text("pool"); },
        server::task_start::by_handler,
        [this](server::context&, const json::object&, server::tool_completion done) {
          auto* batch = plexus::thread_batch_deferrer();
          if (!batch) return false;
          ++later_offered;
          batch->defer([this, done] {
            done(server::tool_result::text(std::to_string(later_offered.load())));
          });
          return true;
        });
    ASSERT_EQ(::pipe(to_server), 0);
    ASSERT_EQ(::pipe(from_server), 0);
    if (!plexus::testing::pipes_can_grow_to(256 * 1024))
      GTEST_SKIP() << "pipes cannot grow to 256 KiB here";
    serving = std::thread([this] {
      reader = std::this_thread::get_id();
      transport::serve_stdio(srv, {.in_fd = to_server[0], .out_fd = from_server[1]});
    });
  }
  void TearDown() override {
    if (to_server[1] >= 0) ::close(to_server[1]);
    if (serving.joinable()) serving.join();
    for (int fd : {to_server[0], from_server[0], from_server[1]})
      if (fd >= 0) ::close(fd);
  }

  // Writes everything (the server reads while we write).
  void write_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      auto n = ::write(to_server[1], s.data() + off, s.size() - off);
      ASSERT_GT(n, 0);
      off += static_cast<std::size_t>(n);
    }
  }
  std::vector<boost::json::value> read_lines(std::size_t count) {
    std::vector<boost::json::value> out;
    std::string buf;
    char chunk[65536];
    while (out.size() < count) {
      auto n = ::read(from_server[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
        out.push_back(boost::json::parse(buf.substr(0, nl)));
        buf.erase(0, nl + 1);
      }
    }
    return out;
  }
};

}  // namespace

TEST_F(StdioServer, WidensItsPipesAndRunsLargeDirectCallsOnTheReader) {
  write_all(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n");
  ASSERT_EQ(read_lines(1).size(), 1u);
  EXPECT_EQ(::fcntl(to_server[1], F_GETPIPE_SZ), 256 * 1024);
  EXPECT_EQ(::fcntl(from_server[0], F_GETPIPE_SZ), 256 * 1024);

  // Small, large, small in one write: the large answer is not held in (or copied into)
  // the reader's batch, and the order stays.
  std::string large(64 * 1024, 'x');
  write_all(call(1, "a") + call(2, large) + call(3, "b"));
  auto answers = read_lines(3);
  ASSERT_EQ(answers.size(), 3u);
  std::vector<std::string> texts;
  for (auto& a : answers) {
    EXPECT_EQ(a.at("id").as_int64(), static_cast<std::int64_t>(texts.size() + 1));
    texts.emplace_back(a.at("result").at("content").at(0).at("text").as_string());
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"a", large, "b"}));
  EXPECT_TRUE(large_ran_on_reader);
}

TEST_F(StdioServer, WorkDeferredWhileHandlingOneReadRunsOnceItsLinesAreHandled) {
  // A gateway served over stdio holds its writes to stdio upstreams until the lines of one
  // read are handled: every call of the read was offered before any deferred work ran.
  std::string calls;
  for (int id = 1; id <= 3; ++id)
    calls += boost::json::serialize(boost::json::object{
                 {"jsonrpc", "2.0"},
                 {"id", id},
                 {"method", "tools/call"},
                 {"params",
                  {{"name", "later"},
                   {"arguments", boost::json::object{}},
                   {"_meta",
                    {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                     {"io.modelcontextprotocol/clientInfo", {{"name", "t"}, {"version", "1"}}},
                     {"io.modelcontextprotocol/clientCapabilities", boost::json::object{}}}}}}}) +
             "\n";
  write_all(calls);
  auto answers = read_lines(3);
  ASSERT_EQ(answers.size(), 3u);
  for (auto& a : answers)
    EXPECT_EQ(a.at("result").at("content").at(0).at("text").as_string(), "3") << a;
}
