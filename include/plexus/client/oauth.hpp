// plexus::client::oauth — OAuth 2.1 for MCP clients (MCP authorization spec).
//
// An oauth_client plugs into the HTTP transport as its auth hook
// (http_transport_options::auth = oc.hook()). On a 401 it discovers the
// protected resource metadata (the WWW-Authenticate `resource_metadata`, then
// the path-inserted and root well-known URLs), the authorization server
// metadata (RFC 8414 and OpenID Connect, with and without path insertion),
// checks the issuer and the PRM `resource`, registers (pre-registered
// credentials; a Client ID Metadata Document URL when the server supports
// them; else dynamic registration), and gets a token: authorization code with
// PKCE S256 and RFC 8707 `resource` (RFC 9207 `iss` checked), client
// credentials (client_secret_basic/post or private_key_jwt RS256/ES256), or a
// JWT bearer assertion. A 403 insufficient_scope re-authorizes with the larger
// scope (bounded). Refresh tokens are used when the access token expires.
// DPoP (RFC 9449, ES256) binds tokens when asked for or advertised.
//
// Thread-safety: the hook may be called from any transport thread; the
// client serialises authentication.
#pragma once

#include "plexus/client/transport.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::client::oauth {

// A plain HTTP exchange (no redirects followed), used for metadata, registration,
// authorization and token requests.
struct http_response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
};
struct http_request {
  std::string method = "GET";
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
};
using http_fetcher = std::function<http_response(const http_request&)>;
// The default fetcher (http and https; throws std::runtime_error on I/O failure).
http_response fetch(const http_request& request);

// Runs the user-agent leg of the authorization-code flow: given the
// authorization URL and the redirect URI, returns the URL the authorization
// server redirected to (carrying code, state and perhaps iss).
using authorizer = std::function<std::string(const std::string& authorization_url,
                                             const std::string& redirect_uri)>;
// Follows the authorization URL with plain GETs and reads the Location header
// (an auto-approving authorization server, e.g. in conformance tests).
authorizer follow_redirects_authorizer(http_fetcher fetcher = fetch);
// Prints the URL and reads the redirected URL (or just the code) from stdin.
authorizer headless_authorizer();
// Opens the system browser (xdg-open/open) and waits for the redirect on a
// loopback listener; the redirect URI must be http://127.0.0.1:PORT/… .
authorizer browser_authorizer(std::chrono::seconds timeout = std::chrono::minutes(5));

// enterprise: SEP-990 enterprise-managed authorization (an RFC 8693 token
// exchange of the IdP's ID token for an ID-JAG at the IdP, then a JWT bearer
// grant with it at the authorization server).
enum class grant { authorization_code, client_credentials, jwt_bearer, enterprise };

struct token_set {
  std::string access_token;
  std::string token_type = "Bearer";
  std::string refresh_token;
  std::string scope;
  std::optional<std::chrono::system_clock::time_point> expires_at;
};

struct options {
  grant flow = grant::authorization_code;
  std::string client_name = "plexus";
  std::string redirect_uri = "http://127.0.0.1:33418/callback";
  // Pre-registered credentials (used before any registration).
  std::string client_id, client_secret;
  // A Client ID Metadata Document URL (used when the AS advertises support).
  std::string client_metadata_url;
  // private_key_jwt: PEM private key and algorithm (RS256 or ES256).
  std::string private_key_pem, signing_algorithm;
  // Forces a token endpoint auth method (client_secret_basic, client_secret_post,
  // private_key_jwt, none); empty: chosen from the metadata.
  std::string token_endpoint_auth_method;
  // jwt_bearer grant: the assertion to present (e.g. a workload identity token).
  std::string assertion;
  // enterprise grant: the IdP's token endpoint, the client there and the ID token.
  std::string idp_token_endpoint, idp_client_id, idp_client_secret, idp_id_token;
  std::string scope;  // extra scope to request
  bool dpop = false;  // bind tokens with DPoP even when not advertised
  int max_step_up = 2;
  authorizer authorize;          // default: follow_redirects_authorizer()
  std::string token_store_path;  // empty: tokens stay in memory
  // With a token store: reuse a stored dynamic registration for the issuer, and
  // store new ones.
  bool persist_registration = true;
  http_fetcher fetcher;                         // default: fetch
  std::function<void(const std::string&)> log;  // progress messages
};

// What dynamic client registration (RFC 7591) gave us at one authorization server.
struct client_registration {
  std::string client_id, client_secret, token_endpoint_auth_method;
  std::string redirect_uri;  // registered with it: reused only with the same redirect URI
};

// Stores tokens per resource in a JSON file created with mode 0600, and the
// dynamic client registrations per authorization server (issuer), so that a
// second login reuses the client instead of registering again.
class token_store {
 public:
  explicit token_store(std::string path) : path_(std::move(path)) {}
  std::optional<token_set> load(const std::string& resource) const;
  void save(const std::string& resource, const token_set& tokens) const;
  void erase(const std::string& resource) const;
  std::optional<client_registration> load_registration(const std::string& issuer) const;
  void save_registration(const std::string& issuer, const client_registration& r) const;
  void erase_registration(const std::string& issuer) const;

 private:
  std::string path_;
};

class oauth_client {
 public:
  // `resource_url` is the MCP endpoint the tokens are for.
  oauth_client(std::string resource_url, options opts);
  ~oauth_client();
  oauth_client(const oauth_client&) = delete;
  oauth_client& operator=(const oauth_client&) = delete;

  // The hook for http_transport_options::auth.
  std::shared_ptr<http_auth_hook> hook();
  // Authenticates now (client credentials / jwt bearer / interactive login)
  // without waiting for a 401. The error is a sentence.
  std::optional<std::string> login();
  std::optional<token_set> tokens() const;
  // The last failure (e.g. why authorization was refused), empty if none.
  std::string last_error() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// Helpers, exposed for tests.
std::string pkce_challenge_s256(const std::string& verifier);
// A compact JWS (RS256 or ES256) over `payload` with the PEM private key; throws on error.
std::string sign_jwt(const std::string& header_json, const std::string& payload_json,
                     const std::string& private_key_pem, const std::string& alg);
// Parses `Bearer realm="x", error="insufficient_scope", scope="a b"` (the first
// challenge of the given scheme, or of any scheme when empty).
std::map<std::string, std::string> parse_www_authenticate(const std::string& header,
                                                          std::string* scheme = nullptr);

}  // namespace plexus::client::oauth
