// plexus::client::oauth against a scripted authorization server (no network):
// discovery order, registration, PKCE, resource, iss, step-up, token storage.
#include "plexus/client/oauth.hpp"
#include "plexus/core/base64.hpp"
#include "plexus/json/json.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace oauth = plexus::client::oauth;

namespace {

struct fake_as {
  std::map<std::string, oauth::http_response> get;  // URL -> answer
  std::vector<oauth::http_request> seen;
  bool s256 = true;
  bool send_iss = true;
  std::string issuer = "https://as.example/tenant";

  fake_as() {
    get["https://rs.example/.well-known/oauth-protected-resource/mcp"] = {
        200,
        {},
        R"({"resource":"https://rs.example/mcp","authorization_servers":["https://as.example/tenant"],"scopes_supported":["read","write"]})"};
  }

  oauth::http_response operator()(const oauth::http_request& r) {
    seen.push_back(r);
    if (r.method == "GET" &&
        r.url == "https://as.example/.well-known/oauth-authorization-server/tenant") {
      plexus::json::object m{
          {"issuer", issuer},
          {"authorization_endpoint", "https://as.example/tenant/authorize"},
          {"token_endpoint", "https://as.example/tenant/token"},
          {"registration_endpoint", "https://as.example/tenant/register"},
          {"authorization_response_iss_parameter_supported", true},
          {"token_endpoint_auth_methods_supported", plexus::json::array{"client_secret_post"}}};
      if (s256) m["code_challenge_methods_supported"] = plexus::json::array{"S256"};
      return {200, {}, plexus::json::dump(m)};
    }
    if (r.method == "GET" && r.url.rfind("https://as.example/tenant/authorize?", 0) == 0) {
      std::string state = r.url.substr(r.url.find("state=") + 6);
      state = state.substr(0, state.find('&'));
      std::string loc = "http://127.0.0.1:33418/callback?code=c0de&state=" + state;
      if (send_iss) loc += "&iss=" + issuer;
      return {302, {{"location", loc}}, ""};
    }
    if (r.method == "POST" && r.url == "https://as.example/tenant/register")
      return {
          201,
          {},
          R"({"client_id":"cid","client_secret":"sec","token_endpoint_auth_method":"client_secret_post"})"};
    if (r.method == "POST" && r.url == "https://as.example/tenant/token")
      return {200, {}, R"({"access_token":"at-1","token_type":"Bearer","expires_in":3600})"};
    if (auto it = get.find(r.url); it != get.end() && r.method == "GET") return it->second;
    return {404, {}, ""};
  }
};

const oauth::http_request* find(const std::vector<oauth::http_request>& v, const std::string& url) {
  for (const auto& r : v)
    if (r.url.rfind(url, 0) == 0) return &r;
  return nullptr;
}

}  // namespace

TEST(OAuth, ParsesWwwAuthenticate) {
  std::string scheme;
  auto p = oauth::parse_www_authenticate(
      R"(Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/y")",
      &scheme);
  EXPECT_EQ(scheme, "Bearer");
  EXPECT_EQ(p["error"], "insufficient_scope");
  EXPECT_EQ(p["scope"], "a b");
  EXPECT_EQ(p["resource_metadata"], "https://x/y");
}

TEST(OAuth, PkceS256) {
  EXPECT_EQ(oauth::pkce_challenge_s256("dBjftJeZ4CVP-mJ92K9rLpgl6WMsKHAvi8EjdGr6ZJo"),
            "FcLL2FtmZMj1uffjf38F3bnc-X770q6k_T-AX1oQv9Y");
}

TEST(OAuth, SignsEs256AndRs256) {
  for (const char* alg : {"ES256", "RS256"}) {
    EVP_PKEY* key = std::string(alg) == "ES256"
                        ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    ASSERT_NE(key, nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    std::string jwt =
        oauth::sign_jwt(R"({"alg":")" + std::string(alg) + R"("})", R"({"sub":"x"})", pem, alg);
    auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
    ASSERT_NE(dot1, dot2);
    auto sig = plexus::base64::decode_url(jwt.substr(dot2 + 1));
    ASSERT_TRUE(sig);
    if (std::string(alg) == "ES256") {
      EXPECT_EQ(sig->size(), 64u);
    } else {
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
      std::string input = jwt.substr(0, dot2);
      EXPECT_EQ(
          EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
          1);
      EVP_MD_CTX_free(ctx);
    }
    EVP_PKEY_free(key);
  }
}

TEST(OAuth, AuthorizationCodeFlowWithDiscoveryRegistrationAndPkce) {
  fake_as as;
  oauth::options o;
  o.fetcher = [&](const oauth::http_request& r) { return as(r); };
  auto path = (std::filesystem::temp_directory_path() /
               ("plexus-oauth-test-" + std::to_string(::getpid()) + ".json"))
                  .string();
  o.token_store_path = path;
  oauth::oauth_client oc("https://rs.example/mcp", o);
  auto hook = oc.hook();
  EXPECT_TRUE(hook->headers("POST", "https://rs.example/mcp").empty());
  ASSERT_TRUE(hook->on_challenge(401, {{"www-authenticate", R"(Bearer realm="x")"}}))
      << oc.last_error();
  auto h = hook->headers("POST", "https://rs.example/mcp");
  EXPECT_EQ(h["Authorization"], "Bearer at-1");

  auto* authz = find(as.seen, "https://as.example/tenant/authorize?");
  ASSERT_NE(authz, nullptr);
  EXPECT_NE(authz->url.find("code_challenge_method=S256"), std::string::npos);
  EXPECT_NE(authz->url.find("resource=https%3A%2F%2Frs.example%2Fmcp"), std::string::npos);
  EXPECT_NE(authz->url.find("scope=read%20write"), std::string::npos);
  auto* reg = find(as.seen, "https://as.example/tenant/register");
  ASSERT_NE(reg, nullptr);
  EXPECT_NE(reg->body.find("\"application_type\":\"native\""), std::string::npos);
  auto* token = find(as.seen, "https://as.example/tenant/token");
  ASSERT_NE(token, nullptr);
  EXPECT_NE(token->body.find("code_verifier="), std::string::npos);
  EXPECT_NE(token->body.find("client_secret=sec"), std::string::npos);
  EXPECT_NE(token->body.find("resource=https%3A%2F%2Frs.example%2Fmcp"), std::string::npos);

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto stored = oauth::token_store(path).load("https://rs.example/mcp");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->access_token, "at-1");
  std::remove(path.c_str());

  // Step-up is bounded.
  std::map<std::string, std::string> forbidden{
      {"www-authenticate", R"(Bearer error="insufficient_scope", scope="admin")"}};
  EXPECT_TRUE(hook->on_challenge(403, forbidden));
  EXPECT_TRUE(hook->on_challenge(403, forbidden));
  EXPECT_FALSE(hook->on_challenge(403, forbidden));
}

TEST(OAuth, RefusesWithoutS256) {
  fake_as as;
  as.s256 = false;
  oauth::options o;
  o.fetcher = [&](const oauth::http_request& r) { return as(r); };
  oauth::oauth_client oc("https://rs.example/mcp", o);
  EXPECT_FALSE(oc.hook()->on_challenge(401, {}));
  EXPECT_NE(oc.last_error().find("S256"), std::string::npos);
  EXPECT_EQ(find(as.seen, "https://as.example/tenant/authorize"), nullptr);
}

TEST(OAuth, RejectsMissingIssWhenAdvertised) {
  fake_as as;
  as.send_iss = false;
  oauth::options o;
  o.fetcher = [&](const oauth::http_request& r) { return as(r); };
  oauth::oauth_client oc("https://rs.example/mcp", o);
  EXPECT_FALSE(oc.hook()->on_challenge(401, {}));
  EXPECT_EQ(find(as.seen, "https://as.example/tenant/token"), nullptr);
}

TEST(OAuth, RejectsForeignResourceMetadata) {
  fake_as as;
  as.get["https://rs.example/.well-known/oauth-protected-resource/mcp"].body =
      R"({"resource":"https://other.example/mcp","authorization_servers":["https://as.example/tenant"]})";
  oauth::options o;
  o.fetcher = [&](const oauth::http_request& r) { return as(r); };
  oauth::oauth_client oc("https://rs.example/mcp", o);
  EXPECT_FALSE(oc.hook()->on_challenge(401, {}));
}

TEST(OAuth, BrowserAuthorizerReceivesTheLoopbackRedirect) {
  // No browser here: xdg-open fails or is absent; the redirect is simulated.
  auto az = oauth::browser_authorizer(std::chrono::seconds(20));
  std::string got, error;
  std::thread t([&] {
    try {
      got = az("http://127.0.0.1:9/authorize?state=s1", "http://127.0.0.1:47613/callback");
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  oauth::http_response r;
  for (int i = 0; i < 100; ++i) {
    try {
      r = oauth::fetch(
          {.method = "GET", .url = "http://127.0.0.1:47613/callback?code=abc&state=s1"});
      break;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  t.join();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(error.empty()) << error;
  EXPECT_EQ(got, "http://127.0.0.1:47613/callback?code=abc&state=s1");
}
