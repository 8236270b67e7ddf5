// The `plexus` command.
#include "plexus/servers/everything.hpp"
#include "plexus/transport/stdio.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <iostream>

namespace {

void log_to_stderr(const std::string& level) {
  // stdout belongs to the protocol on stdio: every log line goes to stderr.
  auto logger = spdlog::stderr_color_mt("plexus");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Plexus: a fast, secure Model Context Protocol SDK, gateway and servers", "plexus"};
  app.set_version_flag("--version", std::string("plexus ") + PLEXUS_VERSION);
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (logs go to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  auto* everything = app.add_subcommand(
      "everything", "Serve the everything server (every MCP feature, both protocol eras)");
  bool use_stdio = false;
  std::size_t max_message = 4 * 1024 * 1024;
  std::size_t workers = 8;
  bool expose_errors = false;
  everything->add_flag("--stdio", use_stdio,
                       "Serve over stdin/stdout (newline-delimited JSON-RPC)");
  everything->add_option("--max-message-bytes", max_message, "Largest accepted message")
      ->capture_default_str();
  everything->add_option("--workers", workers, "Handler threads")->capture_default_str();
  everything->add_flag("--expose-errors", expose_errors,
                       "Show handler exception messages to clients");

  CLI11_PARSE(app, argc, argv);
  log_to_stderr(log_level);

  if (everything->parsed()) {
    if (!use_stdio) {
      std::cerr << "plexus everything: choose a transport (--stdio)\n";
      return 2;
    }
    plexus::server::server_options opts;
    opts.worker_threads = workers;
    opts.expose_internal_errors = expose_errors;
    auto srv = plexus::servers::make_everything_server(opts);
    plexus::transport::stdio_options so;
    so.max_message_bytes = max_message;
    return plexus::transport::serve_stdio(*srv, so);
  }
  return 0;
}
