// `plexus login URL --headless` end to end against a fake OAuth 2.1
// authorization server and a protected MCP endpoint on 127.0.0.1: discovery,
// dynamic registration (made once, then reused from the token file), PKCE
// checked by the server, the loopback redirect and the pasted redirect URL,
// the 0600 token file, the client commands sending the stored token, and
// `plexus logout`.
#include "child_process.hpp"
#include "plexus/client/oauth.hpp"
#include "plexus/core/base64.hpp"

#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include "temp_dir.hpp"

#include <sys/stat.h>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
namespace oauth = plexus::client::oauth;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using plexus::testing::child_process;

namespace {

std::map<std::string, std::string> form_fields(std::string_view body_or_query) {
  std::map<std::string, std::string> out;
  std::string ref = "/?" + std::string(body_or_query);  // the view below points into it
  auto u = boost::urls::parse_uri_reference(ref);
  if (!u) return out;
  for (auto p : u->params()) out[std::string(p.key)] = std::string(p.value);
  return out;
}

// The authorization server and the MCP server it protects, one HTTP listener.
class fake_servers {
 public:
  fake_servers() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    base_ = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_servers() {
    stopping_ = true;
    boost::system::error_code ec;
    // Wake accept() with a connection of our own.
    tcp::socket s(ioc_);
    s.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string base() const { return base_; }
  std::string mcp_url() const { return base_ + "/mcp"; }

  std::mutex mu;
  int registrations = 0;
  std::vector<std::string> authorize_client_ids;
  std::vector<std::string> mcp_authorizations;
  std::set<std::string> issued;

 private:
  using request = http::request<http::string_body>;
  using response = http::response<http::string_body>;

  void serve() {
    while (!stopping_) {
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) break;
      try {
        beast::flat_buffer b;
        request req;
        http::read(s, b, req);
        response res = handle(req);
        res.version(11);
        res.keep_alive(false);
        res.prepare_payload();
        http::write(s, res);
      } catch (const std::exception&) {
      }
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  static response json_answer(int status, const boost::json::value& v) {
    response r{static_cast<http::status>(status), 11};
    r.set(http::field::content_type, "application/json");
    r.body() = boost::json::serialize(v);
    return r;
  }

  response handle(const request& req) {
    std::lock_guard lk(mu);
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::string query =
        target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
    if (req.method() == http::verb::get && path == "/.well-known/oauth-protected-resource/mcp")
      return json_answer(200, {{"resource", mcp_url()},
                               {"authorization_servers", {base_}},
                               {"scopes_supported", {"mcp:tools"}}});
    if (req.method() == http::verb::get && path == "/.well-known/oauth-authorization-server")
      return json_answer(200, {{"issuer", base_},
                               {"authorization_endpoint", base_ + "/authorize"},
                               {"token_endpoint", base_ + "/token"},
                               {"registration_endpoint", base_ + "/register"},
                               {"code_challenge_methods_supported", {"S256"}},
                               {"authorization_response_iss_parameter_supported", true},
                               {"token_endpoint_auth_methods_supported", {"client_secret_post"}}});
    if (req.method() == http::verb::post && path == "/register") {
      ++registrations;
      auto body = boost::json::parse(req.body()).as_object();
      redirect_uris_ = body.at("redirect_uris");
      std::string n = std::to_string(registrations);
      clients_["cid-" + n] = "sec-" + n;
      return json_answer(201, {{"client_id", "cid-" + n},
                               {"client_secret", "sec-" + n},
                               {"token_endpoint_auth_method", "client_secret_post"},
                               {"redirect_uris", redirect_uris_}});
    }
    if (req.method() == http::verb::get && path == "/authorize") {
      auto q = form_fields(query);
      authorize_client_ids.push_back(q["client_id"]);
      if (!clients_.count(q["client_id"]) || q["code_challenge_method"] != "S256" ||
          q["resource"] != mcp_url())
        return json_answer(400, {{"error", "invalid_request"}});
      std::string code = "code-" + std::to_string(authorize_client_ids.size());
      codes_[code] = {q["code_challenge"], q["client_id"], q["redirect_uri"]};
      response r{http::status::found, 11};
      r.set(http::field::location,
            q["redirect_uri"] + "?code=" + code + "&state=" + q["state"] + "&iss=" + base_);
      return r;
    }
    if (req.method() == http::verb::post && path == "/token") {
      auto f = form_fields(req.body());
      auto it = codes_.find(f["code"]);
      if (f["grant_type"] != "authorization_code" || it == codes_.end())
        return json_answer(400,
                           {{"error", "invalid_grant"}, {"error_description", "unknown code"}});
      auto [challenge, client_id, redirect_uri] = it->second;
      codes_.erase(it);
      unsigned char md[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(f["code_verifier"].data()),
             f["code_verifier"].size(), md);
      std::string expected = plexus::base64::encode_url(
          std::string_view(reinterpret_cast<const char*>(md), sizeof md));
      std::string why = expected != challenge                       ? "PKCE verifier"
                        : f["client_id"] != client_id               ? "client_id"
                        : f["client_secret"] != clients_[client_id] ? "client_secret"
                        : f["redirect_uri"] != redirect_uri         ? "redirect_uri"
                                                                    : "";
      if (!why.empty())
        return json_answer(400, {{"error", "invalid_grant"}, {"error_description", why}});
      std::string token = "at-" + std::to_string(issued.size() + 1);
      issued.insert(token);
      return json_answer(200, {{"access_token", token},
                               {"token_type", "Bearer"},
                               {"expires_in", 3600},
                               {"scope", "mcp:tools"}});
    }
    if (path == "/mcp") {
      std::string auth(req[http::field::authorization]);
      mcp_authorizations.push_back(auth);
      if (!auth.starts_with("Bearer ") || !issued.count(auth.substr(7))) {
        response r{http::status::unauthorized, 11};
        r.set(http::field::www_authenticate, "Bearer resource_metadata=\"" + base_ +
                                                 "/.well-known/oauth-protected-resource/mcp\"");
        return r;
      }
      if (req.method() != http::verb::post) return response{http::status::method_not_allowed, 11};
      auto msg = boost::json::parse(req.body()).as_object();
      if (!msg.contains("id")) return response{http::status::accepted, 11};
      std::string method(msg.at("method").as_string());
      boost::json::object answer{{"jsonrpc", "2.0"}, {"id", msg.at("id")}};
      if (method == "initialize")
        answer["result"] = {{"protocolVersion", "2025-11-25"},
                            {"capabilities", {{"tools", boost::json::object{}}}},
                            {"serverInfo", {{"name", "protected"}, {"version", "1"}}}};
      else if (method == "tools/list")
        answer["result"] = {
            {"tools", {{{"name", "secret_tool"}, {"inputSchema", {{"type", "object"}}}}}}};
      else
        answer["error"] = {{"code", -32601}, {"message", "Method not found"}};
      return json_answer(200, answer);
    }
    return response{http::status::not_found, 11};
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::string base_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  boost::json::value redirect_uris_;
  std::map<std::string, std::string> clients_;  // id -> secret
  std::map<std::string, std::tuple<std::string, std::string, std::string>> codes_;
};

using plexus::testing::temp_dir;

int free_port() {
  net::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// Waits for the authorization URL on the login's stderr.
std::string authorization_url(child_process& p, const std::string& base) {
  std::regex re("(" + std::regex_replace(base, std::regex(R"([.])"), R"(\.)") +
                R"(/authorize\?\S+))");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    p.read_line(20ms);
    std::smatch m;
    const std::string& err = p.stderr_text();
    if (std::regex_search(err, m, re)) return m[1].str();
    if (!p.alive()) break;
  }
  return {};
}

int exit_code(child_process& p) {
  auto st = p.wait_exit(30s);
  p.read_all_lines(2s);  // drains stderr too, for the messages
  return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(Login, HeadlessLoginStoresTokensReusesTheRegistrationAndLogsOut) {
  fake_servers srv;
  temp_dir dir;
  auto token_file = dir.path / "config" / "tokens.json";
  ::setenv("PLEXUS_TOKEN_FILE", token_file.c_str(), 1);
  std::string port = std::to_string(free_port());

  // 1. Not logged in: the client command says how to log in.
  {
    child_process p({PLEXUS_BINARY, "tools", srv.mcp_url()});
    p.close_stdin();
    EXPECT_EQ(exit_code(p), 3);
    EXPECT_NE(p.stderr_text().find("plexus login " + srv.mcp_url()), std::string::npos)
        << p.stderr_text();
  }

  // 2. Headless login; the redirect reaches the loopback listener.
  {
    child_process p({PLEXUS_BINARY, "login", srv.mcp_url(), "--headless", "--redirect-port", port});
    std::string url = authorization_url(p, srv.base());
    ASSERT_FALSE(url.empty()) << p.stderr_text();
    auto to_as = oauth::fetch({.method = "GET", .url = url});
    ASSERT_EQ(to_as.status, 302) << to_as.body;
    std::string redirect = to_as.headers.at("location");
    EXPECT_EQ(redirect.rfind("http://127.0.0.1:" + port + "/callback?", 0), 0u) << redirect;
    auto back = oauth::fetch({.method = "GET", .url = redirect});
    EXPECT_EQ(back.status, 200);
    EXPECT_EQ(exit_code(p), 0) << p.stderr_text();
  }
  {
    std::lock_guard lk(srv.mu);
    EXPECT_EQ(srv.registrations, 1);
    EXPECT_EQ(srv.issued.count("at-1"), 1u);
  }
  struct stat st {};
  ASSERT_EQ(::stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(token_file.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto stored = boost::json::parse(slurp(token_file)).as_object();
  EXPECT_EQ(stored.at(srv.mcp_url()).at("access_token"), "at-1");
  EXPECT_EQ(stored.at("@registrations").at(srv.base()).at("client_id"), "cid-1");

  // 3. The client commands send the stored token.
  {
    child_process p({PLEXUS_BINARY, "tools", srv.mcp_url(), "--json"});
    p.close_stdin();
    auto lines = p.read_all_lines(30s);
    ASSERT_EQ(exit_code(p), 0) << p.stderr_text();
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(boost::json::parse(lines[0]).at("tools").at(0).at("name"), "secret_tool");
    std::lock_guard lk(srv.mu);
    ASSERT_FALSE(srv.mcp_authorizations.empty());
    EXPECT_EQ(srv.mcp_authorizations.back(), "Bearer at-1");
  }

  // 4. A second login reuses the registration; the redirected URL is pasted on stdin.
  {
    child_process p({PLEXUS_BINARY, "login", srv.mcp_url(), "--headless", "--redirect-port", port});
    std::string url = authorization_url(p, srv.base());
    ASSERT_FALSE(url.empty()) << p.stderr_text();
    auto to_as = oauth::fetch({.method = "GET", .url = url});
    ASSERT_EQ(to_as.status, 302) << to_as.body;
    ASSERT_TRUE(p.write_line(to_as.headers.at("location")));
    EXPECT_EQ(exit_code(p), 0) << p.stderr_text();
  }
  {
    std::lock_guard lk(srv.mu);
    EXPECT_EQ(srv.registrations, 1);
    ASSERT_EQ(srv.authorize_client_ids.size(), 2u);
    EXPECT_EQ(srv.authorize_client_ids[1], "cid-1");
    EXPECT_EQ(srv.issued.count("at-2"), 1u);
  }
  EXPECT_EQ(boost::json::parse(slurp(token_file)).at(srv.mcp_url()).at("access_token"), "at-2");

  // 5. Logout forgets the tokens (the registration stays for the next login).
  {
    child_process p({PLEXUS_BINARY, "logout", srv.mcp_url() + "/"});
    p.close_stdin();
    auto lines = p.read_all_lines(10s);
    EXPECT_EQ(exit_code(p), 0);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], "Logged out of " + srv.mcp_url() + "/");
  }
  stored = boost::json::parse(slurp(token_file)).as_object();
  EXPECT_FALSE(stored.contains(srv.mcp_url()));
  EXPECT_TRUE(stored.contains("@registrations"));
  {
    child_process p({PLEXUS_BINARY, "tools", srv.mcp_url()});
    p.close_stdin();
    EXPECT_EQ(exit_code(p), 3);
  }
  {
    child_process p({PLEXUS_BINARY, "logout", srv.mcp_url()});
    p.close_stdin();
    auto lines = p.read_all_lines(10s);
    EXPECT_EQ(exit_code(p), 0);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], "Not logged in to " + srv.mcp_url());
  }
  ::unsetenv("PLEXUS_TOKEN_FILE");
}

TEST(Login, HeadlessLoginFailsClearly) {
  fake_servers srv;
  temp_dir dir;
  ::setenv("PLEXUS_TOKEN_FILE", (dir.path / "tokens.json").c_str(), 1);
  std::string port = std::to_string(free_port());
  // End of input with nothing pasted and no redirect: the login fails at the timeout.
  child_process p({PLEXUS_BINARY, "login", srv.mcp_url(), "--headless", "--redirect-port", port,
                   "--timeout", "1"});
  p.close_stdin();
  EXPECT_EQ(exit_code(p), 3);
  EXPECT_NE(p.stderr_text().find("no authorization redirect within 1 s"), std::string::npos)
      << p.stderr_text();
  EXPECT_FALSE(
      fs::exists(dir.path / "tokens.json") &&
      boost::json::parse(slurp(dir.path / "tokens.json")).as_object().contains(srv.mcp_url()));
  // A refused authorization (error= in the pasted URL).
  child_process q({PLEXUS_BINARY, "login", srv.mcp_url(), "--headless", "--redirect-port", port});
  ASSERT_FALSE(authorization_url(q, srv.base()).empty()) << q.stderr_text();
  ASSERT_TRUE(q.write_line("http://127.0.0.1:" + port + "/callback?error=access_denied"));
  EXPECT_EQ(exit_code(q), 3);
  EXPECT_NE(q.stderr_text().find("access_denied"), std::string::npos) << q.stderr_text();
  // Not an http(s) URL.
  child_process r({PLEXUS_BINARY, "login", "ws://127.0.0.1:1/ws"});
  r.close_stdin();
  EXPECT_EQ(exit_code(r), 2);
  ::unsetenv("PLEXUS_TOKEN_FILE");
}
