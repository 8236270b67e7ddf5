// OAuth 2.1 for MCP clients: discovery, registration, PKCE, token requests,
// step-up, refresh, client credentials, private_key_jwt and DPoP.
#include "plexus/client/oauth.hpp"
#include "plexus/core/base64.hpp"
#include "plexus/core/random.hpp"
#include "plexus/json/json.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace plexus::client::oauth {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string random_token(std::size_t bytes = 32) {
  std::string raw(bytes, '\0');
  random::bytes(raw.data(), raw.size());
  return base64::encode_url(raw);
}

std::string sha256(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return std::string(reinterpret_cast<char*>(md), sizeof md);
}

std::string form_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += form_encode(k) + "=" + form_encode(v);
  }
  return out;
}

std::optional<json::object> parse_object(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.get_object();
}

std::string str(const json::object& o, std::string_view key) {
  auto s = json::find_string(o, key);
  return s ? std::string(*s) : std::string();
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (auto a = json::find_array(o, key))
    for (const auto& v : *a)
      if (v.is_string()) out.emplace_back(v.get_string());
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::string> split_scope(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;)
    if (!contains(out, w)) out.push_back(w);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

struct url_parts {
  std::string origin;  // scheme://host[:port]
  std::string path;    // "" or "/x/y" (no trailing slash)
};

url_parts split_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw std::invalid_argument("invalid URL: " + url);
  url_parts p;
  p.origin = lower(std::string(u->scheme())) + "://" + lower(std::string(u->encoded_host()));
  if (u->has_port()) p.origin += ":" + std::string(u->port());
  p.path = std::string(u->encoded_path());
  while (!p.path.empty() && p.path.back() == '/') p.path.pop_back();
  return p;
}

// The canonical form used to compare issuers and resources.
std::string canonical(const std::string& url) {
  try {
    auto p = split_url(url);
    return p.origin + p.path;
  } catch (const std::exception&) {
    return url;
  }
}

std::string resolve(const std::string& base, const std::string& ref) {
  auto b = boost::urls::parse_uri(base);
  auto r = boost::urls::parse_uri_reference(ref);
  if (!b || !r) return ref;
  boost::urls::url out;
  if (!boost::urls::resolve(*b, *r, out)) return ref;
  return std::string(out.buffer());
}

std::map<std::string, std::string> query_params(const std::string& url) {
  std::map<std::string, std::string> out;
  auto u = boost::urls::parse_uri_reference(url);
  if (!u) return out;
  for (auto p : u->params()) out[std::string(p.key)] = p.has_value ? std::string(p.value) : "";
  return out;
}

// ---- JOSE -------------------------------------------------------------------

struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

pkey_ptr load_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) throw std::runtime_error("BIO_new_mem_buf failed");
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!k) throw std::runtime_error("cannot read the private key (PEM)");
  return pkey_ptr(k);
}

std::string sign(EVP_PKEY* key, const std::string& alg, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1;
  std::size_t len = 0;
  ok =
      ok && EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("signing failed");
  if (alg == "ES256") {  // DER -> r||s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    if (!es) throw std::runtime_error("bad ECDSA signature");
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(es, &r, &s);
    std::string raw(64, '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

std::string jws(EVP_PKEY* key, const std::string& alg, const std::string& header,
                const std::string& payload) {
  std::string input = base64::encode_url(header) + "." + base64::encode_url(payload);
  return input + "." + base64::encode_url(sign(key, alg, input));
}

// An ES256 key for DPoP and its public JWK.
struct dpop_key {
  pkey_ptr key;
  json::object jwk;
  dpop_key() {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) throw std::runtime_error("cannot generate a P-256 key");
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    std::string xs(32, '\0'), ys(32, '\0');
    BN_bn2binpad(x, reinterpret_cast<unsigned char*>(xs.data()), 32);
    BN_bn2binpad(y, reinterpret_cast<unsigned char*>(ys.data()), 32);
    BN_free(x);
    BN_free(y);
    jwk = json::object{{"kty", "EC"},
                       {"crv", "P-256"},
                       {"x", base64::encode_url(xs)},
                       {"y", base64::encode_url(ys)}};
  }
};

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- public helpers -----------------------------------------------------------

std::string pkce_challenge_s256(const std::string& verifier) {
  return base64::encode_url(sha256(verifier));
}

std::string sign_jwt(const std::string& header_json, const std::string& payload_json,
                     const std::string& private_key_pem, const std::string& alg) {
  auto key = load_key(private_key_pem);
  return jws(key.get(), alg, header_json, payload_json);
}

std::map<std::string, std::string> parse_www_authenticate(const std::string& header,
                                                          std::string* scheme_out) {
  std::map<std::string, std::string> out;
  std::size_t i = 0, n = header.size();
  auto skip_ws = [&] {
    while (i < n && (header[i] == ' ' || header[i] == '\t')) ++i;
  };
  skip_ws();
  std::size_t s0 = i;
  while (i < n && header[i] != ' ' && header[i] != ',') ++i;
  if (scheme_out) *scheme_out = header.substr(s0, i - s0);
  while (i < n) {
    skip_ws();
    if (i < n && header[i] == ',') {
      ++i;
      continue;
    }
    std::size_t k0 = i;
    while (i < n && header[i] != '=' && header[i] != ' ' && header[i] != ',') ++i;
    std::string key = lower(header.substr(k0, i - k0));
    skip_ws();
    if (i >= n || header[i] != '=') {
      // A new challenge (scheme token) begins: stop at the first challenge.
      if (!out.empty()) break;
      continue;
    }
    ++i;
    skip_ws();
    std::string value;
    if (i < n && header[i] == '"') {
      ++i;
      while (i < n && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < n) ++i;
        value += header[i++];
      }
      ++i;
    } else {
      while (i < n && header[i] != ',' && header[i] != ' ') value += header[i++];
    }
    if (!key.empty()) out.emplace(key, value);
  }
  return out;
}

http_response fetch(const http_request& rq) {
  auto u = boost::urls::parse_uri(rq.url);
  if (!u) throw std::runtime_error("invalid URL: " + rq.url);
  bool tls = u->scheme() == "https";
  std::string host(u->host());
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string port = u->has_port() ? std::string(u->port()) : (tls ? "443" : "80");
  std::string target = u->encoded_target().empty() ? "/" : std::string(u->encoded_target());
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, port);
  http::request<http::string_body> req;
  req.method_string(rq.method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, std::string(u->encoded_host_and_port()));
  req.set(http::field::user_agent, "plexus/" PLEXUS_VERSION);
  for (const auto& [k, v] : rq.headers) req.set(k, v);
  if (!rq.body.empty() || rq.method == "POST") {
    req.body() = rq.body;
    req.prepare_payload();
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(4 * 1024 * 1024);
  if (tls) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.set_default_verify_paths();
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()))
      throw std::runtime_error("TLS: cannot set SNI");
    stream.set_verify_callback(ssl::host_name_verification(host));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(stream).connect(results);
    stream.handshake(ssl::stream_base::client);
    http::write(stream, req);
    http::read(stream, buffer, parser);
  } else {
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(results);
    http::write(stream, req);
    http::read(stream, buffer, parser);
  }
  http_response out;
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    auto [it, inserted] =
        out.headers.emplace(lower(std::string(f.name_string())), std::string(f.value()));
    if (!inserted) it->second += ", " + std::string(f.value());
  }
  out.body = std::move(parser.get().body());
  return out;
}

authorizer follow_redirects_authorizer(http_fetcher fetcher) {
  return [fetcher](const std::string& url, const std::string& redirect_uri) -> std::string {
    std::string current = url;
    for (int hop = 0; hop < 10; ++hop) {
      auto r = fetcher({.method = "GET", .url = current});
      auto loc = r.headers.find("location");
      if (r.status < 300 || r.status >= 400 || loc == r.headers.end())
        throw std::runtime_error("the authorization endpoint answered HTTP " +
                                 std::to_string(r.status) + " without a redirect");
      std::string next = resolve(current, loc->second);
      if (next.rfind(redirect_uri, 0) == 0 || canonical(next) == canonical(redirect_uri))
        return next;
      current = next;
    }
    throw std::runtime_error("too many redirects during authorization");
  };
}

authorizer headless_authorizer() {
  return [](const std::string& url, const std::string&) -> std::string {
    std::cerr << "Open this URL to authorize, then paste the URL you were redirected to:\n"
              << url << "\n> " << std::flush;
    std::string line;
    std::getline(std::cin, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.find("code=") == std::string::npos) {  // just the code: keep the request's state
      auto q = query_params(url);
      line = "http://localhost/?code=" + form_encode(line) + "&state=" + form_encode(q["state"]);
    }
    return line;
  };
}

authorizer browser_authorizer(std::chrono::seconds timeout) {
  return [timeout](const std::string& url, const std::string& redirect_uri) -> std::string {
    auto ru = boost::urls::parse_uri(redirect_uri);
    if (!ru || ru->host() != "127.0.0.1" || !ru->has_port())
      throw std::runtime_error("the browser flow needs a redirect URI http://127.0.0.1:PORT/…");
    net::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                              static_cast<unsigned short>(ru->port_number())));
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
#ifdef __APPLE__
      execlp("open", "open", url.c_str(), static_cast<char*>(nullptr));
#else
      execlp("xdg-open", "xdg-open", url.c_str(), static_cast<char*>(nullptr));
#endif
      _exit(127);
    }
    std::cerr << "Opening the browser; if it does not open, visit:\n" << url << "\n";
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::thread stopper([&] {
      std::unique_lock lk(m);
      if (!cv.wait_for(lk, timeout, [&] { return done; })) {
        boost::system::error_code ec;
        acceptor.close(ec);  // unblocks accept()
      }
    });
    std::string result;
    try {
      for (;;) {
        tcp::socket sock(ioc);
        acceptor.accept(sock);
        beast::flat_buffer b;
        http::request<http::string_body> req;
        http::read(sock, b, req);
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain");
        std::string target(req.target());
        bool ok =
            target.find("code=") != std::string::npos || target.find("error=") != std::string::npos;
        res.body() = ok ? "Authorization complete; you can close this window.\n" : "Waiting.\n";
        res.prepare_payload();
        http::write(sock, res);
        if (ok) {
          result = "http://127.0.0.1:" + std::string(ru->port()) + target;
          break;
        }
      }
    } catch (const std::exception&) {
    }
    {
      std::lock_guard lk(m);
      done = true;
    }
    cv.notify_all();
    stopper.join();
    if (pid > 0) ::waitpid(pid, nullptr, WNOHANG);
    if (result.empty()) throw std::runtime_error("no authorization redirect arrived in time");
    return result;
  };
}

// ---- token store ----------------------------------------------------------------

std::optional<token_set> token_store::load(const std::string& resource) const {
  std::ifstream in(path_);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto all = parse_object(ss.str());
  if (!all) return std::nullopt;
  auto o = json::find_object(*all, resource);
  if (!o) return std::nullopt;
  token_set t;
  t.access_token = str(*o, "access_token");
  t.token_type = str(*o, "token_type");
  t.refresh_token = str(*o, "refresh_token");
  t.scope = str(*o, "scope");
  if (auto e = json::find_int(*o, "expires_at"))
    t.expires_at = std::chrono::system_clock::time_point(std::chrono::seconds(*e));
  return t;
}

namespace {
void write_0600(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp);
  ::fchmod(fd, 0600);
  std::size_t off = 0;
  while (off < text.size()) {
    auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("cannot write " + tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot replace " + path);
}

json::object read_all(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_object(ss.str()).value_or(json::object{});
}
}  // namespace

void token_store::save(const std::string& resource, const token_set& t) const {
  auto all = read_all(path_);
  json::object o{{"access_token", t.access_token},
                 {"token_type", t.token_type},
                 {"refresh_token", t.refresh_token},
                 {"scope", t.scope}};
  if (t.expires_at)
    o["expires_at"] =
        std::chrono::duration_cast<std::chrono::seconds>(t.expires_at->time_since_epoch()).count();
  all[resource] = std::move(o);
  write_0600(path_, json::dump(all));
}

void token_store::erase(const std::string& resource) const {
  auto all = read_all(path_);
  all.erase(resource);
  write_0600(path_, json::dump(all));
}

namespace {
// Registrations live beside the tokens under a key no resource URL can take.
constexpr std::string_view registrations_key = "@registrations";
}  // namespace

std::optional<client_registration> token_store::load_registration(const std::string& issuer) const {
  auto all = read_all(path_);
  auto regs = json::find_object(all, registrations_key);
  if (!regs) return std::nullopt;
  auto o = json::find_object(*regs, issuer);
  if (!o) return std::nullopt;
  client_registration r{str(*o, "client_id"), str(*o, "client_secret"),
                        str(*o, "token_endpoint_auth_method"), str(*o, "redirect_uri")};
  if (r.client_id.empty()) return std::nullopt;
  return r;
}

void token_store::save_registration(const std::string& issuer, const client_registration& r) const {
  auto all = read_all(path_);
  json::value& regs = all[registrations_key];
  if (!regs.is_object()) regs = json::object{};
  regs.get_object()[issuer] =
      json::object{{"client_id", r.client_id},
                   {"client_secret", r.client_secret},
                   {"token_endpoint_auth_method", r.token_endpoint_auth_method},
                   {"redirect_uri", r.redirect_uri}};
  write_0600(path_, json::dump(all));
}

void token_store::erase_registration(const std::string& issuer) const {
  auto all = read_all(path_);
  if (auto it = all.find(registrations_key); it != all.end() && it->value().is_object())
    it->value().get_object().erase(issuer);
  write_0600(path_, json::dump(all));
}

// ---- the client -----------------------------------------------------------------

struct oauth_client::impl {
  std::string resource_url;
  options opts;
  mutable std::mutex mu;
  std::optional<token_set> tokens;
  std::string error;
  // Discovery.
  json::object prm;
  json::object as_meta;
  std::string issuer;
  std::string resource;  // the `resource` parameter
  // Registration per issuer.
  struct registration {
    std::string client_id, client_secret, auth_method;
  };
  std::map<std::string, registration> registrations;
  int step_ups = 0;
  std::string granted_scope;
  // DPoP.
  std::unique_ptr<dpop_key> dpop;
  std::string as_nonce, rs_nonce;

  void log(const std::string& m) {
    if (opts.log) opts.log(m);
  }

  http_response do_fetch(const http_request& r) {
    return opts.fetcher ? opts.fetcher(r) : fetch(r);
  }

  std::optional<json::object> get_json(const std::string& url) {
    try {
      auto r = do_fetch({.method = "GET", .url = url, .headers = {{"Accept", "application/json"}}});
      if (r.status != 200) return std::nullopt;
      return parse_object(r.body);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  bool use_dpop() const {
    return opts.dpop || json::find_array(as_meta, "dpop_signing_alg_values_supported");
  }

  std::string dpop_proof(const std::string& htm, const std::string& htu,
                         const std::string& access_token, const std::string& nonce) {
    if (!dpop) dpop = std::make_unique<dpop_key>();
    json::object header{{"typ", "dpop+jwt"}, {"alg", "ES256"}, {"jwk", dpop->jwk}};
    std::string u = htu;
    if (auto q = u.find_first_of("?#"); q != std::string::npos) u.resize(q);
    json::object payload{
        {"jti", random_token(16)}, {"htm", htm}, {"htu", u}, {"iat", now_seconds()}};
    if (!access_token.empty()) payload["ath"] = base64::encode_url(sha256(access_token));
    if (!nonce.empty()) payload["nonce"] = nonce;
    return jws(dpop->key.get(), "ES256", json::dump(header), json::dump(payload));
  }

  // ---- discovery ----

  std::optional<std::string> discover(const std::string& resource_metadata_url) {
    auto parts = split_url(resource_url);
    std::vector<std::string> candidates;
    if (!resource_metadata_url.empty())
      candidates.push_back(resolve(resource_url, resource_metadata_url));
    if (!parts.path.empty())
      candidates.push_back(parts.origin + "/.well-known/oauth-protected-resource" + parts.path);
    candidates.push_back(parts.origin + "/.well-known/oauth-protected-resource");
    prm = {};
    for (const auto& c : candidates)
      if (auto m = get_json(c)) {
        prm = *m;
        break;
      }
    std::string as_url;
    if (!prm.empty()) {
      std::string res = str(prm, "resource");
      if (!res.empty()) {
        auto a = split_url(res), b = split_url(resource_url);
        bool ok = a.origin == b.origin &&
                  (a.path.empty() || b.path == a.path || b.path.rfind(a.path + "/", 0) == 0);
        if (!ok) return "the protected resource metadata is for " + res + ", not " + resource_url;
        resource = res;
      } else {
        resource = canonical(resource_url);
      }
      auto servers = strings(prm, "authorization_servers");
      if (!servers.empty()) as_url = servers.front();
    } else {
      resource = canonical(resource_url);
    }
    if (as_url.empty()) as_url = parts.origin;  // 2025-03-26: the server's origin
    std::string new_issuer = as_url;
    auto ap = split_url(as_url);
    std::vector<std::string> meta_urls;
    if (!ap.path.empty()) {
      meta_urls.push_back(ap.origin + "/.well-known/oauth-authorization-server" + ap.path);
      meta_urls.push_back(ap.origin + "/.well-known/openid-configuration" + ap.path);
      meta_urls.push_back(ap.origin + ap.path + "/.well-known/openid-configuration");
    } else {
      meta_urls.push_back(ap.origin + "/.well-known/oauth-authorization-server");
      meta_urls.push_back(ap.origin + "/.well-known/openid-configuration");
    }
    as_meta = {};
    for (const auto& u : meta_urls)
      if (auto m = get_json(u)) {
        as_meta = *m;
        break;
      }
    if (!as_meta.empty()) {
      std::string iss = str(as_meta, "issuer");
      // Without PRM (2025-03-26 servers) the origin is no issuer to compare with.
      if (!prm.empty() && canonical(iss) != canonical(new_issuer))
        return "the authorization server metadata names issuer " + iss + ", expected " + new_issuer;
      issuer = iss.empty() ? new_issuer : iss;
      auto methods = strings(as_meta, "code_challenge_methods_supported");
      if (opts.flow == grant::authorization_code && !contains(methods, "S256"))
        return "the authorization server does not support PKCE S256";
    } else {
      issuer = new_issuer;
      as_meta = json::object{{"authorization_endpoint", ap.origin + "/authorize"},
                             {"token_endpoint", ap.origin + "/token"},
                             {"registration_endpoint", ap.origin + "/register"}};
    }
    return std::nullopt;
  }

  // ---- registration ----

  std::optional<std::string> ensure_registered(const std::string& scope) {
    if (registrations.count(issuer)) return std::nullopt;
    registration reg;
    if (!opts.client_id.empty()) {
      reg.client_id = opts.client_id;
      reg.client_secret = opts.client_secret;
      reg.auth_method = opts.token_endpoint_auth_method;
    } else if (!opts.client_metadata_url.empty() &&
               json::find_bool(as_meta, "client_id_metadata_document_supported").value_or(false)) {
      reg.client_id = opts.client_metadata_url;
      reg.auth_method = "none";
    } else if (auto stored = stored_registration()) {
      reg = *stored;
      log("reusing the client registered at " + issuer);
    } else if (auto ep = json::find_string(as_meta, "registration_endpoint")) {
      auto methods = strings(as_meta, "token_endpoint_auth_methods_supported");
      std::string method = opts.token_endpoint_auth_method;
      if (method.empty()) {
        if (methods.empty() || contains(methods, "client_secret_basic"))
          method = "client_secret_basic";
        else if (contains(methods, "client_secret_post"))
          method = "client_secret_post";
        else if (contains(methods, "none"))
          method = "none";
        else
          method = methods.front();
      }
      json::array grants{"authorization_code", "refresh_token"};
      json::object body{{"client_name", opts.client_name},
                        {"redirect_uris", json::array{json::value(opts.redirect_uri)}},
                        {"grant_types", grants},
                        {"response_types", json::array{"code"}},
                        {"token_endpoint_auth_method", method},
                        {"application_type", "native"}};
      if (!scope.empty()) body["scope"] = scope;
      http_response r;
      try {
        r = do_fetch(
            {.method = "POST",
             .url = std::string(*ep),
             .headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
             .body = json::dump(body)});
      } catch (const std::exception& e) {
        return std::string("dynamic client registration failed: ") + e.what();
      }
      auto o = parse_object(r.body);
      if ((r.status != 200 && r.status != 201) || !o)
        return "dynamic client registration answered HTTP " + std::to_string(r.status);
      reg.client_id = str(*o, "client_id");
      reg.client_secret = str(*o, "client_secret");
      reg.auth_method = str(*o, "token_endpoint_auth_method");
      if (reg.auth_method.empty()) reg.auth_method = reg.client_secret.empty() ? "none" : method;
      if (reg.client_id.empty())
        return std::string("dynamic client registration returned no client_id");
      store_registration(reg);
    } else {
      return std::string(
          "no client registration available (no pre-registered client, no "
          "registration endpoint)");
    }
    registrations[issuer] = reg;
    return std::nullopt;
  }

  // A dynamic registration stored by an earlier run, for this issuer and redirect URI.
  std::optional<registration> stored_registration() {
    if (opts.token_store_path.empty() || !opts.persist_registration || issuer.empty())
      return std::nullopt;
    try {
      auto r = token_store(opts.token_store_path).load_registration(issuer);
      if (!r || r->redirect_uri != opts.redirect_uri) return std::nullopt;
      return registration{r->client_id, r->client_secret, r->token_endpoint_auth_method};
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  void store_registration(const registration& reg) {
    if (opts.token_store_path.empty() || !opts.persist_registration || issuer.empty()) return;
    try {
      token_store(opts.token_store_path)
          .save_registration(
              issuer, {reg.client_id, reg.client_secret, reg.auth_method, opts.redirect_uri});
    } catch (const std::exception& e) {
      log(std::string("cannot store the client registration: ") + e.what());
    }
  }

  std::string choose_auth_method(const registration& reg) {
    if (!reg.auth_method.empty()) return reg.auth_method;
    if (!opts.private_key_pem.empty()) return "private_key_jwt";
    if (reg.client_secret.empty()) return "none";
    auto methods = strings(as_meta, "token_endpoint_auth_methods_supported");
    if (methods.empty() || contains(methods, "client_secret_basic")) return "client_secret_basic";
    if (contains(methods, "client_secret_post")) return "client_secret_post";
    return "client_secret_basic";
  }

  // ---- token endpoint ----

  std::optional<std::string> token_request(std::vector<std::pair<std::string, std::string>> fields,
                                           const registration& reg) {
    std::string endpoint = str(as_meta, "token_endpoint");
    if (endpoint.empty()) return std::string("the authorization server has no token endpoint");
    std::map<std::string, std::string> headers{
        {"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    std::string method = choose_auth_method(reg);
    if (method == "client_secret_basic") {
      headers["Authorization"] = "Basic " + base64::encode(form_encode(reg.client_id) + ":" +
                                                           form_encode(reg.client_secret));
    } else if (method == "client_secret_post") {
      fields.emplace_back("client_id", reg.client_id);
      fields.emplace_back("client_secret", reg.client_secret);
    } else if (method == "private_key_jwt") {
      std::string alg = opts.signing_algorithm.empty() ? "RS256" : opts.signing_algorithm;
      json::object payload{{"iss", reg.client_id},
                           {"sub", reg.client_id},
                           {"aud", issuer.empty() ? endpoint : issuer},
                           {"iat", now_seconds()},
                           {"exp", now_seconds() + 300},
                           {"jti", random_token(16)}};
      try {
        std::string a = sign_jwt(json::dump(json::object{{"alg", alg}, {"typ", "JWT"}}),
                                 json::dump(payload), opts.private_key_pem, alg);
        fields.emplace_back("client_id", reg.client_id);
        fields.emplace_back("client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        fields.emplace_back("client_assertion", a);
      } catch (const std::exception& e) {
        return std::string("private_key_jwt: ") + e.what();
      }
    } else {
      fields.emplace_back("client_id", reg.client_id);
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (use_dpop()) headers["DPoP"] = dpop_proof("POST", endpoint, "", as_nonce);
      http_response r;
      try {
        r = do_fetch({.method = "POST", .url = endpoint, .headers = headers, .body = form(fields)});
      } catch (const std::exception& e) {
        return std::string("token request failed: ") + e.what();
      }
      if (auto n = r.headers.find("dpop-nonce"); n != r.headers.end()) {
        bool retry = r.status == 400 && n->second != as_nonce;
        as_nonce = n->second;
        if (retry) continue;
      }
      auto o = parse_object(r.body);
      if (r.status != 200 || !o)
        return "the token endpoint answered HTTP " + std::to_string(r.status) +
               (o ? ": " + str(*o, "error") + " " + str(*o, "error_description") : "");
      token_set t;
      t.access_token = str(*o, "access_token");
      if (t.access_token.empty()) return std::string("the token response has no access_token");
      t.token_type = str(*o, "token_type");
      if (t.token_type.empty()) t.token_type = "Bearer";
      t.refresh_token = str(*o, "refresh_token");
      if (t.refresh_token.empty() && tokens) t.refresh_token = tokens->refresh_token;
      t.scope = str(*o, "scope");
      if (auto e = json::find_int(*o, "expires_in"))
        t.expires_at = std::chrono::system_clock::now() + std::chrono::seconds(*e);
      tokens = t;
      if (!opts.token_store_path.empty()) {
        try {
          token_store(opts.token_store_path).save(canonical(resource_url), t);
        } catch (const std::exception& e) {
          log(std::string("cannot store tokens: ") + e.what());
        }
      }
      return std::nullopt;
    }
    return std::string("the token endpoint kept asking for a new DPoP nonce");
  }

  std::string select_scope(const std::string& challenge_scope) {
    std::vector<std::string> scopes;
    if (!challenge_scope.empty())
      scopes = split_scope(challenge_scope);
    else
      scopes = strings(prm, "scopes_supported");
    for (const auto& s : split_scope(opts.scope))
      if (!contains(scopes, s)) scopes.push_back(s);
    if (!scopes.empty() && contains(strings(as_meta, "scopes_supported"), "offline_access") &&
        !contains(scopes, "offline_access") && opts.flow == grant::authorization_code)
      scopes.push_back("offline_access");
    return join(scopes);
  }

  std::optional<std::string> authorization_code(const std::string& scope) {
    if (auto e = ensure_registered(scope)) return e;
    const auto& reg = registrations[issuer];
    std::string endpoint = str(as_meta, "authorization_endpoint");
    if (endpoint.empty())
      return std::string("the authorization server has no authorization endpoint");
    std::string verifier = random_token(48);
    std::string state = random_token(16);
    std::vector<std::pair<std::string, std::string>> q{
        {"response_type", "code"},
        {"client_id", reg.client_id},
        {"redirect_uri", opts.redirect_uri},
        {"code_challenge", pkce_challenge_s256(verifier)},
        {"code_challenge_method", "S256"},
        {"state", state},
        {"resource", resource}};
    if (!scope.empty()) q.emplace_back("scope", scope);
    std::string url = endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") + form(q);
    std::string redirected;
    try {
      auto az = opts.authorize ? opts.authorize
                               : follow_redirects_authorizer(opts.fetcher ? opts.fetcher : fetch);
      redirected = az(url, opts.redirect_uri);
    } catch (const std::exception& e) {
      return std::string("authorization failed: ") + e.what();
    }
    auto params = query_params(redirected);
    if (params.count("error"))
      return "authorization was refused: " + params["error"] + " " + params["error_description"];
    if (params["state"] != state) return std::string("the authorization response's state differs");
    bool iss_supported =
        json::find_bool(as_meta, "authorization_response_iss_parameter_supported").value_or(false);
    if (params.count("iss")) {
      if (params["iss"] != issuer)  // RFC 9207: exact comparison, no normalisation
        return "the authorization response comes from issuer " + params["iss"] + ", expected " +
               issuer;
    } else if (iss_supported) {
      return std::string("the authorization response lacks the iss parameter (RFC 9207)");
    }
    std::string code = params["code"];
    if (code.empty()) return std::string("the authorization response has no code");
    return token_request({{"grant_type", "authorization_code"},
                          {"code", code},
                          {"redirect_uri", opts.redirect_uri},
                          {"code_verifier", verifier},
                          {"resource", resource}},
                         reg);
  }

  struct jag_result {
    std::string token, error;
    explicit operator bool() const { return error.empty(); }
  };
  // SEP-990: exchanges the IdP ID token for an identity assertion JWT grant.
  jag_result id_jag(const std::string& scope) {
    if (opts.idp_token_endpoint.empty() || opts.idp_id_token.empty())
      return {"", "enterprise authorization needs the IdP token endpoint and an ID token"};
    std::vector<std::pair<std::string, std::string>> f{
        {"grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"},
        {"subject_token", opts.idp_id_token},
        {"subject_token_type", "urn:ietf:params:oauth:token-type:id_token"},
        {"requested_token_type", "urn:ietf:params:oauth:token-type:id-jag"},
        {"audience", issuer},
        {"resource", resource}};
    if (!scope.empty()) f.emplace_back("scope", scope);
    std::map<std::string, std::string> headers{
        {"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    if (!opts.idp_client_secret.empty())
      headers["Authorization"] = "Basic " + base64::encode(form_encode(opts.idp_client_id) + ":" +
                                                           form_encode(opts.idp_client_secret));
    else if (!opts.idp_client_id.empty())
      f.emplace_back("client_id", opts.idp_client_id);
    http_response r;
    try {
      r = do_fetch(
          {.method = "POST", .url = opts.idp_token_endpoint, .headers = headers, .body = form(f)});
    } catch (const std::exception& e) {
      return {"", std::string("token exchange failed: ") + e.what()};
    }
    auto o = parse_object(r.body);
    if (r.status != 200 || !o || str(*o, "access_token").empty())
      return {"", "the IdP token exchange answered HTTP " + std::to_string(r.status)};
    return {str(*o, "access_token"), ""};
  }

  std::optional<std::string> obtain(const std::string& scope) {
    if (opts.flow == grant::enterprise) {
      auto jag = id_jag(scope);
      if (!jag) return jag.error;
      registration reg{opts.client_id, opts.client_secret, opts.token_endpoint_auth_method};
      std::vector<std::pair<std::string, std::string>> f{
          {"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", jag.token}};
      if (!scope.empty()) f.emplace_back("scope", scope);
      return token_request(f, reg);
    }
    if (opts.flow == grant::client_credentials || opts.flow == grant::jwt_bearer) {
      registration reg{opts.client_id, opts.client_secret, opts.token_endpoint_auth_method};
      if (reg.auth_method.empty() && !opts.private_key_pem.empty())
        reg.auth_method = "private_key_jwt";
      std::vector<std::pair<std::string, std::string>> f;
      if (opts.flow == grant::client_credentials) {
        f.emplace_back("grant_type", "client_credentials");
      } else {
        f.emplace_back("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        f.emplace_back("assertion", opts.assertion);
      }
      f.emplace_back("resource", resource);
      if (!scope.empty()) f.emplace_back("scope", scope);
      return token_request(f, reg);
    }
    // A refresh token first, when we hold one.
    if (tokens && !tokens->refresh_token.empty() && registrations.count(issuer)) {
      std::vector<std::pair<std::string, std::string>> f{{"grant_type", "refresh_token"},
                                                         {"refresh_token", tokens->refresh_token},
                                                         {"resource", resource}};
      if (!scope.empty() && scope == granted_scope) {
        f.emplace_back("scope", scope);
        if (!token_request(f, registrations[issuer])) return std::nullopt;
      }
    }
    return authorization_code(scope);
  }

  // Handles a challenge; true to retry.
  bool on_challenge(int status, const std::map<std::string, std::string>& headers) {
    std::lock_guard lk(mu);
    std::string www;
    if (auto it = headers.find("www-authenticate"); it != headers.end()) www = it->second;
    std::string scheme;
    auto params = parse_www_authenticate(www, &scheme);
    if (auto n = headers.find("dpop-nonce"); n != headers.end()) {
      bool fresh = n->second != rs_nonce;
      rs_nonce = n->second;
      if (fresh && (params["error"] == "use_dpop_nonce" || status == 400)) return true;
    }
    if (status == 400) return false;
    if (status == 403 && params["error"] != "insufficient_scope") return false;
    if (status == 403) {
      if (++step_ups > opts.max_step_up) {
        error = "the server keeps asking for more scope (insufficient_scope)";
        return false;
      }
    }
    if (auto e = discover(params["resource_metadata"])) {
      error = *e;
      log(*e);
      return false;
    }
    std::string scope = select_scope(params["scope"]);
    if (status == 403 && tokens) {
      auto s = split_scope(tokens->scope.empty() ? granted_scope : tokens->scope);
      for (const auto& x : split_scope(scope))
        if (!contains(s, x)) s.push_back(x);
      scope = join(s);
    }
    auto e = obtain(scope);
    if (e) {
      error = *e;
      log(*e);
      return false;
    }
    granted_scope = scope;
    return true;
  }

  std::map<std::string, std::string> headers(const std::string& method, const std::string& url) {
    std::lock_guard lk(mu);
    std::map<std::string, std::string> h;
    if (!tokens) return h;
    if (tokens->expires_at && *tokens->expires_at <= std::chrono::system_clock::now() &&
        !tokens->refresh_token.empty() && registrations.count(issuer)) {
      (void)token_request({{"grant_type", "refresh_token"},
                           {"refresh_token", tokens->refresh_token},
                           {"resource", resource}},
                          registrations[issuer]);
    }
    if (lower(tokens->token_type) == "dpop") {
      h["Authorization"] = "DPoP " + tokens->access_token;
      h["DPoP"] = dpop_proof(method, url, tokens->access_token, rs_nonce);
    } else {
      h["Authorization"] = "Bearer " + tokens->access_token;
    }
    return h;
  }
};

oauth_client::oauth_client(std::string resource_url, options opts)
    : impl_(std::make_shared<impl>()) {
  impl_->resource_url = std::move(resource_url);
  impl_->opts = std::move(opts);
  if (!impl_->opts.token_store_path.empty())
    impl_->tokens = token_store(impl_->opts.token_store_path).load(canonical(impl_->resource_url));
}

oauth_client::~oauth_client() = default;

std::shared_ptr<http_auth_hook> oauth_client::hook() {
  auto h = std::make_shared<http_auth_hook>();
  std::weak_ptr<impl> w = impl_;
  h->headers = [w](const std::string& m, const std::string& u) {
    auto i = w.lock();
    return i ? i->headers(m, u) : std::map<std::string, std::string>{};
  };
  h->on_challenge = [w](int status, const std::map<std::string, std::string>& headers) {
    auto i = w.lock();
    return i && i->on_challenge(status, headers);
  };
  h->max_retries = impl_->opts.max_step_up + 3;
  return h;
}

std::optional<std::string> oauth_client::login() {
  std::lock_guard lk(impl_->mu);
  if (auto e = impl_->discover("")) return e;
  std::string scope = impl_->select_scope("");
  auto e = impl_->obtain(scope);
  if (!e) impl_->granted_scope = scope;
  return e;
}

std::optional<token_set> oauth_client::tokens() const {
  std::lock_guard lk(impl_->mu);
  return impl_->tokens;
}

std::string oauth_client::last_error() const {
  std::lock_guard lk(impl_->mu);
  return impl_->error;
}

}  // namespace plexus::client::oauth
