// The Plexus client's Unix-socket transport against `plexus everything --unix
// PATH` (newline-delimited JSON-RPC): both eras, server requests, the size
// limit, the server going away, a missing socket, and the CLI with unix:PATH.
#include "child_process.hpp"
#include "plexus/client/client.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <sys/stat.h>
#include <csignal>
#include <filesystem>
#include <regex>

using namespace plexus;
using namespace plexus::client;
using namespace std::chrono_literals;
using plexus::testing::child_process;
namespace fs = std::filesystem;

namespace {

struct unix_server_process {
  fs::path dir;
  std::string path;
  std::unique_ptr<child_process> proc;
  unix_server_process() {
    std::string t = (fs::temp_directory_path() / "plexus-unix-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    dir = t;
    path = (dir / "mcp.sock").string();
    proc = std::make_unique<child_process>(
        std::vector<std::string>{PLEXUS_BINARY, "everything", "--unix", path});
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      proc->read_line(20ms);
      if (proc->stderr_text().find("on unix:" + path) != std::string::npos) return;
      if (!proc->alive()) throw std::runtime_error("server exited: " + proc->stderr_text());
    }
    throw std::runtime_error("server not ready: " + proc->stderr_text());
  }
  ~unix_server_process() {
    proc.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

client_options handlers(version_mode mode) {
  client_options o;
  o.mode = mode;
  o.request_timeout = 20s;
  o.handlers.sampling = [](const json::object&) -> result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "42"}}},
                        {"model", "m"}};
  };
  o.handlers.elicitation = [](const json::object&) -> result<json::object> {
    return json::object{{"action", "accept"}, {"content", json::object{{"name", "Ada"}}}};
  };
  return o;
}

std::string text(const json::object& r) {
  return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
}

}  // namespace

TEST(ClientUnix, BothErasOverTheSocket) {
  unix_server_process srv;
  struct stat st {};
  ASSERT_EQ(::stat(srv.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto m =
      client::client::connect(make_unix_transport(srv.path), handlers(version_mode::auto_detect));
  ASSERT_TRUE(m) << m.error().describe();
  EXPECT_EQ((*m)->era(), protocol::era::modern);
  auto r = (*m)->call_tool("test_input_required_result_elicitation");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "Hello, Ada!");

  auto l =
      client::client::connect(make_unix_transport(srv.path), handlers(version_mode::legacy_only));
  ASSERT_TRUE(l) << l.error().describe();
  EXPECT_EQ((*l)->era(), protocol::era::legacy);
  auto s = (*l)->call_tool("test_sampling", {{"prompt", "?"}});
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(text(*s), "LLM response: 42");
  auto t0 = std::chrono::steady_clock::now();
  (*l)->close();
  (*m)->close();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(srv.proc->alive());
}

TEST(ClientUnix, OversizedMessageAndServerGoingAway) {
  unix_server_process srv;
  unix_transport_options uo;
  uo.max_message_bytes = 4096;
  auto c = client::client::connect(make_unix_transport(srv.path, uo),
                                   handlers(version_mode::legacy_only));
  ASSERT_TRUE(c) << c.error().describe();
  auto tools = (*c)->list_tools();
  ASSERT_FALSE(tools);
  EXPECT_NE(tools.error().describe().find("over 4096 bytes"), std::string::npos)
      << tools.error().describe();

  auto d =
      client::client::connect(make_unix_transport(srv.path), handlers(version_mode::auto_detect));
  ASSERT_TRUE(d) << d.error().describe();
  ::kill(srv.proc->pid(), SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  result<json::object> r = json::object{};
  for (int i = 0; i < 50 && r; ++i) {
    r = (*d)->ping();
    if (r) std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(ClientUnix, MissingSocketSaysSo) {
  try {
    make_unix_transport("/nonexistent/plexus.sock");
    ADD_FAILURE() << "connected to nothing";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unix:/nonexistent/plexus.sock"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_unix_transport(std::string(200, 'x')), std::runtime_error);
}

TEST(ClientUnix, CliWithUnixServer) {
  unix_server_process srv;
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), PLEXUS_BINARY);
    child_process p(args);
    p.close_stdin();
    std::string out;
    for (const auto& l : p.read_all_lines(30s)) out += l + "\n";
    auto st = p.wait_exit(30s);
    int code = st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    return std::make_tuple(code, out, p.stderr_text());
  };
  auto [code, out, err] = run({"tools", "unix:" + srv.path, "--json"});
  ASSERT_EQ(code, 0) << err;
  EXPECT_EQ(boost::json::parse(out).at("tools").at(0).at("name"), "echo");
  auto [c2, o2, e2] = run({"call", "unix://" + srv.path, "add", "--arg", "a=2", "--arg", "b=3"});
  ASSERT_EQ(c2, 0) << e2;
  EXPECT_NE(o2.find('5'), std::string::npos) << o2;
  auto [c3, o3, e3] = run({"tools", "unix:" + srv.path + ".missing"});
  EXPECT_EQ(c3, 3);
  EXPECT_NE(e3.find("cannot connect to unix:"), std::string::npos) << e3;
  auto [c4, o4, e4] = run({"tools", "unix:" + srv.path, "--header", "X: y"});
  EXPECT_EQ(c4, 2);
}
