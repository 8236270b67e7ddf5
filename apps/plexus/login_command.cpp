// `plexus login URL` / `plexus logout URL` (see login_command.hpp).
#include "login_command.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <stdexcept>

namespace plexus::cli {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_usage = 2;
constexpr int exit_failure = 3;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The key the token store files a resource under: what plexus::client::oauth
// uses (scheme and host lower-cased, the port as given, no trailing slash).
std::string resource_key(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return url;
  std::string key = lower(std::string(u->scheme())) + "://" + lower(std::string(u->encoded_host()));
  if (u->has_port()) key += ":" + std::string(u->port());
  std::string path(u->encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  return key + path;
}

std::string percent_encode(std::string_view s) {
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

std::string query_value(const std::string& url, const std::string& key) {
  auto u = boost::urls::parse_uri_reference(url);
  if (!u) return {};
  for (auto p : u->params())
    if (p.key == key) return p.has_value ? std::string(p.value) : std::string();
  return {};
}

// A loopback listener on 127.0.0.1:port; -1 when the port is taken.
int listen_loopback(unsigned short port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 8) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// One request on the redirect listener: the redirected URL when it is the
// redirect (the path matches and it carries code= or error=).
std::optional<std::string> take_redirect(int listener, const std::string& redirect_path,
                                         const std::string& origin) {
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  // Whoever connects gets a few seconds to send a request line; nobody can stall the login.
  std::string head;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16 * 1024) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    head.append(buf, static_cast<std::size_t>(n));
  }
  std::optional<std::string> result;
  std::string target;
  if (head.starts_with("GET ")) {
    auto end = head.find(' ', 4);
    if (end != std::string::npos) target = head.substr(4, end - 4);
  }
  std::string path = target.substr(0, target.find('?'));
  bool ours = !target.empty() && path == redirect_path &&
              (!query_value(target, "code").empty() || !query_value(target, "error").empty());
  std::string body = ours ? "Authorization complete; you can close this window.\n" : "Not found.\n";
  write_all(fd, std::string(ours ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found") +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                    std::to_string(body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + body);
  ::close(fd);
  if (ours) result = origin + target;
  return result;
}

bool has_display() {
#ifdef __APPLE__
  return true;
#else
  return !env("DISPLAY").empty() || !env("WAYLAND_DISPLAY").empty();
#endif
}

std::string format_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

std::string token_file_path() {
  if (auto f = env("PLEXUS_TOKEN_FILE"); !f.empty()) return f;
  if (auto x = env("XDG_CONFIG_HOME"); !x.empty()) return x + "/plexus/tokens.json";
  if (auto h = env("HOME"); !h.empty()) return h + "/.config/plexus/tokens.json";
  return {};
}

client::oauth::options login_options(const std::string&, int redirect_port) {
  client::oauth::options o;
  o.flow = client::oauth::grant::authorization_code;
  o.client_name = "plexus";
  o.redirect_uri = "http://127.0.0.1:" + std::to_string(redirect_port) + "/callback";
  o.token_store_path = token_file_path();
  return o;
}

client::oauth::authorizer headless_loopback_authorizer(std::chrono::seconds timeout) {
  return [timeout](const std::string& url, const std::string& redirect_uri) -> std::string {
    auto ru = boost::urls::parse_uri(redirect_uri);
    int listener = -1;
    std::string redirect_path = "/", origin;
    if (ru && ru->host() == "127.0.0.1" && ru->has_port()) {
      listener = listen_loopback(static_cast<unsigned short>(ru->port_number()));
      redirect_path = ru->encoded_path().empty() ? "/" : std::string(ru->encoded_path());
      origin = "http://127.0.0.1:" + std::string(ru->port());
    }
    std::cerr << "Open this URL in a browser to authorize:\n\n  " << url << "\n\n";
    if (listener >= 0)
      std::cerr << "Waiting for the redirect to " << redirect_uri
                << " (or paste the URL you were redirected to, or the code, and press Enter):\n";
    else
      std::cerr << "Paste the URL you were redirected to (or the code) and press Enter:\n";
    std::cerr << std::flush;
    struct closer {
      int fd;
      ~closer() {
        if (fd >= 0) ::close(fd);
      }
    } guard{listener};
    bool stdin_open = true;
    std::string typed;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (!stdin_open && listener < 0)
        throw std::runtime_error("end of input before the authorization redirect");
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0)
        throw std::runtime_error("no authorization redirect within " +
                                 std::to_string(timeout.count()) + " s");
      pollfd fds[2];
      nfds_t n = 0;
      int li = -1, si = -1;
      if (listener >= 0) {
        li = static_cast<int>(n);
        fds[n++] = {listener, POLLIN, 0};
      }
      if (stdin_open) {
        si = static_cast<int>(n);
        fds[n++] = {STDIN_FILENO, POLLIN, 0};
      }
      int r = ::poll(fds, n, static_cast<int>(std::min<long long>(left, 1000)));
      if (r < 0 && errno != EINTR) throw std::runtime_error("poll failed");
      if (r <= 0) continue;
      if (li >= 0 && fds[li].revents)
        if (auto got = take_redirect(listener, redirect_path, origin)) return *got;
      if (si >= 0 && fds[si].revents) {
        char buf[4096];
        ssize_t k = ::read(STDIN_FILENO, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
          stdin_open = false;
          continue;
        }
        typed.append(buf, static_cast<std::size_t>(k));
        if (typed.size() > 64 * 1024) typed.clear();
        std::size_t nl;
        while ((nl = typed.find('\n')) != std::string::npos) {
          std::string line = typed.substr(0, nl);
          typed.erase(0, nl + 1);
          while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
          while (!line.empty() && line.front() == ' ') line.erase(0, 1);
          if (line.empty()) continue;
          if (line.find("code=") != std::string::npos || line.find("error=") != std::string::npos)
            return line;
          // Just the code: the state is the one this request carries.
          return redirect_uri + "?code=" + percent_encode(line) +
                 "&state=" + percent_encode(query_value(url, "state"));
        }
      }
    }
  };
}

struct login_commands::state {
  CLI::App *login = nullptr, *logout = nullptr;
  std::string url;
  bool headless = false;
  std::string scope, client_id, client_secret;
  int redirect_port = 33418;
  int timeout_seconds = 300;

  int run_login() {
    std::string file = token_file_path();
    if (file.empty()) {
      std::cerr << "plexus: no place for the token file: set PLEXUS_TOKEN_FILE or HOME\n";
      return exit_failure;
    }
    std::error_code ec;
    auto dir = std::filesystem::path(file).parent_path();
    if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        std::cerr << "plexus: cannot create " << dir.string() << ": " << ec.message() << '\n';
        return exit_failure;
      }
      ::chmod(dir.c_str(), 0700);
    }
    auto o = login_options(url, redirect_port);
    o.scope = scope;
    o.client_id = client_id;
    o.client_secret = client_secret;
    if (!client_id.empty() && client_secret.empty()) o.token_endpoint_auth_method = "none";
    auto timeout = std::chrono::seconds(timeout_seconds);
    bool interactive = !headless && has_display();
    if (!headless && !interactive)
      std::cerr << "plexus: no display (DISPLAY/WAYLAND_DISPLAY): using the headless flow\n";
    o.authorize = interactive ? client::oauth::browser_authorizer(timeout)
                              : headless_loopback_authorizer(timeout);
    o.log = [](const std::string& m) { std::cerr << "plexus: " << m << '\n'; };
    std::unique_ptr<client::oauth::oauth_client> oc;
    try {
      oc = std::make_unique<client::oauth::oauth_client>(url, std::move(o));
    } catch (const std::exception& e) {
      std::cerr << "plexus: login to " << url << " failed: " << e.what() << '\n';
      return exit_failure;
    }
    if (auto e = oc->login()) {
      std::cerr << "plexus: login to " << url << " failed: " << *e << '\n';
      return exit_failure;
    }
    auto t = oc->tokens();
    std::cout << "Logged in to " << url;
    if (t && !t->scope.empty()) std::cout << " (scope: " << t->scope << ")";
    if (t && t->expires_at) std::cout << "; the token expires " << format_time(*t->expires_at);
    std::cout << "\nTokens stored in " << file << '\n';
    return exit_ok;
  }

  int run_logout() {
    std::string file = token_file_path();
    std::error_code ec;
    if (file.empty() || !std::filesystem::exists(file, ec)) {
      std::cout << "Not logged in to " << url << '\n';
      return exit_ok;
    }
    try {
      client::oauth::token_store store(file);
      std::string key = resource_key(url);
      if (!store.load(key)) {
        std::cout << "Not logged in to " << url << '\n';
        return exit_ok;
      }
      store.erase(key);
    } catch (const std::exception& e) {
      std::cerr << "plexus: cannot update " << file << ": " << e.what() << '\n';
      return exit_failure;
    }
    std::cout << "Logged out of " << url << '\n';
    return exit_ok;
  }

  int run() {
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      std::cerr << "plexus: login and logout take the http:// or https:// URL of an MCP server; "
                   "got \""
                << url << "\"\n";
      return exit_usage;
    }
    return login->parsed() ? run_login() : run_logout();
  }
};

login_commands::login_commands(CLI::App& app) : s_(std::make_unique<state>()) {
  auto& s = *s_;
  s.login = app.add_subcommand(
      "login", "Authorize with an MCP server's OAuth 2.1 authorization server and keep the tokens");
  s.login->add_option("url", s.url, "The server's MCP endpoint (http:// or https://)")->required();
  s.login->add_flag("--headless", s.headless,
                    "Print the authorization URL instead of opening a browser; take the redirect "
                    "on the loopback port or the redirected URL pasted on stdin");
  s.login->add_option("--scope", s.scope, "Scope to ask for besides the server's");
  s.login->add_option("--client-id", s.client_id,
                      "A pre-registered client (default: reuse or make a dynamic registration)");
  s.login->add_option("--client-secret", s.client_secret, "The pre-registered client's secret");
  s.login
      ->add_option("--redirect-port", s.redirect_port,
                   "Loopback port of the redirect URI http://127.0.0.1:PORT/callback")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  s.login->add_option("--timeout", s.timeout_seconds, "Seconds to wait for the authorization")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  s.login->footer(
      "Tokens are kept in $PLEXUS_TOKEN_FILE, else $XDG_CONFIG_HOME/plexus/"
      "tokens.json, else ~/.config/plexus/tokens.json (mode 0600); `plexus tools "
      "URL` and the other client commands send them to URL.");
  s.logout = app.add_subcommand("logout", "Forget the tokens stored for an MCP server");
  s.logout->add_option("url", s.url, "The server's MCP endpoint")->required();
}

login_commands::~login_commands() = default;

bool login_commands::parsed() const {
  return s_->login->parsed() || s_->logout->parsed();
}

int login_commands::run() {
  return s_->run();
}

}  // namespace plexus::cli
