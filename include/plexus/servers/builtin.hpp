// The built-in servers by name: one factory used by `plexus server NAME`, by the
// gateway's in-process upstreams (`builtin: NAME` in plexus.yaml) and by
// `plexus run`. Every setting of every built-in server lives in builtin_settings
// so that the CLI flags and the config file's `options:` map onto one struct.
//
// Thread-safety: the functions are pure factories; the servers they return are as
// plexus::server::server.
#pragma once

#include "plexus/server/server.hpp"

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers {

struct builtin_settings {
  // Where SQLite files live (memory.db, database.db, wallet.db, knowledge.db).
  std::string data_dir = "plexus-data";
  // filesystem
  std::vector<std::string> roots;  // empty: the current directory
  bool read_only = false;
  std::size_t max_file_bytes = 10 * 1024 * 1024;
  // database
  std::string database;  // SQLite file; empty: DATA_DIR/database.db
  std::string postgres;  // libpq connection string; when set, PostgreSQL instead of SQLite
  bool allow_writes = false;
  std::size_t max_rows = 1000;
  // weather
  std::string weather_url = "https://api.open-meteo.com";
  std::string geocoding_url = "https://geocoding-api.open-meteo.com";
  double cache_seconds = 300;
  std::string redis_url;  // redis://host:port/db; empty: in-memory cache
  // wallet
  std::string wallet_database;  // SQLite file; empty: DATA_DIR/wallet.db
  // knowledge
  std::string knowledge_database;  // SQLite file; empty: DATA_DIR/knowledge.db
  std::string embeddings_url;      // OpenAI-compatible base URL; empty: BM25 only
  std::string embeddings_model = "text-embedding-3-small";
  std::string embeddings_api_key;
  std::vector<std::string> ingest;  // files or folders ingested at start
};

// Thrown when a setting is invalid for the chosen server.
class builtin_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "weather", "database", "filesystem", "wallet", "knowledge", "memory", "everything".
std::vector<std::string> builtin_server_names();

// A one-line description of a built-in server, for help texts ("" when unknown).
std::string builtin_server_summary(std::string_view name);

// Builds the named server (creating DATA_DIR when it needs it). Throws
// builtin_error for an unknown name or a bad setting, and whatever the server's own
// factory throws when it cannot start (e.g. a database that cannot be opened).
std::unique_ptr<server::server> make_builtin_server(std::string_view name,
                                                    const builtin_settings& settings,
                                                    server::server_options options = {});

}  // namespace plexus::servers
