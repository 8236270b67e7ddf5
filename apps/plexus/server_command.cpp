#include "server_command.hpp"

#include "serve.hpp"

#include "plexus/servers/database.hpp"
#include "plexus/servers/everything.hpp"
#include "plexus/servers/filesystem.hpp"
#include "plexus/servers/memory.hpp"
#include "plexus/servers/weather.hpp"

#include <filesystem>
#include <iostream>

namespace plexus::cli {

struct server_command {
  CLI::App* app = nullptr;
  std::string name;
  serve_options transport;
  std::size_t workers = 8;
  // filesystem
  std::vector<std::string> roots;
  bool read_only = false;
  std::size_t max_file_bytes = 10 * 1024 * 1024;
  // memory / database
  std::string data_dir = "plexus-data";
  std::string database;
  bool allow_writes = false;
  std::size_t max_rows = 1000;
  // weather
  std::string weather_url = "https://api.open-meteo.com";
  std::string geocoding_url = "https://geocoding-api.open-meteo.com";
  double cache_seconds = 300;
};

server_command* add_server_command(CLI::App& app) {
  static server_command cmd;
  cmd.app = app.add_subcommand("server",
                               "Serve one built-in server: filesystem, memory, "
                               "weather, database or everything");
  cmd.app->add_option("name", cmd.name, "filesystem | memory | weather | database | everything")
      ->required()
      ->check(CLI::IsMember({"filesystem", "memory", "weather", "database", "everything"}));
  add_serve_options(*cmd.app, cmd.transport);
  cmd.app->add_option("--workers", cmd.workers, "Handler threads")->capture_default_str();
  cmd.app->add_option("--root", cmd.roots, "filesystem: an allowed directory (repeatable)");
  cmd.app->add_flag("--read-only", cmd.read_only, "filesystem: register no writing tools");
  cmd.app->add_option("--max-file-bytes", cmd.max_file_bytes, "filesystem: read/write size limit")
      ->capture_default_str();
  cmd.app
      ->add_option("--data-dir", cmd.data_dir,
                   "memory/database: where SQLite files live (memory.db, database.db)")
      ->capture_default_str();
  cmd.app->add_option("--database", cmd.database,
                      "database: the SQLite file (default DATA_DIR/database.db)");
  cmd.app->add_flag("--allow-writes", cmd.allow_writes, "database: register the execute tool");
  cmd.app->add_option("--max-rows", cmd.max_rows, "database: rows returned per query")
      ->capture_default_str();
  cmd.app
      ->add_option("--weather-url", cmd.weather_url, "weather: Open-Meteo-compatible forecast API")
      ->capture_default_str();
  cmd.app->add_option("--geocoding-url", cmd.geocoding_url, "weather: geocoding API")
      ->capture_default_str();
  cmd.app->add_option("--cache-seconds", cmd.cache_seconds, "weather: response cache TTL (0: off)")
      ->capture_default_str();
  return &cmd;
}

bool parsed(const server_command& cmd) {
  return cmd.app && cmd.app->parsed();
}

int run_server_command(server_command& cmd) {
  server::server_options opts;
  opts.worker_threads = cmd.workers;
  std::unique_ptr<server::server> srv;
  try {
    if (cmd.name == "filesystem") {
      if (cmd.roots.empty()) cmd.roots.push_back(std::filesystem::current_path().string());
      srv = servers::make_filesystem_server({.roots = cmd.roots,
                                             .max_read_bytes = cmd.max_file_bytes,
                                             .max_write_bytes = cmd.max_file_bytes,
                                             .read_only = cmd.read_only},
                                            opts);
    } else if (cmd.name == "memory" || cmd.name == "database") {
      std::filesystem::create_directories(cmd.data_dir);
      if (cmd.name == "memory") {
        srv = servers::make_memory_server({.database_path = cmd.data_dir + "/memory.db"}, opts);
      } else {
        servers::database_config dc;
        dc.sqlite_path = cmd.database.empty() ? cmd.data_dir + "/database.db" : cmd.database;
        dc.allow_writes = cmd.allow_writes;
        dc.max_rows = cmd.max_rows;
        srv = servers::make_database_server(dc, opts);
      }
    } else if (cmd.name == "weather") {
      servers::weather_config wc;
      wc.base_url = cmd.weather_url;
      wc.geocoding_url = cmd.geocoding_url;
      wc.cache_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(cmd.cache_seconds * 1000));
      srv = servers::make_weather_server(wc, opts);
    } else {
      srv = servers::make_everything_server(opts);
    }
  } catch (const std::exception& e) {
    std::cerr << "plexus server " << cmd.name << ": " << e.what() << std::endl;
    return 1;
  }
  return serve(*srv, cmd.transport);
}

}  // namespace plexus::cli
