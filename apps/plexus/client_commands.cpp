#include "client_commands.hpp"
#include "login_command.hpp"

#include "plexus/client/client.hpp"
#include "plexus/client/oauth.hpp"
#include "plexus/client/transport.hpp"
#include "plexus/core/base64.hpp"

#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <stdexcept>

namespace plexus::cli {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_tool_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_failure = 3;

const std::set<std::string, std::less<>> client_command_names = {"tools", "call",    "resources",
                                                                 "read",  "prompts", "prompt"};

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- text helpers ------------------------------------------------------------

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// The first `width` code points of `s`, with "…" as the last one when cut.
std::string truncate(std::string_view s, std::size_t width) {
  if (utf8_length(s) <= width) return std::string(s);
  if (width == 0) return {};
  std::size_t keep = width - 1, count = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (count == keep) break;
      ++count;
    }
  }
  std::string out(s.substr(0, i));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "…";
}

// One line: whitespace runs (newlines included) become one space.
std::string one_line(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::size_t terminal_width() {
  if (::isatty(STDOUT_FILENO)) {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  }
  return 100;
}

// Columns separated by two spaces; every column but the last as wide as its
// widest cell, the last truncated so that each line fits in `width`.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, std::size_t width) {
  std::vector<std::size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i + 1 < row.size(); ++i)
      widths[i] = std::max(widths[i], utf8_length(row[i]));
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::size_t used = 0;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) used += widths[i] + 2;
  std::size_t last = width > used + 10 ? width - used : 10;
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 < row.size()) {
        s += row[i];
        s.append(widths[i] - utf8_length(row[i]) + 2, ' ');
      } else {
        s += truncate(row[i], last);
      }
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(header);
  for (const auto& r : rows) line(r);
}

void pretty(std::string& out, const json::value& v, int indent) {
  auto pad = [&](int n) { out.append(static_cast<std::size_t>(n), ' '); };
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      pad(indent + 2);
      out += json::dump(json::value(json::string(kv.key())));
      out += ": ";
      pretty(out, kv.value(), indent + 2);
    }
    out += '\n';
    pad(indent);
    out += '}';
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& item : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      pad(indent + 2);
      pretty(out, item, indent + 2);
    }
    out += '\n';
    pad(indent);
    out += ']';
  } else {
    out += json::dump(v);
  }
}

std::string pretty(const json::value& v) {
  std::string s;
  pretty(s, v, 0);
  return s;
}

std::string str(const json::object& o, std::string_view key) {
  auto s = json::find_string(o, key);
  return s ? std::string(*s) : std::string();
}

std::size_t decoded_size(std::string_view b64) {
  if (auto d = base64::decode(b64)) return d->size();
  return b64.size() / 4 * 3;
}

// `[image image/png, 68 bytes]`, `[resource test://x]`, or the text itself.
std::string render_block(const json::value& block) {
  if (!block.is_object()) return "[" + std::string(json::type_name(block)) + "]";
  const auto& b = block.get_object();
  std::string type = str(b, "type");
  if (type == "text") return str(b, "text");
  if (type == "image" || type == "audio")
    return "[" + type + " " + str(b, "mimeType") + ", " +
           std::to_string(decoded_size(str(b, "data"))) + " bytes]";
  if (type == "resource") {
    auto r = json::find_object(b, "resource");
    return "[resource " + (r ? str(*r, "uri") : std::string("?")) + "]";
  }
  if (type == "resource_link") return "[resource link " + str(b, "uri") + "]";
  return "[" + (type.empty() ? std::string("content") : type) + "]";
}

void print_line(std::ostream& out, const std::string& s) {
  out << s;
  if (s.empty() || s.back() != '\n') out << '\n';
}

std::string describe_value(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : json::dump(v);
}

// ---- arguments -----------------------------------------------------------------

std::optional<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

// The JSON Schema types a property allows ("string", "number", …).
std::set<std::string> schema_types(const json::object* property) {
  std::set<std::string> out;
  if (!property) return out;
  if (auto t = property->find("type"); t != property->end()) {
    if (t->value().is_string()) out.insert(std::string(t->value().get_string()));
    if (t->value().is_array())
      for (const auto& x : t->value().get_array())
        if (x.is_string()) out.insert(std::string(x.get_string()));
  }
  return out;
}

// `k=v`: JSON when it parses as a number, boolean, null, object or array, else a
// string; the tool's schema decides when it names the property's type.
json::value argument_value(const std::string& raw, const json::object* property) {
  auto types = schema_types(property);
  auto parsed = parse_json(raw);
  bool only_string = !types.empty() && std::all_of(types.begin(), types.end(),
                                                   [](const auto& t) { return t == "string"; });
  if (only_string) return json::string(raw);
  if (parsed && !parsed->is_string()) {
    if (types.empty()) return *parsed;
    auto kind_ok = [&](const json::value& v) {
      for (const auto& t : types) {
        if (t == "number" && v.is_number()) return true;
        if (t == "integer" &&
            (v.is_int64() || v.is_uint64() ||
             (v.is_double() &&
              v.get_double() == static_cast<double>(static_cast<std::int64_t>(v.get_double())))))
          return true;
        if (t == "boolean" && v.is_bool()) return true;
        if (t == "null" && v.is_null()) return true;
        if (t == "object" && v.is_object()) return true;
        if (t == "array" && v.is_array()) return true;
      }
      return false;
    };
    if (kind_ok(*parsed) || !types.count("string")) return *parsed;
  }
  return json::string(raw);
}

struct arg_item {
  std::string key;
  std::string raw;
  bool force_json = false;
};

arg_item split_arg(const std::string& a) {
  auto eq = a.find('=');
  if (eq == std::string::npos || eq == 0)
    throw usage_error("--arg expects KEY=VALUE or KEY:=JSON, got \"" + a + "\"");
  arg_item it;
  if (a[eq - 1] == ':') {
    it.key = a.substr(0, eq - 1);
    it.force_json = true;
  } else {
    it.key = a.substr(0, eq);
  }
  if (it.key.empty()) throw usage_error("--arg has an empty name: \"" + a + "\"");
  it.raw = a.substr(eq + 1);
  return it;
}

std::string file_uri(const std::filesystem::path& p) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : p.string()) {
    if (std::isalnum(c) ||
        std::string_view("/-._~").find(static_cast<char>(c)) != std::string_view::npos)
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---- elicitation on the terminal ---------------------------------------------

std::mutex console_mu;

struct end_of_input {};

std::string read_answer(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) {
    std::cerr << '\n';
    throw end_of_input{};
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The allowed values of a string (enum, oneOf/anyOf of consts) with their titles.
std::vector<std::pair<std::string, std::string>> choices(const json::object& schema) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto e = json::find_array(schema, "enum")) {
    auto names = json::find_array(schema, "enumNames");
    for (std::size_t i = 0; i < e->size(); ++i) {
      std::string v = describe_value((*e)[i]);
      std::string t = names && i < names->size() ? describe_value((*names)[i]) : v;
      out.emplace_back(v, t);
    }
    return out;
  }
  for (const char* k : {"oneOf", "anyOf"})
    if (auto alts = json::find_array(schema, k))
      for (const auto& a : *alts)
        if (a.is_object())
          if (auto c = a.get_object().find("const"); c != a.get_object().end()) {
            std::string v = describe_value(c->value());
            std::string t = str(a.get_object(), "title");
            out.emplace_back(v, t.empty() ? v : t);
          }
  return out;
}

std::optional<std::string> pick(const std::vector<std::pair<std::string, std::string>>& options,
                                std::string answer) {
  while (!answer.empty() && answer.front() == ' ') answer.erase(0, 1);
  while (!answer.empty() && answer.back() == ' ') answer.pop_back();
  for (const auto& [v, t] : options)
    if (answer == v || answer == t) return v;
  int index = 0;
  auto [p, ec] = std::from_chars(answer.data(), answer.data() + answer.size(), index);
  if (ec == std::errc() && p == answer.data() + answer.size() && index >= 1 &&
      static_cast<std::size_t>(index) <= options.size())
    return options[static_cast<std::size_t>(index) - 1].first;
  return std::nullopt;
}

// One form field; nullopt when left out.
std::optional<json::value> ask_field(const std::string& name, const json::object& schema,
                                     bool required) {
  std::string type = str(schema, "type");
  std::string label = str(schema, "title");
  std::string prompt = "  " + (label.empty() ? name : label + " (" + name + ")");
  std::string desc = str(schema, "description");
  auto opts = choices(schema);
  const json::object* items = json::find_object(schema, "items");
  if (type == "array" && items) opts = choices(*items);
  std::string hint = type.empty() ? "string" : type;
  if (!opts.empty()) {
    hint += type == "array" ? ", comma-separated choices:" : ", one of:";
    for (std::size_t i = 0; i < opts.size(); ++i)
      hint += " " + std::to_string(i + 1) + ")" +
              (opts[i].second == opts[i].first ? opts[i].first
                                               : opts[i].first + " \"" + opts[i].second + "\"");
  }
  if (type == "boolean") hint += ", y/n";
  std::optional<json::value> def;
  if (auto d = schema.find("default"); d != schema.end()) def = d->value();
  prompt += " [" + hint + "]";
  if (!desc.empty()) prompt += " " + desc;
  if (def) prompt += " (default " + describe_value(*def) + ")";
  if (required) prompt += " *";
  prompt += ": ";
  for (;;) {
    std::string a = read_answer(prompt);
    if (a.empty()) {
      if (def) return def;
      if (!required) return std::nullopt;
      std::cerr << "  a value is required\n";
      continue;
    }
    if (type == "boolean") {
      std::string l = a;
      std::transform(l.begin(), l.end(), l.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      if (l == "y" || l == "yes" || l == "true" || l == "1") return json::value(true);
      if (l == "n" || l == "no" || l == "false" || l == "0") return json::value(false);
      std::cerr << "  answer y or n\n";
      continue;
    }
    if (type == "integer" || type == "number") {
      auto v = parse_json(a);
      if (v && v->is_number() && (type == "number" || !v->is_double())) return *v;
      std::cerr << "  expected " << (type == "integer" ? "an integer" : "a number") << '\n';
      continue;
    }
    if (type == "array") {
      json::array out;
      bool ok = true;
      std::size_t start = 0;
      while (start <= a.size()) {
        auto comma = a.find(',', start);
        std::string part =
            a.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (opts.empty()) {
          out.push_back(json::string(part));
        } else if (auto v = pick(opts, part)) {
          out.push_back(json::string(*v));
        } else {
          ok = false;
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      if (ok) return out;
      std::cerr << "  choose among the listed values\n";
      continue;
    }
    if (!opts.empty()) {
      if (auto v = pick(opts, a)) return json::value(json::string(*v));
      std::cerr << "  choose one of the listed values\n";
      continue;
    }
    return json::value(json::string(a));
  }
}

client::result<json::object> elicit_on_terminal(const json::object& params) {
  std::lock_guard lk(console_mu);
  try {
    std::string message = str(params, "message");
    if (str(params, "mode") == "url") {
      std::cerr << "The server asks you to open " << str(params, "url") << "\n" << message << "\n";
      read_answer("Press Enter when done (end of input declines): ");
      return json::object{{"action", "accept"}};
    }
    std::cerr << "The server asks: " << message << "\n";
    json::object content;
    const json::object empty;
    auto schema = json::find_object(params, "requestedSchema");
    auto props = schema ? json::find_object(*schema, "properties") : nullptr;
    std::set<std::string> required;
    if (schema)
      if (auto r = json::find_array(*schema, "required"))
        for (const auto& x : *r)
          if (x.is_string()) required.insert(std::string(x.get_string()));
    if (props)
      for (const auto& kv : *props) {
        const json::object& ps = kv.value().is_object() ? kv.value().get_object() : empty;
        auto v = ask_field(std::string(kv.key()), ps, required.count(std::string(kv.key())) > 0);
        if (v) content[kv.key()] = std::move(*v);
      }
    return json::object{{"action", "accept"}, {"content", std::move(content)}};
  } catch (const end_of_input&) {
    std::cerr << "plexus: end of input: declined the server's request\n";
    return json::object{{"action", "decline"}};
  }
}

client::result<json::object> decline_sampling(const json::object&) {
  {
    std::lock_guard lk(console_mu);
    std::cerr << "plexus: the server asked for a model completion (sampling); declined: the "
                 "plexus command has no model\n";
  }
  client::error e;
  e.code = -1;
  e.message = "Sampling declined: the plexus command line client has no model to ask";
  return unexpected{e};
}

client::result<json::object> current_directory_root(const json::object&) {
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (ec) return json::object{{"roots", json::array{}}};
  std::string name = cwd.filename().string();
  if (name.empty()) name = cwd.string();
  return json::object{{"roots", json::array{json::object{{"uri", file_uri(cwd)}, {"name", name}}}}};
}

}  // namespace

// ---- argv preparation -------------------------------------------------------------

prepared_args prepare_args(int argc, char** argv) {
  prepared_args p;
  std::vector<std::string> in(argv, argv + argc);
  // The subcommand: the first token that is neither an option nor its value.
  std::string sub;
  for (std::size_t i = 1; i < in.size(); ++i) {
    if (in[i] == "--") break;
    if (in[i] == "--log-level") {
      ++i;
      continue;
    }
    if (!in[i].empty() && in[i][0] == '-') continue;
    sub = in[i];
    break;
  }
  p.client_command = client_command_names.count(sub) > 0;
  if (!p.client_command) {
    p.args = std::move(in);
    return p;
  }
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == "--") {
      p.has_server_command = true;
      p.server_command.assign(in.begin() + static_cast<std::ptrdiff_t>(i) + 1, in.end());
      break;
    }
    if (sub == "call" && in[i] == "--json" && i + 1 < in.size() &&
        in[i + 1].find_first_not_of(" \t\n") != std::string::npos &&
        in[i + 1][in[i + 1].find_first_not_of(" \t\n")] == '{') {
      p.args.push_back("--args");
      continue;
    }
    if (sub == "call" && in[i].starts_with("--json=")) {
      p.args.push_back("--args=" + in[i].substr(7));
      continue;
    }
    p.args.push_back(in[i]);
  }
  return p;
}

// ---- the commands -------------------------------------------------------------------

struct client_commands::state {
  std::vector<std::string> positionals;
  bool json_output = false;
  bool legacy = false, modern = false;
  bool progress = false;
  double timeout_seconds = 60;
  std::vector<std::string> headers, env, args;
  std::string cwd, args_json;
  std::string ca_file, client_cert, client_key;
  std::vector<std::string> server_command;
  bool has_command = false;
  CLI::App *tools = nullptr, *call = nullptr, *resources = nullptr, *read = nullptr,
           *prompts = nullptr, *prompt = nullptr;

  CLI::App* chosen() const {
    for (auto* c : {tools, call, resources, read, prompts, prompt})
      if (c->parsed()) return c;
    return nullptr;
  }

  void add_common(CLI::App* cmd, const std::string& positional_help) {
    cmd->add_option("server-and-args", positionals, positional_help);
    cmd->add_flag("--json", json_output, "Machine output: the raw result objects as JSON");
    cmd->add_option("--timeout", timeout_seconds,
                    "Seconds to wait for each answer (progress resets it)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--header", headers, "HTTP header 'Name: value' (repeatable; URL servers)")
        ->allow_extra_args(false);
    auto* l = cmd->add_flag("--legacy", legacy, "Speak the session era only (initialize)");
    auto* m = cmd->add_flag("--modern", modern, "Speak the 2026-07-28 era only (server/discover)");
    l->excludes(m);
    cmd->add_option("--env", env, "K=V added to the server's environment (repeatable; stdio)")
        ->allow_extra_args(false);
    cmd->add_option("--cwd", cwd, "Working directory of the server process (stdio)");
    cmd->add_flag("--progress", progress, "Show progress on stderr even when it is not a terminal");
    cmd->add_option("--ca-file", ca_file, "Trust these CAs (PEM) for https:// and wss://");
    cmd->add_option("--client-cert", client_cert, "Client certificate (PEM) for mutual TLS");
    cmd->add_option("--client-key", client_key, "Its private key (PEM)");
    cmd->footer(
        "SERVER is a URL (http://… or https://… for Streamable HTTP or HTTP+SSE, ws://… or "
        "wss://… for WebSocket), unix:/PATH for a Unix socket (newline-delimited), or the "
        "command after `--` that starts a server speaking MCP over stdio, e.g. `plexus tools -- "
        "npx @modelcontextprotocol/server-everything`. Tokens stored by `plexus login URL` are "
        "sent to that URL.\nExit codes: 0 ok, 1 tool error, 2 usage, 3 connection or protocol "
        "error.");
  }

  // The positionals after the server: the URL (when no command) is taken off.
  std::string url;
  std::vector<std::string> operands() {
    std::vector<std::string> rest = positionals;
    if (!has_command) {
      if (rest.empty())
        throw usage_error(
            "no server: give a URL (http, https, ws, wss), unix:/PATH, or a command after `--` "
            "(stdio)");
      url = rest.front();
      rest.erase(rest.begin());
      if (!url.starts_with("http://") && !url.starts_with("https://") &&
          !url.starts_with("ws://") && !url.starts_with("wss://") && !url.starts_with("unix:"))
        throw usage_error(
            "the server must be an http://, https://, ws:// or wss:// URL, unix:/PATH, or a "
            "command after `--`; got \"" +
            url + "\"");
    } else if (server_command.empty()) {
      throw usage_error("`--` must be followed by the command that starts the server");
    }
    return rest;
  }

  std::unique_ptr<client::client_transport> make_transport() {
    auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
    if (has_command) {
      if (!headers.empty())
        throw usage_error("--header applies to URL servers, not to `--` commands");
      if (!ca_file.empty() || !client_cert.empty() || !client_key.empty())
        throw usage_error("the TLS options apply to https:// and wss:// servers");
      client::process_spec spec;
      spec.command = server_command.front();
      spec.args.assign(server_command.begin() + 1, server_command.end());
      for (const auto& kv : env) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
          throw usage_error("--env expects KEY=VALUE, got \"" + kv + "\"");
        spec.env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      spec.working_directory = cwd;
      spec.shutdown_grace = std::chrono::milliseconds(1000);
      return client::make_stdio_transport(std::move(spec));
    }
    if (!env.empty() || !cwd.empty())
      throw usage_error("--env and --cwd apply to a server command after `--`, not to URLs");
    if (client_cert.empty() != client_key.empty())
      throw usage_error("--client-cert and --client-key go together");
    if (url.starts_with("unix:")) {
      if (!headers.empty() || !ca_file.empty() || !client_cert.empty())
        throw usage_error("--header and the TLS options apply to URL servers, not to unix:");
      std::string path = url.substr(5);
      if (path.starts_with("//")) path.erase(0, 2);  // unix:///run/x.sock
      if (path.empty()) throw usage_error("unix: needs the socket's path, e.g. unix:/run/mcp.sock");
      return client::make_unix_transport(path);
    }
    std::map<std::string, std::string> hs;
    for (const auto& h : headers) {
      auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0)
        throw usage_error("--header expects 'Name: value', got \"" + h + "\"");
      std::string value = h.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
      hs[h.substr(0, colon)] = value;
    }
    if (url.starts_with("ws://") || url.starts_with("wss://")) {
      client::websocket_transport_options wo;
      wo.headers = std::move(hs);
      wo.ca_file = ca_file;
      wo.client_cert_file = client_cert;
      wo.client_key_file = client_key;
      wo.connect_timeout = timeout;
      try {
        return client::make_websocket_transport(url, wo);
      } catch (const std::invalid_argument& e) {
        throw usage_error(std::string("bad URL: ") + e.what());
      }
    }
    client::http_transport_options ho;
    ho.headers = std::move(hs);
    ho.ca_file = ca_file;
    ho.client_cert_file = client_cert;
    ho.client_key_file = client_key;
    ho.connect_timeout = timeout;
    // A login stored by `plexus login URL`: its tokens (refreshed when they expire).
    if (!ho.headers.count("Authorization")) {
      if (auto oc = stored_login(url)) {
        oauth = std::move(oc);
        ho.auth = oauth->hook();
      }
    }
    try {
      return client::make_http_transport(url, ho);
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("bad URL: ") + e.what());
    }
  }

  std::shared_ptr<client::oauth::oauth_client> oauth;

  // The OAuth client for `url` when `plexus login` stored tokens for it; a new
  // interactive authorization is never started here (it says to log in again).
  std::shared_ptr<client::oauth::oauth_client> stored_login(const std::string& u) {
    std::string file = token_file_path();
    std::error_code ec;
    if (file.empty() || !std::filesystem::exists(file, ec)) return nullptr;
    client::oauth::options o = login_options(u);
    o.authorize = [u](const std::string&, const std::string&) -> std::string {
      throw std::runtime_error("the stored login is no longer accepted; run `plexus login " + u +
                               "`");
    };
    try {
      auto oc = std::make_shared<client::oauth::oauth_client>(u, std::move(o));
      if (!oc->tokens()) return nullptr;
      return oc;
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  bool show_progress() const { return progress || ::isatty(STDERR_FILENO); }

  int fail(const std::string& where, const client::error& e) {
    std::cerr << "plexus: " << where << ": " << e.describe() << '\n';
    if (oauth && !oauth->last_error().empty())
      std::cerr << "plexus: authorization: " << oauth->last_error() << '\n';
    else if (e.kind == client::error::transport && (e.code == 401 || e.code == 403) && !oauth &&
             url.starts_with("http"))
      std::cerr << "plexus: the server requires authorization: run `plexus login " << url << "`\n";
    return exit_failure;
  }

  int run() {
    CLI::App* cmd = chosen();
    auto ops = operands();
    auto expect = [&](std::size_t n, const char* what) {
      if (ops.size() < n) throw usage_error(std::string("missing ") + what);
      if (ops.size() > n) throw usage_error("unexpected argument \"" + ops[n] + "\"");
    };
    if (cmd == call)
      expect(1, "the tool name");
    else if (cmd == read)
      expect(1, "the resource URI");
    else if (cmd == prompt)
      expect(1, "the prompt name");
    else
      expect(0, "");
    if (cmd != call && cmd != prompt && !args.empty())
      throw usage_error("--arg applies to call and prompt");
    json::object call_args;
    if (!args_json.empty()) {
      auto v = parse_json(args_json);
      if (!v || !v->is_object())
        throw usage_error("--json expects a JSON object of arguments, got " + args_json);
      call_args = v->get_object();
    }
    std::vector<arg_item> items;
    for (const auto& a : args) items.push_back(split_arg(a));

    std::unique_ptr<client::client_transport> transport;
    try {
      transport = make_transport();
    } catch (const std::runtime_error& e) {
      if (dynamic_cast<const usage_error*>(&e)) throw;
      std::cerr << "plexus: " << e.what() << '\n';
      return exit_failure;
    }
    std::string where = transport->describe();
    auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
    client::client_options co;
    co.mode = legacy   ? client::version_mode::legacy_only
              : modern ? client::version_mode::modern_only
                       : client::version_mode::auto_detect;
    co.request_timeout = timeout;
    co.probe_timeout = std::min<std::chrono::milliseconds>(co.probe_timeout, timeout);
    co.handlers.elicitation = elicit_on_terminal;
    co.handlers.sampling = decline_sampling;
    co.handlers.roots = current_directory_root;
    co.on_notification = [](const std::string& method, const json::object& params) {
      if (method != "notifications/message") return;
      std::lock_guard lk(console_mu);
      auto data = params.find("data");
      std::cerr << "server log [" << str(params, "level") << "] "
                << (data == params.end() ? std::string() : describe_value(data->value())) << '\n';
    };
    auto connected = client::client::connect(std::move(transport), std::move(co));
    if (!connected) return fail("cannot connect to " + where, connected.error());
    auto& c = **connected;

    client::request_options ro;
    if (show_progress())
      ro.on_progress = [](const json::object& p) {
        std::string line = "progress ";
        if (auto v = p.find("progress"); v != p.end()) line += json::dump(v->value());
        if (auto t = p.find("total"); t != p.end()) line += "/" + json::dump(t->value());
        if (auto m = json::find_string(p, "message")) line += " " + std::string(*m);
        std::lock_guard lk(console_mu);
        std::cerr << line << '\n';
      };

    std::size_t width = terminal_width();
    if (cmd == tools) {
      auto r = c.list_tools();
      if (!r) return fail(where, r.error());
      if (json_output) {
        json::array a(r->begin(), r->end());
        std::cout << json::dump(json::object{{"tools", std::move(a)}}) << '\n';
        return exit_ok;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& t : *r) {
        std::string d = str(t, "title");
        if (d.empty()) d = str(t, "description");
        rows.push_back({str(t, "name"), one_line(d)});
      }
      print_table(std::cout, {"NAME", "DESCRIPTION"}, rows, width);
      return exit_ok;
    }
    if (cmd == prompts) {
      auto r = c.list_prompts();
      if (!r) return fail(where, r.error());
      if (json_output) {
        json::array a(r->begin(), r->end());
        std::cout << json::dump(json::object{{"prompts", std::move(a)}}) << '\n';
        return exit_ok;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& p : *r) {
        std::string d = str(p, "title");
        if (d.empty()) d = str(p, "description");
        std::string argl;
        if (auto a = json::find_array(p, "arguments"))
          for (const auto& x : *a)
            if (x.is_object()) {
              if (!argl.empty()) argl += ",";
              argl += str(x.get_object(), "name");
              if (json::find_bool(x.get_object(), "required").value_or(false)) argl += "*";
            }
        rows.push_back({str(p, "name"), argl, one_line(d)});
      }
      print_table(std::cout, {"NAME", "ARGUMENTS", "DESCRIPTION"}, rows, width);
      return exit_ok;
    }
    if (cmd == resources) {
      auto r = c.list_resources();
      if (!r) return fail(where, r.error());
      std::vector<json::object> templates;
      auto t = c.list_resource_templates();
      if (t)
        templates = std::move(*t);
      else if (!(t.error().kind == client::error::protocol && t.error().code == -32601))
        return fail(where, t.error());
      if (json_output) {
        std::cout << json::dump(json::object{
                         {"resources", json::array(r->begin(), r->end())},
                         {"resourceTemplates", json::array(templates.begin(), templates.end())}})
                  << '\n';
        return exit_ok;
      }
      std::vector<std::vector<std::string>> rows;
      auto describe = [](const json::object& o) {
        std::string d = str(o, "title");
        if (d.empty()) d = str(o, "description");
        return one_line(d);
      };
      for (const auto& x : *r) rows.push_back({str(x, "uri"), str(x, "name"), describe(x)});
      for (const auto& x : templates)
        rows.push_back({str(x, "uriTemplate"), str(x, "name"), describe(x)});
      print_table(std::cout, {"URI", "NAME", "DESCRIPTION"}, rows, width);
      return exit_ok;
    }
    if (cmd == read) {
      auto r = c.read_resource(ops[0], ro);
      if (!r) return fail(where, r.error());
      if (json_output) {
        std::cout << json::dump(*r) << '\n';
        return exit_ok;
      }
      if (auto contents = json::find_array(*r, "contents"))
        for (const auto& x : *contents) {
          if (!x.is_object()) continue;
          const auto& o = x.get_object();
          if (auto text = json::find_string(o, "text"))
            print_line(std::cout, std::string(*text));
          else if (auto blob = json::find_string(o, "blob"))
            std::cout << "[blob " << str(o, "mimeType") << ", " << decoded_size(*blob)
                      << " bytes]\n";
        }
      return exit_ok;
    }
    if (cmd == prompt) {
      std::map<std::string, std::string> pargs;
      for (const auto& [k, v] : call_args) pargs[k] = describe_value(v);
      for (const auto& it : items) pargs[it.key] = it.raw;
      auto r = c.get_prompt(ops[0], pargs, ro);
      if (!r) return fail(where, r.error());
      if (json_output) {
        std::cout << json::dump(*r) << '\n';
        return exit_ok;
      }
      if (auto msgs = json::find_array(*r, "messages"))
        for (const auto& m : *msgs) {
          if (!m.is_object()) continue;
          auto content = m.get_object().find("content");
          std::string body;
          if (content != m.get_object().end()) {
            if (content->value().is_array()) {
              for (const auto& b : content->value().get_array())
                body += (body.empty() ? "" : "\n") + render_block(b);
            } else {
              body = render_block(content->value());
            }
          }
          print_line(std::cout, str(m.get_object(), "role") + ": " + body);
        }
      return exit_ok;
    }
    // call
    const std::string& tool = ops[0];
    if (!items.empty()) {
      const json::object* properties = nullptr;
      std::vector<json::object> listed;
      bool need_schema =
          std::any_of(items.begin(), items.end(), [](const arg_item& i) { return !i.force_json; });
      if (need_schema) {
        if (auto l = c.list_tools()) listed = std::move(*l);
        for (const auto& t : listed)
          if (str(t, "name") == tool)
            if (auto s = json::find_object(t, "inputSchema"))
              properties = json::find_object(*s, "properties");
      }
      for (const auto& it : items) {
        if (it.force_json) {
          auto v = parse_json(it.raw);
          if (!v) throw usage_error("--arg " + it.key + ":= expects JSON, got " + it.raw);
          call_args[it.key] = std::move(*v);
          continue;
        }
        const json::object* property =
            properties ? json::find_object(*properties, it.key) : nullptr;
        call_args[it.key] = argument_value(it.raw, property);
      }
    }
    auto r = c.call_tool(tool, call_args, ro);
    if (!r) return fail(where, r.error());
    bool is_error = json::find_bool(*r, "isError").value_or(false);
    if (json_output) {
      std::cout << json::dump(*r) << '\n';
      return is_error ? exit_tool_error : exit_ok;
    }
    std::ostream& out = is_error ? std::cerr : std::cout;
    const json::value* structured = nullptr;
    if (auto s = r->find("structuredContent"); s != r->end()) structured = &s->value();
    if (auto content = json::find_array(*r, "content"))
      for (const auto& b : *content) {
        if (structured && b.is_object() && str(b.get_object(), "type") == "text") {
          auto v = parse_json(str(b.get_object(), "text"));
          if (v && *v == *structured) continue;  // the text mirror of structuredContent
        }
        print_line(out, render_block(b));
      }
    if (structured) print_line(out, pretty(*structured));
    return is_error ? exit_tool_error : exit_ok;
  }
};

client_commands::client_commands(CLI::App& app) : s_(std::make_unique<state>()) {
  auto& s = *s_;
  s.tools = app.add_subcommand("tools", "List a server's tools");
  s.add_common(s.tools, "[URL] (or `-- COMMAND ARGS…` at the end)");
  s.call = app.add_subcommand("call", "Call a tool and print its result");
  s.add_common(s.call, "[URL] TOOL");
  s.call
      ->add_option("--arg", s.args,
                   "Argument KEY=VALUE (JSON when it parses as a number, boolean, null, object or "
                   "array, else a string; the tool's schema decides) or KEY:=JSON (repeatable)")
      ->allow_extra_args(false);
  s.call->add_option("--args", s.args_json,
                     "All arguments as one JSON object (`--json '{…}'` means the same)");
  s.resources = app.add_subcommand("resources", "List a server's resources and templates");
  s.add_common(s.resources, "[URL]");
  s.read = app.add_subcommand("read", "Read a resource");
  s.add_common(s.read, "[URL] URI");
  s.prompts = app.add_subcommand("prompts", "List a server's prompts");
  s.add_common(s.prompts, "[URL]");
  s.prompt = app.add_subcommand("prompt", "Get a prompt with arguments");
  s.add_common(s.prompt, "[URL] NAME");
  s.prompt->add_option("--arg", s.args, "Argument KEY=VALUE (repeatable)")->allow_extra_args(false);
  s.prompt->add_option("--args", s.args_json, "All arguments as one JSON object");
}

client_commands::~client_commands() = default;

void client_commands::set_server_command(std::vector<std::string> command, bool given) {
  s_->server_command = std::move(command);
  s_->has_command = given;
}

bool client_commands::parsed() const {
  return s_->chosen() != nullptr;
}

int client_commands::run() {
  try {
    return s_->run();
  } catch (const usage_error& e) {
    std::cerr << "plexus: " << e.what() << "\nRun with --help for more information.\n";
    return exit_usage;
  }
}

}  // namespace plexus::cli
