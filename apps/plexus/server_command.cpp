#include "server_command.hpp"

#include "serve.hpp"

#include "plexus/servers/builtin.hpp"

#include <cstdlib>
#include <iostream>

namespace plexus::cli {

struct server_command {
  CLI::App* app = nullptr;
  std::string name;
  serve_options transport;
  std::size_t workers = 8;
  servers::builtin_settings settings;
};

server_command* add_server_command(CLI::App& app) {
  static server_command cmd;
  auto names = servers::builtin_server_names();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : " | ") + n;
  cmd.app = app.add_subcommand("server", "Serve one built-in server: " + list);
  cmd.app->add_option("name", cmd.name, list)->required()->check(CLI::IsMember(names));
  add_serve_options(*cmd.app, cmd.transport);
  cmd.app->add_option("--workers", cmd.workers, "Handler threads")->capture_default_str();
  add_builtin_options(*cmd.app, cmd.settings);
  return &cmd;
}

void add_builtin_options(CLI::App& app, servers::builtin_settings& s) {
  app.add_option("--data-dir", s.data_dir,
                 "Where SQLite files live (memory.db, database.db, wallet.db, knowledge.db)")
      ->capture_default_str();
  app.add_option("--root", s.roots, "filesystem: an allowed directory (repeatable)");
  app.add_flag("--read-only", s.read_only, "filesystem: register no writing tools");
  app.add_option("--max-file-bytes", s.max_file_bytes, "filesystem: read/write size limit")
      ->capture_default_str();
  app.add_option("--database", s.database,
                 "database: the SQLite file (default DATA_DIR/database.db)");
  app.add_option("--postgres", s.postgres,
                 "database/wallet: a libpq connection string (PostgreSQL instead of SQLite)");
  app.add_flag("--allow-writes", s.allow_writes, "database: register the execute tool");
  app.add_option("--max-rows", s.max_rows, "database: rows returned per query")
      ->capture_default_str();
  app.add_option("--weather-url", s.weather_url, "weather: Open-Meteo-compatible forecast API")
      ->capture_default_str();
  app.add_option("--geocoding-url", s.geocoding_url, "weather: geocoding API")
      ->capture_default_str();
  app.add_option("--cache-seconds", s.cache_seconds, "weather: response cache TTL (0: off)")
      ->capture_default_str();
  app.add_option("--redis-url", s.redis_url, "weather: cache in Redis (redis://HOST:PORT/DB)");
  app.add_option("--wallet-database", s.wallet_database,
                 "wallet: the SQLite file (default DATA_DIR/wallet.db)");
  app.add_option("--knowledge-database", s.knowledge_database,
                 "knowledge: the SQLite file (default DATA_DIR/knowledge.db)");
  app.add_option("--embeddings-url", s.embeddings_url,
                 "knowledge: OpenAI-compatible embeddings API base URL (vector search)");
  app.add_option("--embeddings-model", s.embeddings_model, "knowledge: embeddings model")
      ->capture_default_str();
  app.add_option("--ingest", s.ingest,
                 "knowledge: a file or folder to ingest at start (repeatable)");
}

bool parsed(const server_command& cmd) {
  return cmd.app && cmd.app->parsed();
}

int run_server_command(server_command& cmd) {
  server::server_options opts;
  opts.worker_threads = cmd.workers;
  if (const char* key = std::getenv("PLEXUS_EMBEDDINGS_API_KEY"))
    cmd.settings.embeddings_api_key = key;
  std::unique_ptr<server::server> srv;
  try {
    srv = servers::make_builtin_server(cmd.name, cmd.settings, opts);
  } catch (const std::exception& e) {
    std::cerr << "plexus server " << cmd.name << ": " << e.what() << std::endl;
    return 1;
  }
  return serve(*srv, cmd.transport);
}

}  // namespace plexus::cli
