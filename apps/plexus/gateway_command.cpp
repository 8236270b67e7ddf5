#include "gateway_command.hpp"

#include "plexus/gateway/config.hpp"
#include "plexus/gateway/gateway.hpp"
#include "plexus/gateway/operations.hpp"
#include "plexus/transport/http_server.hpp"
#include "plexus/transport/stdio.hpp"

#include <spdlog/spdlog.h>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

namespace plexus::cli {
namespace {

struct listen_options {
  std::string http;  // HOST:PORT
  bool stdio = false;
  std::string tls_cert, tls_key, tls_client_ca;
  std::vector<std::string> allowed_hosts, allowed_origins;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  double shutdown_grace_seconds = 5;
};

void add_listen_options(CLI::App& cmd, listen_options& o) {
  cmd.add_option(
      "--http", o.http,
      "Serve the gateway over HTTP on HOST:PORT (default: gateway.listen of the config)");
  cmd.add_flag("--stdio", o.stdio, "Serve the gateway over stdin/stdout");
  cmd.add_option("--tls-cert", o.tls_cert, "TLS certificate chain (PEM) for --http");
  cmd.add_option("--tls-key", o.tls_key, "TLS private key (PEM)");
  cmd.add_option("--tls-client-ca", o.tls_client_ca, "Require client certificates (mTLS)");
  cmd.add_option("--allowed-host", o.allowed_hosts, "Extra Host header value to accept");
  cmd.add_option("--allowed-origin", o.allowed_origins, "Extra Origin to accept");
  cmd.add_option("--max-message-bytes", o.max_message_bytes, "Largest accepted message")
      ->capture_default_str();
  cmd.add_option("--shutdown-grace-seconds", o.shutdown_grace_seconds,
                 "On SIGTERM/SIGINT, how long calls in flight may take to finish")
      ->capture_default_str();
}

std::pair<std::string, std::uint16_t> host_port(const std::string& s) {
  std::string host = "127.0.0.1", port = s;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 2 > s.size())
      throw std::invalid_argument("expected [HOST]:PORT, got " + s);
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else if (auto colon = s.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  int p = -1;
  try {
    p = std::stoi(port);
  } catch (...) {
  }
  if (p < 0 || p > 65535) throw std::invalid_argument("invalid port in " + s);
  return {host, static_cast<std::uint16_t>(p)};
}

void print_upstreams(std::ostream& out, const gateway::gateway& gw) {
  auto sep = gw.config().separator;
  // An upstream mounted with `prefix: ""` keeps its tools' own names.
  auto shown = [&](const std::string& prefix) {
    return prefix.empty() ? std::string("(none)") : prefix + sep + "*";
  };
  std::size_t w_name = 8, w_prefix = 6;
  auto status = gw.status();
  for (const auto& s : status) {
    w_name = std::max(w_name, s.name.size());
    w_prefix = std::max(w_prefix, shown(s.prefix).size());
  }
  auto pad = [](std::string s, std::size_t w) {
    s.resize(std::max(w, s.size()), ' ');
    return s;
  };
  out << "  " << pad("upstream", w_name) << "  " << pad("prefix", w_prefix) << "  "
      << pad("kind", 9) << "  " << pad("state", 8) << "  tools  resources  prompts\n";
  for (const auto& s : status) {
    out << "  " << pad(s.name, w_name) << "  " << pad(shown(s.prefix), w_prefix) << "  "
        << pad(s.kind, 9) << "  " << pad(s.state, 8) << "  " << pad(std::to_string(s.tools), 5)
        << "  " << pad(std::to_string(s.resources + s.resource_templates), 9) << "  " << s.prompts
        << "\n";
    if (!s.last_error.empty() && s.state != "ready")
      out << "      " << s.name << ": " << s.last_error << "\n";
  }
}

class signal_set {
 public:
  // Blocks these signals in this thread and every thread started later (call first).
  signal_set() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  int wait() {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }

 private:
  sigset_t set_;
};

// Serves `gw` until SIGINT/SIGTERM (or EOF on stdio); SIGHUP and changes of
// `config_path` reload the configuration.
int serve_gateway(signal_set& signals, gateway::gateway& gw, const listen_options& lo,
                  const std::string& config_path, bool print_connect_help) {
  std::string http = lo.http.empty() ? gw.config().listen_http : lo.http;
  if (http.empty() && !lo.stdio) {
    std::cerr << "plexus gateway: choose --http HOST:PORT or --stdio (or set gateway.listen)\n";
    return 2;
  }
  gateway::operations ops(gw);
  std::unique_ptr<transport::http_server> hs;
  std::string url;
  gw.start();
  try {
    if (!http.empty()) {
      transport::http_server_options h;
      auto [host, port] = host_port(http);
      h.host = host;
      h.port = port;
      h.tls_cert_file = lo.tls_cert;
      h.tls_key_file = lo.tls_key;
      h.tls_client_ca_file = lo.tls_client_ca;
      h.allowed_hosts = lo.allowed_hosts;
      h.allowed_origins = lo.allowed_origins;
      for (const auto& a : gw.config().allowed_hosts) h.allowed_hosts.push_back(a);
      for (const auto& a : gw.config().allowed_origins) h.allowed_origins.push_back(a);
      h.max_body_bytes = lo.max_message_bytes;
      h.access_log = ops.access_logger(stderr);
      hs = std::make_unique<transport::http_server>(gw.endpoint(), h);
      ops.mount(*hs);
      hs->start();
      std::string host_shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
      url = (lo.tls_cert.empty() ? "http://" : "https://") + host_shown + ":" +
            std::to_string(hs->port());
    }
  } catch (const std::exception& e) {
    std::cerr << "plexus gateway: " << e.what() << std::endl;
    gw.stop();
    return 1;
  }

  std::cerr << "plexus: gateway with " << gw.tools().size() << " tools from " << gw.status().size()
            << " upstreams\n";
  print_upstreams(std::cerr, gw);
  for (const auto& p : gw.problems()) std::cerr << "  problem: " << p << "\n";
  if (!url.empty()) {
    std::cerr << "plexus: serving MCP on " << url
              << "/mcp (Streamable HTTP, both eras; HTTP+SSE at /sse; WebSocket at /ws)\n";
    for (auto& [name, srv] : gw.virtual_endpoints())
      std::cerr << "plexus: virtual server '" << name << "' on " << url << "/servers/" << name
                << "/mcp\n";
    std::cerr << "plexus: health " << url << "/health, readiness " << url << "/ready, metrics "
              << url << "/metrics";
    if (gw.config().rest_api)
      std::cerr << ", REST " << url << "/api/tools (OpenAPI " << url << "/api/openapi.json)";
    std::cerr << "\n";
    if (print_connect_help) {
      std::cerr << "\nConnect a client:\n"
                << "  plexus CLI:      plexus tools " << url << "/mcp\n"
                << "                   plexus call " << url
                << "/mcp weather_get_forecast --arg location=\"San Francisco\" --arg days=3\n"
                << "  MCP Inspector:   npx @modelcontextprotocol/inspector, transport "
                   "\"Streamable HTTP\", URL "
                << url << "/mcp\n"
                << "  Claude Desktop:  in claude_desktop_config.json,\n"
                << "                   {\"mcpServers\": {\"plexus\": {\"command\": \"plexus\", "
                   "\"args\": [\"run\", \"--stdio\"]}}}\n\n";
    }
  }
  std::cerr << std::flush;

  std::mutex reload_mu;
  auto reload = [&](const char* why) {
    if (config_path.empty()) return;
    std::lock_guard lk(reload_mu);
    try {
      gw.reload(gateway::load_config(config_path));
      spdlog::info("gateway: configuration reloaded ({})", why);
    } catch (const gateway::config_error& e) {
      spdlog::error("gateway: reload refused, keeping the running configuration: {}", e.what());
    }
  };
  std::atomic<bool> done{false};
  std::thread watcher;
  if (!config_path.empty()) {
    watcher = std::thread([&] {
      std::error_code ec;
      auto seen = std::filesystem::last_write_time(config_path, ec);
      while (!done.load()) {
        for (int i = 0; i < 10 && !done.load(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto now = std::filesystem::last_write_time(config_path, ec);
        if (!ec && now != seen) {
          seen = now;
          reload("the file changed");
        }
      }
    });
  }

  int rc = 0;
  if (lo.stdio) {
    // Signals on their own thread; stdio ends at EOF.
    std::thread sig_thread([&] {
      for (;;) {
        int sig = signals.wait();
        if (sig == SIGHUP) {
          reload("SIGHUP");
          continue;
        }
        if (done.load()) return;
        spdlog::info("signal {}: shutting down", sig);
        if (hs) hs->stop(std::chrono::milliseconds(0));
        gw.stop();
        std::_Exit(0);
      }
    });
    sig_thread.detach();
    transport::stdio_options so;
    so.max_message_bytes = lo.max_message_bytes;
    rc = transport::serve_stdio(gw.endpoint(), so);
  } else {
    for (;;) {
      int sig = signals.wait();
      if (sig == SIGHUP) {
        reload("SIGHUP");
        continue;
      }
      spdlog::info("signal {}: shutting down", sig);
      break;
    }
  }
  done.store(true);
  if (watcher.joinable()) watcher.join();
  if (hs)
    hs->stop(
        std::chrono::milliseconds(static_cast<std::int64_t>(lo.shutdown_grace_seconds * 1000)));
  gw.stop();
  return rc;
}

int check_config(const std::string& path, bool json_out) {
  gateway::gateway_config cfg;
  try {
    cfg = gateway::load_config(path);
  } catch (const gateway::config_error& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  std::unique_ptr<gateway::gateway> gw;
  try {
    gw = std::make_unique<gateway::gateway>(cfg);
  } catch (const gateway::config_error& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
  gw->start();
  auto tools = gw->tools();
  auto status = gw->status();
  auto problems = gw->problems();
  bool all_up = gw->ready();
  if (json_out) {
    json::array t, u, p;
    for (const auto& x : tools)
      t.push_back(json::object{{"name", x.name}, {"upstream", x.upstream}, {"tool", x.original}});
    for (const auto& s : status) {
      json::object o{
          {"name", s.name}, {"prefix", s.prefix}, {"state", s.state}, {"tools", s.tools}};
      if (!s.last_error.empty()) o["error"] = s.last_error;
      u.push_back(std::move(o));
    }
    for (const auto& x : problems) p.push_back(json::value(x));
    std::cout
        << json::dump(json::object{
               {"config", path}, {"valid", true}, {"upstreams", u}, {"tools", t}, {"problems", p}})
        << std::endl;
  } else {
    std::cout << path << ": valid; " << status.size() << " upstreams, " << tools.size()
              << " federated tools\n";
    print_upstreams(std::cout, *gw);
    std::size_t w = 4;
    for (const auto& x : tools) w = std::max(w, x.name.size());
    std::cout << "\n";
    for (const auto& x : tools) {
      std::string n = x.name;
      n.resize(w, ' ');
      std::cout << "  " << n << "  " << x.upstream << " / " << x.original << "\n";
    }
    for (const auto& x : problems) std::cout << "problem: " << x << "\n";
  }
  gw->stop();
  return all_up && problems.empty() ? 0 : 2;
}

}  // namespace

struct gateway_commands::state {
  CLI::App* gateway_cmd = nullptr;
  CLI::App* run_cmd = nullptr;
  std::string config, check;
  bool check_json = false;
  listen_options listen;
  // run
  std::string data_dir = "plexus-data";
  std::string run_config;
  listen_options run_listen;
};

gateway_commands::gateway_commands(CLI::App& app) : s_(std::make_unique<state>()) {
  auto& s = *s_;
  s.gateway_cmd = app.add_subcommand(
      "gateway", "Federate the MCP servers of a config file (plexus.yaml or mcpServers JSON)");
  s.gateway_cmd->add_option("--config", s.config,
                            "plexus.yaml, or a Claude Desktop/Cursor/VS Code "
                            "mcpServers JSON file");
  s.gateway_cmd->add_option("--check", s.check,
                            "Validate this config, start its upstreams, print the federated tools "
                            "and exit (0 ok, 1 invalid, 2 an upstream failed or names collide)");
  s.gateway_cmd->add_flag("--json", s.check_json, "With --check: a JSON report");
  add_listen_options(*s.gateway_cmd, s.listen);
  s.gateway_cmd->callback([&s] {
    if (s.config.empty() == s.check.empty())
      throw CLI::ValidationError("gateway", "give --config FILE or --check FILE");
  });

  s.run_cmd = app.add_subcommand(
      "run",
      "The main job: the gateway with every built-in server mounted (weather_, sqlite_, fs_, "
      "wallet_, knowledge_, memory_), data under --data-dir. Uses ./plexus.yaml when present "
      "(see plexus init)");
  s.run_cmd->add_option("--data-dir", s.data_dir, "Where the built-in servers keep their data")
      ->capture_default_str();
  s.run_cmd->add_option("--config", s.run_config,
                        "A config file instead of ./plexus.yaml or the built-in defaults");
  add_listen_options(*s.run_cmd, s.run_listen);
}

gateway_commands::~gateway_commands() = default;

bool gateway_commands::parsed() const {
  return s_->gateway_cmd->parsed() || s_->run_cmd->parsed();
}

int gateway_commands::run() {
  auto& s = *s_;
  if (s.gateway_cmd->parsed()) {
    if (!s.check.empty()) return check_config(s.check, s.check_json);
    gateway::gateway_config cfg;
    try {
      cfg = gateway::load_config(s.config);
      signal_set signals;  // before any thread starts
      gateway::gateway gw(cfg);
      return serve_gateway(signals, gw, s.listen, s.config, false);
    } catch (const gateway::config_error& e) {
      std::cerr << e.what() << std::endl;
      return 1;
    }
  }
  // plexus run
  std::string path = s.run_config;
  if (path.empty() && std::filesystem::exists("plexus.yaml")) path = "plexus.yaml";
  gateway::gateway_config cfg;
  try {
    if (!path.empty()) {
      std::cerr << "plexus: using " << path << "\n";
      cfg = gateway::load_config(path);
    } else {
      cfg = gateway::parse_config(gateway::default_config_yaml(s.data_dir), "(built-in defaults)");
    }
    for (auto& u : cfg.upstreams)
      if (u.kind == gateway::upstream_kind::builtin)
        for (const auto& r : u.builtin_settings.roots) std::filesystem::create_directories(r);
    std::filesystem::create_directories(cfg.data_dir);
    if (s.run_listen.http.empty() && !s.run_listen.stdio && cfg.listen_http.empty())
      s.run_listen.http = "127.0.0.1:8080";
    signal_set signals;  // before any thread starts
    gateway::gateway gw(cfg);
    return serve_gateway(signals, gw, s.run_listen, path, !s.run_listen.stdio);
  } catch (const gateway::config_error& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "plexus run: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace plexus::cli
