// plexus.yaml and mcpServers JSON → gateway_config. One parser for both: yaml-cpp
// reads JSON as YAML flow style, and every node carries its line, so errors in
// either format point at the line that is wrong.
#include "plexus/gateway/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

namespace plexus::gateway {

namespace {

std::string describe(const std::string& file, int line, const std::string& message) {
  std::string out = file.empty() ? std::string("config") : file;
  if (line > 0) out += ":" + std::to_string(line);
  return out + ": " + message;
}

}  // namespace

config_error::config_error(std::string file, int line, std::string message)
    : std::runtime_error(describe(file, line, message)),
      file_(std::move(file)),
      line_(line),
      message_(std::move(message)) {}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtrack point: the last `*` seen. Linear in
  // practice and never recursive, so hostile patterns cannot blow the stack.
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

using std::chrono::milliseconds;

constexpr std::size_t max_name_length = 32;

// A value in the document and how to name it in an error.
struct field {
  YAML::Node node;
  std::string path;  // "upstreams.weather.timeout"
  int line = 0;      // 1-based; the line of its key
};

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= max_name_length &&
         std::all_of(s.begin(), s.end(), valid_name_char);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "; did you mean "command"?" when one candidate is close enough to be a typo.
std::string suggestion(std::string_view got, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(got, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, got.size() / 3);
  if (best.empty() || best_distance > limit) return {};
  return "; did you mean \"" + best + "\"?";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool valid_env_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Which built-in servers read each `options:` key (see servers/builtin.hpp); a key
// set on a server that ignores it is almost always a mistake worth reporting.
struct option_use {
  const char* key;
  std::vector<std::string> servers;  // empty: all
};

const std::vector<option_use>& option_table() {
  static const std::vector<option_use> table = {
      {"data_dir", {}},
      {"roots", {"filesystem"}},
      {"read_only", {"filesystem"}},
      {"max_file_bytes", {"filesystem"}},
      {"database", {"database"}},
      {"postgres", {"database", "wallet"}},
      {"allow_writes", {"database"}},
      {"max_rows", {"database"}},
      {"weather_url", {"weather"}},
      {"geocoding_url", {"weather"}},
      {"cache_seconds", {"weather"}},
      {"redis_url", {"weather"}},
      {"wallet_database", {"wallet"}},
      {"knowledge_database", {"knowledge"}},
      {"embeddings_url", {"knowledge"}},
      {"embeddings_model", {"knowledge"}},
      {"embeddings_api_key", {"knowledge"}},
      {"ingest", {"knowledge"}},
  };
  return table;
}

class parser {
 public:
  explicit parser(std::string source) : source_(std::move(source)) {}

  gateway_config parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
      fail(e.mark.line + 1, "YAML syntax error: " + e.msg);
    } catch (const YAML::Exception& e) {
      fail(e.mark.is_null() ? 0 : e.mark.line + 1, "YAML error: " + e.msg);
    }
    if (!root.IsDefined() || root.IsNull())
      fail(0,
           "the configuration is empty: expected `upstreams:` (plexus.yaml) or `mcpServers:` "
           "(Claude Desktop, Cursor, VS Code JSON)");
    if (!root.IsMap())
      fail(line_of(root, 1),
           "expected a mapping at the top level (`gateway:`, `upstreams:`, "
           "`virtual_servers:` or `mcpServers:`)");
    field top{root, "", 1};
    gateway_config cfg;
    cfg.source = source_;
    try {
      if (looks_like_mcp_servers(root))
        parse_mcp_servers(top, cfg);
      else
        parse_plexus(top, cfg);
    } catch (const YAML::Exception& e) {
      // A conversion we did not foresee: still an error with a line, never a crash.
      fail(e.mark.is_null() ? 0 : e.mark.line + 1, e.msg);
    }
    return cfg;
  }

 private:
  [[noreturn]] void fail(int line, std::string message) const {
    throw config_error(source_, line, std::move(message));
  }
  [[noreturn]] void fail(const field& f, const std::string& message) const {
    fail(f.line, f.path.empty() ? message : f.path + ": " + message);
  }

  static int line_of(const YAML::Node& n, int fallback) {
    if (!n.IsDefined()) return fallback;
    auto m = n.Mark();
    return m.is_null() || m.line < 0 ? fallback : m.line + 1;
  }

  static std::string child_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
  }

  // ----- format detection ---------------------------------------------------

  static bool looks_like_mcp_servers(const YAML::Node& root) {
    if (root["mcpServers"]) return true;
    // VS Code's .vscode/mcp.json: {"servers": {"name": {"type": "stdio", "command": …}}}.
    if (root["upstreams"] || root["gateway"] || root["virtual_servers"]) return false;
    auto servers = root["servers"];
    if (!servers || !servers.IsMap()) return false;
    for (auto it = servers.begin(); it != servers.end(); ++it) {
      YAML::Node v = it->second;  // a copy: the iterator yields temporaries
      if (!v.IsMap()) return false;
      if (!v["type"] && !v["command"] && !v["url"]) return false;
    }
    return true;
  }

  // ----- typed access -------------------------------------------------------

  // The entries of a mapping, in order; rejects duplicates, and unknown keys when
  // `allowed` is given.
  std::vector<std::pair<std::string, field>> entries(const field& f,
                                                     const std::vector<std::string>* allowed) {
    std::vector<std::pair<std::string, field>> out;
    if (f.node.IsNull()) return out;
    if (!f.node.IsMap()) fail(f, "expected a mapping (key: value)");
    std::map<std::string, int> seen;
    for (auto it = f.node.begin(); it != f.node.end(); ++it) {
      int line = line_of(it->first, f.line);
      if (!it->first.IsScalar()) fail(line, child_path(f.path, "?") + ": keys must be strings");
      std::string key = it->first.Scalar();
      auto [pos, inserted] = seen.emplace(key, line);
      if (!inserted)
        fail(line, child_path(f.path, key) + ": duplicate key (first at line " +
                       std::to_string(pos->second) + ")");
      if (allowed && std::find(allowed->begin(), allowed->end(), key) == allowed->end()) {
        std::string where = f.path.empty() ? "top level" : f.path;
        fail(line, where + ": unknown key " + quoted(key) + suggestion(key, *allowed) +
                       " (allowed: " + join(*allowed) + ")");
      }
      out.emplace_back(key, field{it->second, child_path(f.path, key), line});
    }
    return out;
  }

  // ${VAR}, ${VAR:-default}, ${env:VAR} (VS Code and Cursor spelling); $${ is a literal ${.
  std::string expand(const std::string& text, const field& f) const {
    if (text.find('$') == std::string::npos) return text;
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "$${") == 0) {
        out += "${";
        i += 3;
        continue;
      }
      if (text.compare(i, 2, "${") != 0) {
        out += text[i++];
        continue;
      }
      auto close = text.find('}', i + 2);
      if (close == std::string::npos)
        fail(f, "unterminated ${ in " + quoted(text) + " (write $${ for a literal ${)");
      std::string inner = text.substr(i + 2, close - i - 2);
      if (inner.rfind("env:", 0) == 0) inner.erase(0, 4);
      if (inner.rfind("input:", 0) == 0)
        fail(f, "${" + inner +
                    "}: VS Code input variables are not supported; put the value in an "
                    "environment variable and write ${env:NAME}");
      std::string name = inner, fallback;
      bool has_default = false;
      if (auto sep = inner.find(":-"); sep != std::string::npos) {
        name = inner.substr(0, sep);
        fallback = inner.substr(sep + 2);
        has_default = true;
      }
      if (!valid_env_name(name))
        fail(f, "${" + inner +
                    "}: expected ${NAME} or ${NAME:-default} with NAME made of letters, "
                    "digits and _");
      const char* value = std::getenv(name.c_str());
      if (value && (*value || !has_default))
        out += value;
      else if (has_default)
        out += fallback;
      else
        fail(f, "environment variable " + name + " is not set (write ${" + name +
                    ":-default} for a default)");
      i = close + 1;
    }
    return out;
  }

  std::string scalar(const field& f, const char* expected) {
    if (!f.node.IsScalar()) fail(f, std::string("expected ") + expected);
    return expand(f.node.Scalar(), f);
  }

  std::string get_string(const field& f) { return scalar(f, "a string"); }

  bool get_bool(const field& f) {
    std::string s = scalar(f, "true or false");
    std::string l = s;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    if (l == "true" || l == "yes" || l == "on") return true;
    if (l == "false" || l == "no" || l == "off") return false;
    fail(f, "expected true or false, got " + quoted(s));
  }

  long long get_int(const field& f, long long min, long long max) {
    std::string s = scalar(f, "an integer");
    long long v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty())
      fail(f, "expected an integer, got " + quoted(s));
    if (v < min || v > max)
      fail(f,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return v;
  }

  static bool parse_number(const std::string& s, double& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtod(s.c_str(), &end);
    return errno == 0 && end == s.c_str() + s.size() && std::isfinite(out) &&
           (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.');
  }

  double get_number(const field& f, double min) {
    std::string s = scalar(f, "a number");
    double v = 0;
    if (!parse_number(s, v)) fail(f, "expected a number, got " + quoted(s));
    if (v < min) fail(f, "must be at least " + std::to_string(static_cast<long long>(min)));
    return v;
  }

  // "250ms", "30s", "5m", "1h" or a bare number of seconds; more than zero.
  milliseconds get_duration(const field& f) {
    const std::string hint = "expected a duration like 250ms, 30s, 5m, 1h or a number of seconds";
    std::string s = scalar(f, "a duration like 30s");
    std::size_t unit_at = s.find_first_not_of("0123456789.");
    std::string number = s.substr(0, unit_at);
    std::string unit = unit_at == std::string::npos ? "" : s.substr(unit_at);
    double scale = 0;
    if (unit.empty() || unit == "s")
      scale = 1000;
    else if (unit == "ms")
      scale = 1;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    double v = 0;
    if (scale == 0 || !parse_number(number, v)) fail(f, hint + ", got " + quoted(s));
    double ms = std::round(v * scale);
    if (ms <= 0) fail(f, "must be more than zero, got " + quoted(s));
    if (ms > 365.0 * 24 * 3'600'000) fail(f, "must be at most a year, got " + quoted(s));
    return milliseconds(static_cast<std::int64_t>(ms));
  }

  std::vector<std::pair<std::string, field>> items(const field& f) {
    std::vector<std::pair<std::string, field>> out;
    if (f.node.IsNull()) return out;
    if (!f.node.IsSequence()) fail(f, "expected a list (e.g. [a, b])");
    std::size_t i = 0;
    for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
      field item{*it, f.path + "[" + std::to_string(i) + "]", line_of(*it, f.line)};
      out.emplace_back(std::string(), item);
    }
    return out;
  }

  std::vector<std::string> get_string_list(const field& f) {
    std::vector<std::string> out;
    for (auto& [_, item] : items(f)) out.push_back(scalar(item, "a string"));
    return out;
  }

  std::map<std::string, std::string> get_string_map(const field& f) {
    std::map<std::string, std::string> out;
    for (auto& [key, value] : entries(f, nullptr)) out[key] = scalar(value, "a string");
    return out;
  }

  std::string get_name(const field& f, const std::string& what) {
    std::string s = get_string(f);
    check_name(f, s, what);
    return s;
  }

  void check_name(const field& f, const std::string& s, const std::string& what) {
    if (!valid_name(s))
      fail(f, what + " " + quoted(s) + " must be 1 to " + std::to_string(max_name_length) +
                  " characters of A-Z a-z 0-9 _ -");
  }

  std::vector<std::string> get_globs(const field& f) {
    std::vector<std::string> out;
    for (auto& [_, item] : items(f)) {
      std::string g = scalar(item, "a glob (a string with * and ?)");
      if (g.empty()) fail(item, "a glob cannot be empty");
      for (char c : g) {
        if (c == '[' || c == ']' || c == '{' || c == '}' || c == '\\')
          fail(item, "invalid glob " + quoted(g) +
                         ": only * and ? are wildcards ([, ], {, } and \\ "
                         "are not allowed)");
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
          fail(item,
               "invalid glob " + quoted(g) + ": spaces and control characters are not allowed");
      }
      out.push_back(std::move(g));
    }
    return out;
  }

  // A remote server's URL; sets the kind from its scheme.
  void set_url(const field& f, upstream_config& u) {
    u.url = get_string(f);
    auto colon = u.url.find("://");
    std::string scheme = colon == std::string::npos ? "" : u.url.substr(0, colon);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (scheme == "http" || scheme == "https")
      u.kind = upstream_kind::http;
    else if (scheme == "ws" || scheme == "wss")
      u.kind = upstream_kind::websocket;
    else
      fail(f, "URL " + quoted(u.url) + " must start with http://, https://, ws:// or wss://");
    std::string rest = u.url.substr(colon + 3);
    if (rest.empty() || rest[0] == '/' || rest[0] == ':' || rest[0] == '?' || rest[0] == '#')
      fail(f, "URL " + quoted(u.url) + " has no host");
    for (char c : u.url)
      if (static_cast<unsigned char>(c) <= ' ')
        fail(f, "URL " + quoted(u.url) + " contains spaces or control characters");
  }

  // ----- plexus.yaml --------------------------------------------------------

  void parse_plexus(const field& top, gateway_config& cfg) {
    static const std::vector<std::string> allowed = {"gateway", "upstreams", "virtual_servers"};
    auto top_entries = entries(top, &allowed);
    // `gateway:` first: its data_dir is the default of the built-ins' options.data_dir.
    for (auto& [key, f] : top_entries)
      if (key == "gateway") parse_gateway(f, cfg);
    for (auto& [key, f] : top_entries) {
      if (key != "upstreams") continue;
      for (auto& [name, uf] : entries(f, nullptr)) {
        field name_field{uf.node, uf.path, uf.line};
        check_name(name_field, name, "upstream name");
        cfg.upstreams.push_back(parse_upstream(name, uf, cfg));
      }
    }
    std::map<std::string, const upstream_config*> prefixes;
    for (const auto& u : cfg.upstreams) {
      auto [it, inserted] = prefixes.emplace(u.prefix, &u);
      if (!inserted)
        fail(u.line, "upstreams." + u.name + ": prefix " + quoted(u.prefix) +
                         " is already used by upstream " + it->second->name + " (line " +
                         std::to_string(it->second->line) + "); set a distinct `prefix:`");
    }
    for (auto& [key, f] : top_entries) {
      if (key != "virtual_servers") continue;
      for (auto& [name, vf] : entries(f, nullptr)) {
        check_name(vf, name, "virtual server name");
        cfg.virtual_servers.push_back(parse_virtual_server(name, vf, cfg));
      }
    }
  }

  void parse_gateway(const field& f, gateway_config& cfg) {
    static const std::vector<std::string> allowed = {
        "separator",      "data_dir",   "listen",   "allowed_hosts", "allowed_origins",
        "worker_threads", "access_log", "rest_api", "rate_limit"};
    for (auto& [key, v] : entries(f, &allowed)) {
      if (key == "separator") {
        cfg.separator = get_string(v);
        if (cfg.separator.empty() || cfg.separator.size() > 4 ||
            !std::all_of(cfg.separator.begin(), cfg.separator.end(), valid_name_char))
          fail(v, "separator " + quoted(cfg.separator) +
                      " must be 1 to 4 characters of A-Z a-z 0-9 _ - (tool names stay within "
                      "[A-Za-z0-9_-])");
      } else if (key == "data_dir") {
        cfg.data_dir = get_string(v);
        if (cfg.data_dir.empty()) fail(v, "cannot be empty");
      } else if (key == "listen") {
        cfg.listen_http = get_string(v);
        check_listen(v, cfg.listen_http);
      } else if (key == "allowed_hosts") {
        cfg.allowed_hosts = get_string_list(v);
      } else if (key == "allowed_origins") {
        cfg.allowed_origins = get_string_list(v);
      } else if (key == "worker_threads") {
        cfg.worker_threads = static_cast<std::size_t>(get_int(v, 1, 4096));
      } else if (key == "access_log") {
        cfg.access_log = get_bool(v);
      } else if (key == "rest_api") {
        cfg.rest_api = get_bool(v);
      } else if (key == "rate_limit") {
        cfg.rate_limit = parse_rate_limit(v);
      }
    }
  }

  // The keys of a child process, the same in plexus.yaml and the mcpServers JSON.
  // False when `key` is not one of them.
  bool parse_process_key(const std::string& key, const field& v, upstream_config& u) {
    if (key == "command") {
      u.kind = upstream_kind::stdio;
      u.command = get_string(v);
      if (u.command.empty()) fail(v, "cannot be empty");
    } else if (key == "args") {
      u.args = get_string_list(v);
    } else if (key == "env") {
      u.env = get_string_map(v);
    } else if (key == "cwd") {
      u.cwd = get_string(v);
    } else if (key == "scheduling") {
      auto policy = get_string(v);
      if (policy != "batch" && policy != "inherit")
        fail(v, "expected batch or inherit, got " + quoted(policy));
      u.batch_scheduling = policy == "batch";
    } else {
      return false;
    }
    return true;
  }

  rate_limit_config parse_rate_limit(const field& f) {
    static const std::vector<std::string> allowed = {"requests_per_second", "burst"};
    rate_limit_config r;
    bool has_rate = false;
    for (auto& [k, v] : entries(f, &allowed)) {
      if (k == "requests_per_second") {
        r.per_second = get_number(v, 0);
        has_rate = true;
      } else {
        r.burst = get_number(v, 1);
      }
    }
    if (!has_rate) fail(f, "rate_limit needs requests_per_second");
    return r;
  }

  void check_listen(const field& f, const std::string& s) {
    auto colon = s.rfind(':');
    const std::string hint = "expected HOST:PORT such as 127.0.0.1:8080 or [::1]:8080, got ";
    if (colon == std::string::npos || colon == 0) fail(f, hint + quoted(s));
    std::string host = s.substr(0, colon), port = s.substr(colon + 1);
    if (host.front() == '[' ? host.back() != ']' : host.find(':') != std::string::npos)
      fail(f, hint + quoted(s));
    int p = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535)
      fail(f, "port " + quoted(port) + " must be a number from 0 to 65535");
  }

  upstream_config parse_upstream(const std::string& name, const field& f,
                                 const gateway_config& cfg) {
    static const std::vector<std::string> allowed = {
        "prefix",      "protocol",   "enabled",    "command",         "args",
        "env",         "cwd",        "url",        "headers",         "ca_file",
        "client_cert", "client_key", "verify_tls", "oauth",           "builtin",
        "options",     "tools",      "timeout",    "connect_timeout", "circuit_breaker",
        "restart",     "rate_limit", "scheduling"};
    if (!f.node.IsMap())
      fail(f,
           "expected a mapping with one of command (a child process), url (a remote server) "
           "or builtin (an in-process server)");
    upstream_config u;
    u.name = name;
    u.prefix = name;
    u.line = f.line;
    u.builtin_settings.data_dir = cfg.data_dir;
    auto fields = entries(f, &allowed);

    // The kind first: it decides which other keys make sense.
    std::vector<std::string> kinds;
    for (auto& [key, v] : fields)
      if (key == "command" || key == "url" || key == "builtin") kinds.push_back(key);
    if (kinds.empty())
      fail(f,
           "needs one of command (a child process), url (a remote server) or builtin (an "
           "in-process server)");
    if (kinds.size() > 1)
      fail(f, kinds[0] + " and " + kinds[1] +
                  " cannot be combined: use exactly one of command, "
                  "url or builtin");
    const std::string kind = kinds[0];
    static const std::set<std::string> stdio_only = {"args", "env", "cwd", "scheduling"};
    static const std::set<std::string> url_only = {"headers",    "ca_file",    "client_cert",
                                                   "client_key", "verify_tls", "oauth"};
    for (auto& [key, v] : fields) {
      if (stdio_only.count(key) && kind != "command")
        fail(v, "applies only to command upstreams (this one uses " + kind + ")");
      if (url_only.count(key) && kind != "url")
        fail(v, "applies only to url upstreams (this one uses " + kind + ")");
      if (key == "options" && kind != "builtin")
        fail(v, "applies only to builtin upstreams (this one uses " + kind + ")");
    }

    const field* options = nullptr;
    for (auto& [key, v] : fields) {
      if (key == "prefix") {
        // An empty prefix federates names as they are (one upstream in front, say).
        u.prefix = get_string(v);
        if (!u.prefix.empty()) check_name(v, u.prefix, "prefix");
      } else if (key == "protocol") {
        u.protocol = get_string(v);
        if (u.protocol != "auto" && u.protocol != "legacy" && u.protocol != "modern")
          fail(v, "expected auto, legacy or modern, got " + quoted(u.protocol));
      } else if (key == "enabled") {
        u.enabled = get_bool(v);
      } else if (parse_process_key(key, v, u)) {
        // command, args, env, cwd, scheduling
      } else if (key == "url") {
        set_url(v, u);
      } else if (key == "headers") {
        u.headers = get_string_map(v);
      } else if (key == "ca_file") {
        u.ca_file = get_string(v);
      } else if (key == "client_cert") {
        u.client_cert_file = get_string(v);
      } else if (key == "client_key") {
        u.client_key_file = get_string(v);
      } else if (key == "verify_tls") {
        u.verify_tls = get_bool(v);
      } else if (key == "oauth") {
        parse_oauth(v, u.oauth);
      } else if (key == "builtin") {
        u.kind = upstream_kind::builtin;
        u.builtin = get_string(v);
        auto names = servers::builtin_server_names();
        if (std::find(names.begin(), names.end(), u.builtin) == names.end())
          fail(v, "unknown built-in server " + quoted(u.builtin) + suggestion(u.builtin, names) +
                      " (available: " + join(names) + ")");
      } else if (key == "options") {
        options = &v;
      } else if (key == "tools") {
        parse_tool_filter(v, u);
      } else if (key == "timeout") {
        u.timeout = get_duration(v);
      } else if (key == "connect_timeout") {
        u.connect_timeout = get_duration(v);
      } else if (key == "circuit_breaker") {
        static const std::vector<std::string> cb = {"failures", "cooldown"};
        for (auto& [k, cv] : entries(v, &cb)) {
          if (k == "failures")
            u.breaker_failures = static_cast<int>(get_int(cv, 1, 1'000'000));
          else
            u.breaker_cooldown = get_duration(cv);
        }
      } else if (key == "restart") {
        static const std::vector<std::string> rs = {"backoff", "max_backoff"};
        for (auto& [k, rv] : entries(v, &rs)) {
          if (k == "backoff")
            u.restart_backoff = get_duration(rv);
          else
            u.restart_backoff_max = get_duration(rv);
        }
        if (u.restart_backoff_max < u.restart_backoff)
          fail(v, "max_backoff must be at least backoff");
      } else if (key == "rate_limit") {
        u.rate_limit = parse_rate_limit(v);
      }
    }
    if (options) parse_options(*options, u);
    if (!u.client_key_file.empty() && u.client_cert_file.empty())
      fail(f, "client_key needs client_cert");
    if (!u.client_cert_file.empty() && u.client_key_file.empty())
      fail(f, "client_cert needs client_key");
    return u;
  }

  void parse_oauth(const field& f, oauth_settings& o) {
    if (f.node.IsScalar()) {  // `oauth: true`: discovery and registration, no settings
      o.enabled = get_bool(f);
      return;
    }
    static const std::vector<std::string> allowed = {"client_id", "client_secret", "scope",
                                                     "token_file"};
    o.enabled = true;
    for (auto& [key, v] : entries(f, &allowed)) {
      if (key == "client_id")
        o.client_id = get_string(v);
      else if (key == "client_secret")
        o.client_secret = get_string(v);
      else if (key == "scope")
        o.scope = get_string(v);
      else if (key == "token_file")
        o.token_file = get_string(v);
    }
    if (!o.client_secret.empty() && o.client_id.empty()) fail(f, "client_secret needs client_id");
  }

  void parse_tool_filter(const field& f, upstream_config& u) {
    static const std::vector<std::string> allowed = {"allow", "deny"};
    for (auto& [key, v] : entries(f, &allowed)) {
      if (key == "allow")
        u.allow_tools = get_globs(v);
      else
        u.deny_tools = get_globs(v);
    }
  }

  void parse_options(const field& f, upstream_config& u) {
    std::vector<std::string> allowed;
    for (const auto& o : option_table()) allowed.push_back(o.key);
    auto& s = u.builtin_settings;
    std::optional<field> database;  // a copy: the entries are temporaries
    for (auto& [key, v] : entries(f, &allowed)) {
      const auto& use = *std::find_if(option_table().begin(), option_table().end(),
                                      [&](const option_use& o) { return key == o.key; });
      if (!use.servers.empty() &&
          std::find(use.servers.begin(), use.servers.end(), u.builtin) == use.servers.end())
        fail(v, "does not apply to the " + u.builtin + " server (it is for: " + join(use.servers) +
                    ")");
      if (key == "data_dir") {
        s.data_dir = get_string(v);
        if (s.data_dir.empty()) fail(v, "cannot be empty");
      } else if (key == "roots") {
        s.roots = get_string_list(v);
      } else if (key == "read_only") {
        s.read_only = get_bool(v);
      } else if (key == "max_file_bytes") {
        s.max_file_bytes = static_cast<std::size_t>(get_int(v, 1, 1LL << 40));
      } else if (key == "database") {
        s.database = get_string(v);
        database = v;
      } else if (key == "postgres") {
        s.postgres = get_string(v);
      } else if (key == "allow_writes") {
        s.allow_writes = get_bool(v);
      } else if (key == "max_rows") {
        s.max_rows = static_cast<std::size_t>(get_int(v, 1, 10'000'000));
      } else if (key == "weather_url") {
        s.weather_url = get_http_url(v);
      } else if (key == "geocoding_url") {
        s.geocoding_url = get_http_url(v);
      } else if (key == "cache_seconds") {
        s.cache_seconds = get_number(v, 0);
      } else if (key == "redis_url") {
        s.redis_url = get_string(v);
        if (!s.redis_url.empty() && s.redis_url.rfind("redis://", 0) != 0)
          fail(v, "expected redis://HOST:PORT/DB, got " + quoted(s.redis_url));
      } else if (key == "wallet_database") {
        s.wallet_database = get_string(v);
      } else if (key == "knowledge_database") {
        s.knowledge_database = get_string(v);
      } else if (key == "embeddings_url") {
        s.embeddings_url = get_string(v);
        if (!s.embeddings_url.empty()) s.embeddings_url = get_http_url(v);
      } else if (key == "embeddings_model") {
        s.embeddings_model = get_string(v);
      } else if (key == "embeddings_api_key") {
        s.embeddings_api_key = get_string(v);
      } else if (key == "ingest") {
        s.ingest = get_string_list(v);
      }
    }
    if (database && !s.database.empty() && !s.postgres.empty())
      fail(*database, "give either database (SQLite) or postgres, not both");
  }

  std::string get_http_url(const field& f) {
    upstream_config probe;
    set_url(f, probe);
    if (probe.kind != upstream_kind::http)
      fail(f, "URL " + quoted(probe.url) + " must start with http:// or https://");
    return probe.url;
  }

  virtual_server_config parse_virtual_server(const std::string& name, const field& f,
                                             const gateway_config& cfg) {
    static const std::vector<std::string> allowed = {"upstreams", "tools"};
    virtual_server_config vs;
    vs.name = name;
    vs.line = f.line;
    if (!f.node.IsMap() && !f.node.IsNull())
      fail(f, "expected a mapping with upstreams: [...] and/or tools: [globs]");
    std::vector<std::string> known;
    for (const auto& u : cfg.upstreams) known.push_back(u.name);
    for (auto& [key, v] : entries(f, &allowed)) {
      if (key == "upstreams") {
        for (auto& [_, item] : items(v)) {
          std::string up = scalar(item, "an upstream name");
          if (std::find(known.begin(), known.end(), up) == known.end())
            fail(item, "unknown upstream " + quoted(up) + suggestion(up, known) +
                           (known.empty() ? std::string(" (no upstreams are defined)")
                                          : " (defined: " + join(known) + ")"));
          vs.upstreams.push_back(std::move(up));
        }
      } else {
        vs.tools = get_globs(v);
      }
    }
    return vs;
  }

  // ----- mcpServers JSON (Claude Desktop, Cursor, VS Code) -------------------

  // Other keys of those files (globalShortcut, inputs, …) are not ours: ignored.
  void parse_mcp_servers(const field& top, gateway_config& cfg) {
    std::string key = top.node["mcpServers"] ? "mcpServers" : "servers";
    field servers;
    for (auto& [k, v] : entries(top, nullptr))
      if (k == key) servers = v;
    std::set<std::string> prefixes;
    for (auto& [name, f] : entries(servers, nullptr)) {
      upstream_config u = parse_mcp_entry(name, f, cfg);
      // Keys are free text there ("GitHub Copilot"): the name and prefix are the key
      // made safe, numbered when two keys come out the same.
      std::string base = sanitize(name);
      std::string candidate = base;
      for (int n = 2; prefixes.count(candidate); ++n) {
        std::string suffix = "_" + std::to_string(n);
        candidate = base.substr(0, max_name_length - suffix.size()) + suffix;
      }
      prefixes.insert(candidate);
      u.name = u.prefix = candidate;
      cfg.upstreams.push_back(std::move(u));
    }
  }

  static std::string sanitize(const std::string& key) {
    std::string out;
    for (char c : key) out += valid_name_char(c) ? c : '_';
    if (out.size() > max_name_length) out.resize(max_name_length);
    if (out.empty()) out = "server";
    return out;
  }

  upstream_config parse_mcp_entry(const std::string& name, const field& f,
                                  const gateway_config& cfg) {
    if (!f.node.IsMap())
      fail(f, "expected a mapping with \"command\" (a local server) or \"url\" (a remote server)");
    upstream_config u;
    u.line = f.line;
    u.builtin_settings.data_dir = cfg.data_dir;
    std::string type;
    const field* type_field = nullptr;
    bool has_command = false, has_url = false;
    auto fields = entries(f, nullptr);
    for (auto& [key, v] : fields) {
      if (parse_process_key(key, v, u)) {
        has_command |= key == "command";
      } else if (key == "url" || key == "serverUrl") {
        has_url = true;
        set_url(v, u);
      } else if (key == "headers") {
        u.headers = get_string_map(v);
      } else if (key == "disabled") {
        u.enabled = !get_bool(v);
      } else if (key == "type" || key == "transportType") {
        type = get_string(v);
        type_field = &v;
      } else if (key == "envFile") {
        fail(v, "envFile is not supported: list the variables under \"env\"");
      }
    }
    if (has_command && has_url)
      fail(f, "\"command\" and \"url\" cannot be combined: one server is either local or remote");
    if (!has_command && !has_url)
      fail(f, "needs \"command\" (a local server) or \"url\" (a remote server)");
    if (type_field) {
      static const std::set<std::string> local = {"stdio"};
      static const std::set<std::string> remote = {"http",           "sse", "streamable-http",
                                                   "streamableHttp", "ws",  "websocket"};
      if (!local.count(type) && !remote.count(type))
        fail(*type_field, "unknown type " + quoted(type) + " (expected stdio, http or sse)");
      if (local.count(type) && !has_command) fail(*type_field, "type stdio needs \"command\"");
      if (remote.count(type) && !has_url) fail(*type_field, "type " + type + " needs \"url\"");
    }
    (void)name;
    return u;
  }

  std::string source_;
};

// A YAML double-quoted scalar that parse_config reads back as `s`.
std::string yaml_quote(const std::string& s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"' || c == '\\')
      out += std::string("\\") + c;
    else if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else if (c == '$' && i + 1 < s.size() && s[i + 1] == '{')
      out += "$$";  // not an environment variable
    else
      out += c;
  }
  return out + "\"";
}

}  // namespace

gateway_config parse_config(std::string_view text, const std::string& source) {
  return parser(source).parse(text);
}

gateway_config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw config_error(path, 0, std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw config_error(path, 0, "cannot read the file");
  return parse_config(text.str(), path);
}

std::string default_config_yaml(const std::string& data_dir) {
  std::string dir = data_dir.empty() ? std::string("plexus-data") : data_dir;
  std::string files = dir + (dir.back() == '/' ? "files" : "/files");
  auto available = servers::builtin_server_names();
  auto has = [&](const char* n) {
    return std::find(available.begin(), available.end(), n) != available.end();
  };

  std::string y;
  y += "# plexus.yaml: what `plexus gateway --config plexus.yaml` federates (written by `plexus "
       "init`).\n"
       "# Every option, with an example, is in docs/configuration.md. Strings may use ${VAR}\n"
       "# and ${VAR:-default} from the environment: keep secrets there, not in this file.\n"
       "\n"
       "gateway:\n"
       "  # Federated names are PREFIX + separator + NAME, e.g. weather_get_forecast.\n"
       "  separator: \"_\"\n"
       "  # Where the built-in servers keep their SQLite files (memory.db, database.db, ...)\n"
       "  # and where OAuth tokens of remote upstreams are stored (tokens/NAME.json).\n"
       "  data_dir: " +
       yaml_quote(dir) +
       "\n"
       "  # Serve Streamable HTTP here when `plexus gateway` is run without --http or --stdio.\n"
       "  # listen: 127.0.0.1:8080\n"
       "  # Host and Origin headers accepted over HTTP (DNS-rebinding protection);\n"
       "  # loopback names are always accepted.\n"
       "  # allowed_hosts: [mcp.example.com]\n"
       "  # allowed_origins: [https://app.example.com]\n"
       "  worker_threads: 64\n"
       "  access_log: true  # JSON lines on stderr\n"
       "  rest_api: true    # GET /api/tools, POST /api/tools/NAME, /api/openapi.json\n"
       "\n"
       "# Each upstream is an MCP server: `builtin:` (in process), `command:` (a child\n"
       "# process over stdio) or `url:` (a remote server). Its key is the default prefix.\n"
       "upstreams:\n";
  if (has("weather"))
    y += "  weather:\n"
         "    builtin: weather  # forecasts and geocoding from Open-Meteo (no API key)\n";
  if (has("database"))
    y += "  sqlite:\n"
         "    builtin: database  # SQL over DATA_DIR/database.db\n"
         "    options:\n"
         "      allow_writes: false  # true adds the `execute` tool\n";
  if (has("filesystem"))
    y += "  fs:\n"
         "    builtin: filesystem\n"
         "    options:\n"
         "      # The filesystem server only touches files under its roots. `plexus init`\n"
         "      # creates this folder; create it yourself if you write this file by hand.\n"
         "      roots: [" +
         yaml_quote(files) +
         "]\n"
         "      read_only: false\n";
  if (has("wallet"))
    y += "  wallet:\n"
         "    builtin: wallet  # balances and payments in DATA_DIR/wallet.db\n";
  if (has("knowledge"))
    y += "  knowledge:\n"
         "    builtin: knowledge  # document search over DATA_DIR/knowledge.db\n"
         "    # options:\n"
         "    #   embeddings_url: https://api.openai.com/v1  # vector search besides BM25\n"
         "    #   embeddings_api_key: ${OPENAI_API_KEY}\n";
  if (has("memory"))
    y += "  memory:\n"
         "    builtin: memory  # a knowledge graph in DATA_DIR/memory.db\n";
  y += "\n"
       "  # A child process (any MCP server that speaks stdio):\n"
       "  # files:\n"
       "  #   command: npx\n"
       "  #   args: [-y, \"@modelcontextprotocol/server-filesystem\", /tmp]\n"
       "  # A remote server (Streamable HTTP, HTTP+SSE or WebSocket):\n"
       "  # remote:\n"
       "  #   url: https://mcp.example.com/mcp\n"
       "  #   headers: {Authorization: \"Bearer ${REMOTE_TOKEN}\"}\n"
       "\n"
       "# Named endpoints (/servers/NAME/mcp) exposing a subset of the tools.\n"
       "# virtual_servers:\n"
       "#   readonly:\n"
       "#     upstreams: [weather, fs]\n"
       "#     tools: [\"weather_*\", \"fs_read_*\", \"fs_list_*\"]\n";
  return y;
}

}  // namespace plexus::gateway
