// The database server: SQL over MCP, SQLite today (through the sqlite3 C API), with the
// engine behind an abstract `sql_backend` so another one (PostgreSQL via libpq) can be added.
//
// Tools:
//   query           {sql, params?[]}  one read-only statement; rows as structuredContent
//                   {columns, rows, truncated, row_count} and an aligned text table
//                   (readOnlyHint). Read-only is enforced by the engine: a dedicated read
//                   connection with PRAGMA query_only=ON and an authorizer that refuses ATTACH,
//                   DETACH and setting pragmas, plus sqlite3_stmt_readonly on every statement.
//   execute         {sql, params?[]}  one statement that may write (destructiveHint); only
//                   registered when `allow_writes`.
//   list_tables     tables and views
//   describe_table  {table}  columns, types, NOT NULL, defaults, primary key, CREATE statement
//   health          backend, library version, path, limits; runs SELECT 1
// Every call runs exactly one statement (a second one, e.g. "SELECT 1; DROP TABLE t", is
// refused before anything runs). Parameters are bound, never spliced: JSON null, booleans (0/1),
// integers, numbers and strings map to NULL, INTEGER, INTEGER, REAL and TEXT. At most
// `max_rows` rows are returned (`truncated` tells that more existed); a statement running longer
// than `timeout` is interrupted (sqlite3_progress_handler). BLOB values come back as base64
// strings; non-finite REALs as null.
//
// Thread-safety: the server is as plexus::server::server; each backend connection is used by one
// handler at a time (a mutex per connection).
#pragma once

#include "plexus/json/json.hpp"
#include "plexus/server/server.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus::servers {

struct database_config {
  // A file path; ":memory:" is a private in-memory database shared by the server's connections.
  std::string sqlite_path;
  bool allow_writes = false;  // registers `execute`; also creates the file if missing
  std::size_t max_rows = 1000;
  std::chrono::milliseconds timeout{5'000};  // per statement (also the busy timeout)
};

namespace sql {

// A failure the caller should see (bad SQL, refused statement, time limit, ...).
class sql_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct result_set {
  std::vector<std::string> columns;
  std::vector<json::array> rows;  // JSON scalars, one per column
  bool truncated = false;
  std::optional<std::int64_t> rows_affected;   // execute only
  std::optional<std::int64_t> last_insert_id;  // execute only, when the backend has one
};

struct column_info {
  std::string name;
  std::string type;  // as declared ("" when none)
  bool not_null = false;
  std::optional<std::string> default_value;  // the SQL expression text
  int primary_key = 0;  // 1-based position in the primary key, 0 when not part of it
};

struct table_info {
  std::string name;
  std::string type;  // "table" | "view"
};

struct table_description {
  std::string name;
  std::string type;
  std::vector<column_info> columns;
  std::optional<std::string> sql;  // the CREATE statement, when the backend has it
};

struct backend_health {
  std::string backend;   // "sqlite"
  std::string version;   // library version
  std::string location;  // path or connection target
};

// One SQL engine. Implementations throw sql_error for every failure a caller can cause.
class sql_backend {
 public:
  virtual ~sql_backend() = default;
  // One read-only statement; refuses anything that would write.
  virtual result_set query(const std::string& sql, const json::array& params) = 0;
  // One statement that may write.
  virtual result_set execute(const std::string& sql, const json::array& params) = 0;
  virtual std::vector<table_info> list_tables() = 0;
  // std::nullopt when there is no such table or view.
  virtual std::optional<table_description> describe_table(const std::string& table) = 0;
  virtual backend_health health() = 0;
};

// The SQLite backend (throws sql_error when the database cannot be opened).
std::unique_ptr<sql_backend> open_sqlite(const database_config& config);

// The PostgreSQL backend (libpq) for a connection string ("host=... dbname=..." or a
// postgresql:// URI); config.sqlite_path is ignored. `query` runs in a READ ONLY transaction
// that is rolled back; every statement gets statement_timeout = config.timeout; a small pool of
// connections is reconnected when broken. Throws sql_error when the first connection fails.
// Implemented in postgres_backend.cpp.
std::unique_ptr<sql_backend> open_postgres(const std::string& conninfo,
                                           const database_config& config);

// An aligned text table of a result ("NULL" for nulls), with a row count line.
std::string format_table(const result_set& r);

}  // namespace sql

// Registers the database tools over `backend` on `srv`.
void register_database(server::server& srv, std::shared_ptr<sql::sql_backend> backend,
                       const database_config& config);

// The database server over SQLite at config.sqlite_path (throws sql::sql_error if it cannot be
// opened).
std::unique_ptr<server::server> make_database_server(database_config config,
                                                     server::server_options options = {});

}  // namespace plexus::servers
