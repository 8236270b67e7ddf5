// The Plexus client's WebSocket transport against `plexus everything --http`
// (WebSocket on /ws and /mcp): both eras, MRTR and legacy server requests,
// progress, wss with a private CA and mTLS, the size limit, a declined
// upgrade, a connect timeout, a clean close, a server going away, and the CLI
// with ws:// and wss:// servers.
#include "async_answers.hpp"
#include "plexus/client/client.hpp"
#include "plexus_http_process.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>

using namespace plexus;
using namespace plexus::client;
using namespace std::chrono_literals;
using plexus::testing::child_process;
using plexus::testing::plexus_http_process;
namespace fs = std::filesystem;

namespace {

client_options handlers(version_mode mode) {
  client_options o;
  o.mode = mode;
  o.request_timeout = 20s;
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

std::string ws_url(const plexus_http_process& s, const std::string& path = "/ws") {
  return "ws://127.0.0.1:" + std::to_string(s.port()) + path;
}

// A CA, a server certificate for localhost/127.0.0.1 and a client certificate
// (made by the openssl CLI).
struct test_pki {
  fs::path dir;
  test_pki() {
    dir = fs::temp_directory_path() / ("plexus-wss-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "server.ext")
        << "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    std::ofstream(dir / "client.ext") << "extendedKeyUsage=clientAuth\n";
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=plexus-test-ca -keyout ca.key -out ca.crt");
    for (std::string who : {"server", "client"}) {
      run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
          who + " -keyout " + who + ".key -out " + who + ".csr");
      run("openssl x509 -req -in " + who + ".csr -CA ca.crt -CAkey ca.key -CAcreateserial " +
          "-days 2 -extfile " + who + ".ext -out " + who + ".crt");
    }
  }
  ~test_pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void run(const std::string& cmd) {
    std::string full = "cd '" + dir.string() + "' && " + cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  std::string path(const char* name) const { return (dir / name).string(); }
};

// Runs the CLI to completion: exit code, stdout, stderr.
struct cli_result {
  int code = -1;
  std::string out, err;
};
cli_result run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), PLEXUS_BINARY);
  child_process p(args);
  p.close_stdin();
  cli_result r;
  for (const auto& l : p.read_all_lines(30s)) r.out += l + "\n";
  auto st = p.wait_exit(30s);
  if (st && WIFEXITED(*st)) r.code = WEXITSTATUS(*st);
  r.err = p.stderr_text();
  return r;
}

}  // namespace

TEST(ClientWebSocket, ModernEraWithMrtrAndProgress) {
  plexus_http_process srv;
  auto c = client::client::connect(make_websocket_transport(ws_url(srv)),
                                   handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::modern);
  auto tools = (*c)->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_GT(tools->size(), 5u);
  auto r = (*c)->call_tool("test_input_required_result_elicitation");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "Hello, Grace!");
  int progress = 0;
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  auto p = (*c)->call_tool("test_tool_with_progress", {}, ro);
  ASSERT_TRUE(p) << p.error().describe();
  EXPECT_EQ(progress, 3);
  auto missing = (*c)->read_resource("test://nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, -32602);
}

// request_async over WebSocket: the message goes to the I/O thread without waiting for its
// write; answers (and progress) come back on the reader, many in flight at once.
TEST(ClientWebSocket, AsyncRequestsDoNotWaitForTheirWrite) {
  plexus_http_process srv;
  auto c = client::client::connect(make_websocket_transport(ws_url(srv)),
                                   handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  plexus::testing::async_answers a;
  std::atomic<int> progress{0};
  request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  ASSERT_TRUE(
      (*c)->request_async("tools/call", {{"name", "test_tool_with_progress"}}, ro, a.sink()));
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE((*c)->request_async(
        "tools/call", {{"name", "echo"}, {"arguments", {{"text", std::to_string(i)}}}}, {},
        a.sink()));
  ASSERT_TRUE(a.wait_for(51));
  std::lock_guard lk(a.mu);
  EXPECT_EQ(a.got.size(), 51u);
  for (auto& r : a.got) ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(progress.load(), 3);
}

TEST(ClientWebSocket, LegacyEraServerRequestsOnMcpPath) {
  plexus_http_process srv;
  auto c = client::client::connect(make_websocket_transport(ws_url(srv, "/mcp")),
                                   handlers(version_mode::legacy_only));
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::legacy);
  auto r = (*c)->call_tool("test_sampling", {{"prompt", "the answer?"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "LLM response: 42");
  auto e = (*c)->call_tool("test_elicitation", {{"message", "name?"}});
  ASSERT_TRUE(e) << e.error().describe();
  // Many requests at once share the one socket.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      auto a = (*c)->call_tool("add", {{"a", i}, {"b", 1}});
      if (a && a->contains("content")) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
}

TEST(ClientWebSocket, CleanCloseIsQuick) {
  plexus_http_process srv;
  auto c = client::client::connect(make_websocket_transport(ws_url(srv)),
                                   handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_TRUE((*c)->ping());
  auto t0 = std::chrono::steady_clock::now();
  (*c)->close();
  // A close handshake answered by the server; no waiting out close_timeout (2 s).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  auto after = (*c)->ping();
  ASSERT_FALSE(after);
  EXPECT_TRUE(srv.alive());
}

TEST(ClientWebSocket, ServerGoingAwayFailsRequestsAtOnce) {
  plexus_http_process srv;
  auto o = handlers(version_mode::auto_detect);
  o.request_timeout = 30s;
  auto c = client::client::connect(make_websocket_transport(ws_url(srv)), o);
  ASSERT_TRUE(c) << c.error().describe();
  ::kill(srv.proc().pid(), SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  result<json::object> r = json::object{};
  for (int i = 0; i < 50 && r; ++i) {
    r = (*c)->ping();
    if (r) std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_TRUE(r.error().kind == error::closed || r.error().kind == error::transport)
      << r.error().describe();
}

TEST(ClientWebSocket, OversizedMessageEndsTheConnection) {
  plexus_http_process srv;
  websocket_transport_options wo;
  wo.max_message_bytes = 4096;  // tools/list is far larger
  auto c = client::client::connect(make_websocket_transport(ws_url(srv), wo),
                                   handlers(version_mode::legacy_only));
  ASSERT_TRUE(c) << c.error().describe();
  auto t0 = std::chrono::steady_clock::now();
  auto tools = (*c)->list_tools();
  ASSERT_FALSE(tools);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_NE(tools.error().describe().find("over 4096 bytes"), std::string::npos)
      << tools.error().describe();
}

TEST(ClientWebSocket, ConnectErrorsSayWhy) {
  plexus_http_process srv;
  try {
    make_websocket_transport(ws_url(srv, "/elsewhere"));
    ADD_FAILURE() << "the upgrade on /elsewhere succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("declined the WebSocket upgrade (HTTP 4"),
              std::string::npos)
        << e.what();
  }
  // Refused: a port nobody listens on (bound, then closed).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int closed_port = ntohs(a.sin_port);
  ::close(fd);
  EXPECT_THROW(make_websocket_transport("ws://127.0.0.1:" + std::to_string(closed_port) + "/ws"),
               std::runtime_error);
  EXPECT_THROW(make_websocket_transport("http://127.0.0.1:1/ws"), std::invalid_argument);
  EXPECT_THROW(make_websocket_transport("not a url"), std::invalid_argument);
}

TEST(ClientWebSocket, UpgradeTimesOut) {
  // A listener that accepts TCP connections (in the kernel) and never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  websocket_transport_options wo;
  wo.connect_timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  try {
    make_websocket_transport("ws://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/ws", wo);
    ADD_FAILURE() << "connected to a silent listener";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  ::close(fd);
}

TEST(ClientWebSocket, WssWithPrivateCaAndClientCertificates) {
  test_pki pki;
  plexus_http_process srv({"--tls-cert", pki.path("server.crt"), "--tls-key",
                           pki.path("server.key"), "--tls-client-ca", pki.path("ca.crt")});
  std::string url = "wss://localhost:" + std::to_string(srv.port()) + "/ws";
  websocket_transport_options wo;
  wo.ca_file = pki.path("ca.crt");
  wo.client_cert_file = pki.path("client.crt");
  wo.client_key_file = pki.path("client.key");
  auto c = client::client::connect(make_websocket_transport(url, wo),
                                   handlers(version_mode::auto_detect));
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->call_tool("echo", {{"text", "over wss"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(text(*r), "over wss");
  (*c)->close();
  // The address works too (the certificate names 127.0.0.1).
  auto by_ip =
      make_websocket_transport("wss://127.0.0.1:" + std::to_string(srv.port()) + "/mcp", wo);
  by_ip->close();

  // Without a client certificate: mTLS refuses.
  websocket_transport_options no_cert;
  no_cert.ca_file = pki.path("ca.crt");
  no_cert.connect_timeout = 3s;
  bool refused = false;
  try {
    auto t = make_websocket_transport(url, no_cert);
    // TLS 1.3 may report the missing certificate after the handshake.
    auto cc = client::client::connect(std::move(t), handlers(version_mode::auto_detect));
    refused = !cc;
  } catch (const std::runtime_error&) {
    refused = true;
  }
  EXPECT_TRUE(refused);
  // Without the CA: the server's certificate is not trusted.
  websocket_transport_options untrusted = wo;
  untrusted.ca_file.clear();
  try {
    make_websocket_transport(url, untrusted);
    ADD_FAILURE() << "a certificate from an unknown CA was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TLS"), std::string::npos) << e.what();
  }
}

TEST(ClientWebSocket, CliWithWsAndWssServers) {
  plexus_http_process srv;
  auto tools = run_cli({"tools", ws_url(srv), "--json"});
  ASSERT_EQ(tools.code, 0) << tools.err;
  auto v = boost::json::parse(tools.out);
  EXPECT_EQ(v.at("tools").at(0).at("name"), "echo");
  auto call = run_cli({"call", ws_url(srv, "/mcp"), "echo", "--arg", "text=hi", "--legacy"});
  ASSERT_EQ(call.code, 0) << call.err;
  EXPECT_EQ(call.out, "hi\n");
  auto bad = run_cli({"tools", ws_url(srv, "/nowhere")});
  EXPECT_EQ(bad.code, 3);
  EXPECT_NE(bad.err.find("declined the WebSocket upgrade"), std::string::npos) << bad.err;
  auto usage = run_cli({"tools", "ftp://127.0.0.1/x"});
  EXPECT_EQ(usage.code, 2);

  test_pki pki;
  plexus_http_process tls(
      {"--tls-cert", pki.path("server.crt"), "--tls-key", pki.path("server.key")});
  std::string wss = "wss://localhost:" + std::to_string(tls.port()) + "/ws";
  auto secure =
      run_cli({"call", wss, "echo", "--arg", "text=secure", "--ca-file", pki.path("ca.crt")});
  ASSERT_EQ(secure.code, 0) << secure.err;
  EXPECT_EQ(secure.out, "secure\n");
  auto untrusted = run_cli({"tools", wss});
  EXPECT_EQ(untrusted.code, 3);
}
