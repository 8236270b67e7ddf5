#include "plexus/servers/builtin.hpp"

#include "plexus/servers/database.hpp"
#include "plexus/servers/everything.hpp"
#include "plexus/servers/filesystem.hpp"
#include "plexus/servers/knowledge.hpp"
#include "plexus/servers/memory.hpp"
#include "plexus/servers/wallet.hpp"
#include "plexus/servers/wallet_postgres.hpp"
#include "plexus/servers/weather.hpp"

#include <filesystem>
#include <fstream>

namespace plexus::servers {
namespace {

struct builtin_entry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<server::server> (*make)(const builtin_settings&, server::server_options);
};

std::string in_data_dir(const builtin_settings& s, const std::string& file) {
  std::filesystem::create_directories(s.data_dir);
  return (std::filesystem::path(s.data_dir) / file).string();
}

std::unique_ptr<server::server> make_weather(const builtin_settings& s, server::server_options o) {
  weather_config wc;
  wc.base_url = s.weather_url;
  wc.geocoding_url = s.geocoding_url;
  wc.redis_url = s.redis_url;
  if (s.cache_seconds < 0) throw builtin_error("weather: cache_seconds must be >= 0");
  wc.cache_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(s.cache_seconds * 1000));
  return make_weather_server(wc, std::move(o));
}

std::unique_ptr<server::server> make_database(const builtin_settings& s, server::server_options o) {
  database_config dc;
  dc.allow_writes = s.allow_writes;
  dc.max_rows = s.max_rows;
  if (!s.postgres.empty()) {
    if (!s.database.empty()) throw builtin_error("database: give either database or postgres");
    std::shared_ptr<sql::sql_backend> backend = sql::open_postgres(s.postgres, dc);
    auto srv = std::make_unique<server::server>(
        protocol::implementation{
            .name = "plexus-database", .version = PLEXUS_VERSION, .title = "Database (PostgreSQL)"},
        std::move(o));
    register_database(*srv, std::move(backend), dc);
    return srv;
  }
  dc.sqlite_path = s.database.empty() ? in_data_dir(s, "database.db") : s.database;
  // A read-only server over the default database, before anything created it, starts
  // with an empty one (a zero-byte file is an empty SQLite database). A --database that
  // does not exist stays an error: it is more likely a typo.
  if (s.database.empty() && !dc.allow_writes && !std::filesystem::exists(dc.sqlite_path))
    std::ofstream(dc.sqlite_path, std::ios::app);
  return make_database_server(dc, std::move(o));
}

std::unique_ptr<server::server> make_filesystem(const builtin_settings& s,
                                                server::server_options o) {
  filesystem_config fc;
  fc.roots = s.roots;
  if (fc.roots.empty()) fc.roots.push_back(std::filesystem::current_path().string());
  fc.max_read_bytes = s.max_file_bytes;
  fc.max_write_bytes = s.max_file_bytes;
  fc.read_only = s.read_only;
  return make_filesystem_server(std::move(fc), std::move(o));
}

std::unique_ptr<server::server> make_knowledge(const builtin_settings& s,
                                               server::server_options o) {
  knowledge_config kc;
  kc.database_path =
      s.knowledge_database.empty() ? in_data_dir(s, "knowledge.db") : s.knowledge_database;
  kc.ingest_roots = s.ingest;
  kc.embeddings_url = s.embeddings_url;
  kc.embeddings_model = s.embeddings_model;
  kc.embeddings_api_key = s.embeddings_api_key;
  try {
    return make_knowledge_server(std::move(kc), std::move(o));
  } catch (const std::invalid_argument& e) {
    throw builtin_error(e.what());
  }
}

std::unique_ptr<server::server> make_memory(const builtin_settings& s, server::server_options o) {
  return make_memory_server({.database_path = in_data_dir(s, "memory.db")}, std::move(o));
}

std::unique_ptr<server::server> make_wallet(const builtin_settings& s, server::server_options o) {
  wallet_config wc;
  if (!s.postgres.empty()) {
    if (!s.wallet_database.empty())
      throw builtin_error("wallet: give --wallet-database or --postgres, not both");
    std::shared_ptr<wallet::ledger_store> store = wallet::open_postgres_ledger(s.postgres, wc);
    if (!o.instructions)
      o.instructions =
          "A wallet: accounts of one currency each, deposits and transfers in integer minor "
          "units (cents), recorded in a double-entry ledger in PostgreSQL. Give every transfer an "
          "idempotency_key and reuse it when retrying.";
    auto srv = std::make_unique<server::server>(
        protocol::implementation{.name = "plexus-wallet",
                                 .version = PLEXUS_VERSION,
                                 .title = "Plexus Wallet Server (PostgreSQL)"},
        std::move(o));
    register_wallet(*srv, std::move(store));
    return srv;
  }
  wc.database_path = s.wallet_database.empty() ? in_data_dir(s, "wallet.db") : s.wallet_database;
  return make_wallet_server(std::move(wc), std::move(o));
}

std::unique_ptr<server::server> make_everything(const builtin_settings&, server::server_options o) {
  return make_everything_server(std::move(o));
}

// The order is the order of `plexus run` and of help texts.
const builtin_entry entries[] = {
    {"weather", "current conditions, forecasts and geocoding (Open-Meteo compatible)",
     make_weather},
    {"database", "SQL over SQLite or PostgreSQL: query, execute, list_tables, describe_table",
     make_database},
    {"filesystem", "files under allowed roots: read, write, edit, list, search, move",
     make_filesystem},
    {"wallet",
     "accounts, deposits and idempotent transfers in a double-entry ledger (SQLite or PostgreSQL)",
     make_wallet},
    {"knowledge", "retrieval over Markdown/text documents: BM25, vector and hybrid search",
     make_knowledge},
    {"memory", "a persistent knowledge graph of entities, relations and observations", make_memory},
    {"everything", "the conformance fixture: every MCP feature in one server", make_everything},
};

}  // namespace

std::vector<std::string> builtin_server_names() {
  std::vector<std::string> names;
  for (const auto& e : entries) names.emplace_back(e.name);
  return names;
}

std::string builtin_server_summary(std::string_view name) {
  for (const auto& e : entries)
    if (e.name == name) return std::string(e.summary);
  return {};
}

std::unique_ptr<server::server> make_builtin_server(std::string_view name,
                                                    const builtin_settings& settings,
                                                    server::server_options options) {
  for (const auto& e : entries)
    if (e.name == name) return e.make(settings, std::move(options));
  std::string known;
  for (const auto& e : entries) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw builtin_error("unknown built-in server '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace plexus::servers
