// The `plexus` command.
#include "client_commands.hpp"
#include "conformance_client.hpp"
#include "gateway_command.hpp"
#include "init_command.hpp"
#include "login_command.hpp"
#include "serve.hpp"
#include "server_command.hpp"

#include "plexus/server/server.hpp"
#include "plexus/servers/everything.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <malloc.h>
#if PLEXUS_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

void log_to_stderr(const std::string& level) {
  // stdout belongs to the protocol on stdio: every log line goes to stderr.
  auto logger = spdlog::stderr_color_mt("plexus");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

// The allocator that serves malloc in this process, for --version: with mimalloc linked, a
// block from plain calloc() lies in its heap unless something (a preload, a sanitizer) took
// malloc over before it.
std::string allocator_name() {
#if PLEXUS_WITH_MIMALLOC
  void* probe = std::calloc(1, 16);
  bool ours = mi_is_in_heap_region(probe);
  std::free(probe);
  if (ours) {
    int v = mi_version();
    return "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
           std::to_string(v % 10);
  }
  return "a preloaded malloc";
#else
  return "system malloc";
#endif
}

#if !PLEXUS_WITH_MIMALLOC
void tune_system_malloc() {
  // glibc's default of 8 malloc arenas per core let memory that one thread freed be
  // trimmed and faulted in again by the next: halved 64 KiB-payload throughput. One
  // arena per core (at least 2) keeps big buffers warm and still spreads contention.
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  // Messages of tens of KiB (a 64 KiB echo) were allocated and freed per request at the top
  // of an arena, which glibc gave back to the system past 128 KiB only to fault it in again
  // for the next request (~5% of a 64 KiB echo server's time in page faults). Up to 4 MiB
  // free per arena now stays mapped, and blocks up to 4 MiB come from the arenas. (glibc's
  // own adaptive thresholds never move for blocks under 128 KiB.)
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
}
#endif

}  // namespace

int main(int argc, char** argv) {
#if !PLEXUS_WITH_MIMALLOC
  tune_system_malloc();
#endif
  CLI::App app{"Plexus: a fast, secure Model Context Protocol SDK, gateway and servers", "plexus"};
  app.set_version_flag("--version", [] {
    return std::string("plexus ") + PLEXUS_VERSION + " (" + allocator_name() + ")";
  });
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (logs go to stderr)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  auto* everything = app.add_subcommand(
      "everything", "Serve the everything server: every MCP feature in both protocol eras");
  plexus::cli::serve_options serve_opts;
  std::size_t workers = 8;
  bool expose_errors = false;
  plexus::cli::add_serve_options(*everything, serve_opts);
  everything->add_option("--workers", workers, "Handler threads")->capture_default_str();
  everything->add_flag("--expose-errors", expose_errors,
                       "Show handler exception messages to clients");
  std::size_t extra_tools = 0;
  everything
      ->add_option("--extra-tools", extra_tools,
                   "Also serve N plain tools extra_0001… (echo their arguments; for list "
                   "benchmarks)")
      ->check(CLI::Range(0, 100000));

  // server NAME: one built-in server (server_command.cpp).
  auto* server_cmd = plexus::cli::add_server_command(app);

  // tools, call, resources, read, prompts, prompt: the client side (client_commands.cpp).
  plexus::cli::client_commands client(app);
  plexus::cli::add_conformance_client_command(app);
  plexus::cli::gateway_commands gateway_cmds(app);  // gateway, run (gateway_command.cpp)
  plexus::cli::login_commands login(app);
  auto* init_cmd = plexus::cli::add_init_command(app);  // init (init_command.cpp)
  auto prepared = plexus::cli::prepare_args(argc, argv);
  client.set_server_command(prepared.server_command, prepared.has_server_command);
  std::vector<char*> args;
  for (auto& a : prepared.args) args.push_back(a.data());
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // Usage errors of the client commands exit 2 (the `everything` codes are unchanged).
    return prepared.client_command && rc != 0 ? 2 : rc;
  }
  log_to_stderr(log_level);

  if (everything->parsed()) {
    plexus::server::server_options opts;
    opts.worker_threads = workers;
    opts.expose_internal_errors = expose_errors;
    auto srv = plexus::servers::make_everything_server(opts);
    for (std::size_t i = 1; i <= extra_tools; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "extra_%04zu", i);
      plexus::protocol::tool t;
      t.name = name;
      t.description = "Extra tool " + std::to_string(i) + ": echoes its text argument";
      t.input_schema = plexus::json::object{
          {"type", "object"},
          {"properties",
           plexus::json::object{{"text", plexus::json::object{{"type", "string"},
                                                              {"description", "Text to echo"}}}}}};
      srv->add_tool(
          t,
          [](plexus::server::context&, const plexus::json::object& args) {
            auto text = plexus::json::find_string(args, "text");
            return plexus::server::tool_result::text(text ? std::string(*text) : std::string());
          },
          plexus::server::tool_dispatch::direct);
    }
    return plexus::cli::serve(*srv, serve_opts);
  }
  if (plexus::cli::parsed(*server_cmd)) return plexus::cli::run_server_command(*server_cmd);
  if (client.parsed()) return client.run();
  if (gateway_cmds.parsed()) return gateway_cmds.run();
  if (login.parsed()) return login.run();
  if (plexus::cli::parsed(*init_cmd)) return plexus::cli::run_init_command(*init_cmd);
  return 0;
}
