// TLS and mutual TLS on the HTTP transport: `plexus everything --http` with
// --tls-cert/--tls-key (and --tls-client-ca), reached by the Plexus client over
// https with a private CA. Certificates are made for the test by the openssl CLI.
#include "async_answers.hpp"
#include "plexus/client/client.hpp"
#include "plexus_http_process.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace plexus;
using namespace plexus::client;
using plexus::testing::plexus_http_process;
namespace fs = std::filesystem;

namespace {

// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
struct test_pki {
  fs::path dir;
  test_pki() {
    dir = fs::temp_directory_path() / ("plexus-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "server.ext")
        << "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    std::ofstream(dir / "client.ext") << "extendedKeyUsage=clientAuth\n";
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=plexus-test-ca -keyout ca.key -out ca.crt");
    for (std::string who : {"server", "client"}) {
      run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" +
          who + " -keyout " + who + ".key -out " + who + ".csr");
      run("openssl x509 -req -in " + who +
          ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
          "-extfile " +
          who + ".ext -out " + who + ".crt");
    }
    // A second CA nobody trusts.
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj /CN=stranger -keyout other.key -out other.crt");
  }
  ~test_pki() { fs::remove_all(dir); }
  void run(const std::string& cmd) {
    std::string full = "cd '" + dir.string() + "' && " + cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  std::string path(const char* name) const { return (dir / name).string(); }
};

std::string https_url(const plexus_http_process& s) {
  return "https://localhost:" + std::to_string(s.port()) + "/mcp";
}

// A client of `srv` that trusts the test CA.
result<std::unique_ptr<client::client>> trusting_client(const test_pki& pki,
                                                        const plexus_http_process& srv) {
  http_transport_options o;
  o.ca_file = pki.path("ca.crt");
  return client::client::connect(make_http_transport(https_url(srv), o), {});
}

// `plexus serve` options for HTTPS with the test PKI's server certificate, plus `extra`.
std::vector<std::string> server_tls(const test_pki& pki, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--tls-cert", pki.path("server.crt"), "--tls-key",
                                pki.path("server.key")};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST(Tls, HttpsWithAPrivateCa) {
  test_pki pki;
  plexus_http_process srv(server_tls(pki));
  auto c = trusting_client(pki, srv);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->era(), protocol::era::modern);
  auto r = (*c)->call_tool("echo", {{"text", "over tls"}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->at("content").at(0).at("text"), "over tls");

  // A client that does not trust the server's CA refuses the connection.
  http_transport_options wrong;
  wrong.ca_file = pki.path("other.crt");
  auto bad = client::client::connect(make_http_transport(https_url(srv), wrong), {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, error::transport);
  EXPECT_NE(bad.error().message.find("certificate"), std::string::npos) << bad.error().message;
}

TEST(Tls, MutualTlsRequiresAClientCertificate) {
  test_pki pki;
  plexus_http_process srv(server_tls(pki, {"--tls-client-ca", pki.path("ca.crt")}));
  http_transport_options anonymous;
  anonymous.ca_file = pki.path("ca.crt");
  auto refused = client::client::connect(make_http_transport(https_url(srv), anonymous), {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, error::transport);

  http_transport_options with_cert = anonymous;
  with_cert.client_cert_file = pki.path("client.crt");
  with_cert.client_key_file = pki.path("client.key");
  auto c = client::client::connect(make_http_transport(https_url(srv), with_cert), {});
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->call_tool("add", {{"a", 2}, {"b", 3}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->at("content").at(0).at("text"), "5");
  EXPECT_TRUE(srv.alive());
}

TEST(Tls, AStreamedAnswerAndTheCallsAfterIt) {
  // A call with progress is answered as an SSE stream, written over the TLS stream by the
  // connection's callback writer after the request's coroutines returned; the connection
  // then reads requests again. Calls after it must work, again and again.
  test_pki pki;
  plexus_http_process srv(server_tls(pki));
  auto c = trusting_client(pki, srv);
  ASSERT_TRUE(c) << c.error().describe();
  for (int i = 0; i < 3; ++i) {
    int progress = 0;
    request_options ro;
    ro.on_progress = [&progress](const json::object&) { ++progress; };
    auto r =
        (*c)->request("tools/call",
                      json::object{{"name", "long_running_operation"},
                                   {"arguments", json::object{{"duration", 0.1}, {"steps", 2}}}},
                      ro);
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_GE(progress, 1) << "round " << i;
    auto text = "after " + std::to_string(i);
    auto e = (*c)->call_tool("echo", {{"text", text}});
    ASSERT_TRUE(e) << e.error().describe();
    EXPECT_EQ(e->at("content").at(0).at("text"), json::value(text));
  }
}

TEST(Tls, AsyncRequestsOnAKeptAliveConnection) {
  // request_async over a kept-alive TLS connection: written and read by the transport's I/O
  // thread through the TLS stream (only a plain socket is written at once), small and large
  // answers alike.
  test_pki pki;
  plexus_http_process srv(server_tls(pki));
  auto c = trusting_client(pki, srv);
  ASSERT_TRUE(c) << c.error().describe();
  ASSERT_TRUE((*c)->call_tool("echo", {{"text", "warm"}}));  // leaves a kept-alive connection
  const std::string big(40 * 1024, 'z');
  plexus::testing::async_answers a;
  for (int i = 0; i < 4; ++i) {
    auto text = i % 2 ? big : "async " + std::to_string(i);
    ASSERT_TRUE((*c)->request_async("tools/call",
                                    json::object{{"name", "echo"}, {"arguments", {{"text", text}}}},
                                    {}, a.sink()));
    ASSERT_TRUE(a.wait_for(static_cast<std::size_t>(i) + 1)) << "no answer to call " << i;
    ASSERT_TRUE(a.got[static_cast<std::size_t>(i)])
        << a.got[static_cast<std::size_t>(i)].error().describe();
    EXPECT_EQ(a.got[static_cast<std::size_t>(i)]->at("content").at(0).at("text"),
              json::value(text));
  }
}
