// The PostgreSQL backend of the database server, over libpq (see database.hpp).
//
// Every call borrows one connection from a small pool and runs exactly one statement through
// the extended query protocol (PQprepare + PQsendQueryPrepared), which the server itself refuses
// for more than one statement. `query` runs it inside BEGIN READ ONLY with a local
// statement_timeout and always rolls back, so the engine, not a parser of ours, decides what
// writes. Rows are read in single-row mode, so a huge result never has to fit in memory: a query
// is cancelled once it has produced one row more than max_rows; an `execute` statement is left to
// finish (cancelling it would undo the write) and the surplus rows are dropped.
#include "plexus/core/base64.hpp"
#include "plexus/servers/database.hpp"

#include "servers/lazy_libs.hpp"
#include "servers/pg_pool.hpp"

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>

namespace plexus::servers::sql {

namespace {

// OIDs of built-in types (fixed in pg_type.dat, the same in every server version).
constexpr Oid bool_oid = 16;
constexpr Oid bytea_oid = 17;
constexpr Oid int8_oid = 20;
constexpr Oid int2_oid = 21;
constexpr Oid int4_oid = 23;
constexpr Oid text_oid = 25;
constexpr Oid oid_oid = 26;
constexpr Oid float4_oid = 700;
constexpr Oid float8_oid = 701;
constexpr Oid unknown_oid = 705;
constexpr Oid bpchar_oid = 1042;
constexpr Oid varchar_oid = 1043;
constexpr Oid numeric_oid = 1700;

constexpr std::size_t pool_size = 4;

using pg::conn_ptr;
using pg::ignore_notice;
using pg::result_ptr;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string connection_error(PGconn* c) {
  return trim(c ? lazy::pq().PQerrorMessage(c) : "out of memory");
}

std::string sqlstate_of(const PGresult* r) {
  const char* s = r ? lazy::pq().PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

// The server's message without libpq's "ERROR:  " prefix, with its detail when it has one.
std::string result_error(PGconn* c, const PGresult* r) {
  const char* primary = r ? lazy::pq().PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (!primary) return connection_error(c);
  std::string msg = primary;
  if (const char* detail = lazy::pq().PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL))
    msg += std::string(" (") + detail + ")";
  return msg;
}

// "user@host:port/dbname": where a connection points, never its password.
std::string target_of(PGconn* c) {
  std::string t;
  if (const char* u = lazy::pq().PQuser(c); u && *u) t += std::string(u) + "@";
  const char* h = lazy::pq().PQhost(c);
  t += h && *h ? h : "localhost";
  if (const char* p = lazy::pq().PQport(c); p && *p) t += std::string(":") + p;
  if (const char* d = lazy::pq().PQdb(c); d && *d) t += std::string("/") + d;
  return t;
}

bool is_integer_type(Oid t) {
  return t == int2_oid || t == int4_oid || t == int8_oid || t == oid_oid;
}
bool is_number_type(Oid t) {
  return t == float4_oid || t == float8_oid || t == numeric_oid;
}
// Types the server infers for a parameter whose use does not pin it down ("SELECT $1").
bool is_loose_type(Oid t) {
  return t == text_oid || t == unknown_oid || t == varchar_oid || t == bpchar_oid;
}

json::value column_value(const PGresult* r, int row, int col, Oid type) {
  if (lazy::pq().PQgetisnull(r, row, col)) return json::value(nullptr);
  const char* p = lazy::pq().PQgetvalue(r, row, col);
  const auto n = static_cast<std::size_t>(lazy::pq().PQgetlength(r, row, col));
  std::string_view s(p, n);
  if (is_integer_type(type)) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(p, p + n, v);
    if (ec == std::errc() && end == p + n) return json::value(v);
  } else if (is_number_type(type)) {
    double d = 0;
    auto [end, ec] = std::from_chars(p, p + n, d);
    if (ec == std::errc() && end == p + n) return std::isfinite(d) ? json::value(d) : json::value();
    if (s == "NaN" || s == "Infinity" || s == "-Infinity") return json::value(nullptr);
  } else if (type == bool_oid) {
    return json::value(s == "t");
  } else if (type == bytea_oid) {
    std::size_t len = 0;
    unsigned char* raw =
        lazy::pq().PQunescapeBytea(reinterpret_cast<const unsigned char*>(p), &len);
    if (raw) {
      std::string b64 = base64::encode(std::string_view(reinterpret_cast<char*>(raw), len));
      lazy::pq().PQfreemem(raw);
      return json::value(b64);
    }
  }
  return json::value(s);  // everything else (and anything unparsable) as the server's text
}

// The text form of a JSON parameter for a parameter of type `type`.
std::optional<std::string> param_text(const json::value& v, Oid type, std::size_t idx) {
  auto where = [&] { return "parameter " + std::to_string(idx + 1) + ": "; };
  if (v.is_null()) return std::nullopt;
  if (v.is_bool()) {
    if (is_integer_type(type) || is_number_type(type)) return v.get_bool() ? "1" : "0";
    return v.get_bool() ? "true" : "false";
  }
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw sql_error(where() + "integer out of range");
    return std::to_string(v.get_uint64());
  }
  if (v.is_double()) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double());
    if (ec != std::errc()) throw sql_error(where() + "number cannot be formatted");
    return std::string(buf, end);
  }
  if (v.is_string()) {
    std::string s(v.get_string());
    if (s.find('\0') != std::string::npos) throw sql_error(where() + "strings cannot contain NUL");
    return s;
  }
  throw sql_error(where() + std::string(json::type_name(v)) + " cannot be bound (use a scalar)");
}

// The type a JSON scalar is sent as when the statement leaves the parameter's type open.
Oid natural_type(const json::value& v) {
  if (v.is_bool()) return bool_oid;
  if (v.is_int64() || v.is_uint64()) return int8_oid;
  if (v.is_double()) return float8_oid;
  return 0;  // null and strings: let the server decide
}

// Thrown when the first command on a pooled connection finds it dead (the server restarted,
// an idle timeout closed it): nothing ran, so the call is retried on a fresh connection.
struct stale_connection {};
// Thrown when a connection is left in a state it cannot be reused from; it is closed.
struct drop_connection {
  sql_error error;
};

class postgres_backend final : public sql_backend {
 public:
  postgres_backend(std::string conninfo, const database_config& c)
      : conninfo_(std::move(conninfo)), cfg_(c) {
    // The first connection is made now so that a wrong connection string fails at start.
    auto first = connect();
    target_ = target_of(first.get());
    pool_.adopt(std::move(first));
  }

  result_set query(const std::string& sql, const json::array& params) override {
    return with_connection([&](PGconn* c) { return run(c, sql, params, true); });
  }

  result_set execute(const std::string& sql, const json::array& params) override {
    if (!cfg_.allow_writes) throw sql_error("writes are disabled for this database");
    return with_connection([&](PGconn* c) { return run(c, sql, params, false); });
  }

  // The catalogue queries of list_tables/describe_table: read-only, but not cut at the
  // max_rows meant for callers' queries.
  result_set catalogue(const std::string& sql, const json::array& params) {
    return with_connection([&](PGconn* c) { return run(c, sql, params, true, 1'000'000); });
  }

  std::vector<table_info> list_tables() override {
    auto r = catalogue("SELECT " + display_name + " AS name, " + kind + " AS type " + relations +
                           " ORDER BY n.nspname <> 'public', n.nspname, c.relname",
                       {});
    std::vector<table_info> out;
    for (const auto& row : r.rows)
      out.push_back({std::string(row[0].as_string()), std::string(row[1].as_string())});
    return out;
  }

  std::optional<table_description> describe_table(const std::string& table) override {
    auto rel = catalogue("SELECT c.oid, " + kind +
                             ", CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) "
                             "END " +
                             relations + " AND " + display_name + " = $1",
                         json::array{json::value(table)});
    if (rel.rows.empty()) return std::nullopt;
    table_description d;
    d.name = table;
    d.type = std::string(rel.rows[0][1].as_string());
    if (rel.rows[0][2].is_string())
      d.sql = "CREATE VIEW " + table + " AS\n" + std::string(rel.rows[0][2].as_string());
    auto cols = catalogue(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), "
        "COALESCE((SELECT k.n FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
        "WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum), 0) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = "
        "a.attnum WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        json::array{rel.rows[0][0]});
    for (const auto& row : cols.rows) {
      column_info c;
      c.name = std::string(row[0].as_string());
      c.type = std::string(row[1].as_string());
      c.not_null = row[2].is_bool() && row[2].get_bool();
      if (row[3].is_string()) c.default_value = std::string(row[3].as_string());
      c.primary_key = row[4].is_int64() ? static_cast<int>(row[4].as_int64()) : 0;
      d.columns.push_back(std::move(c));
    }
    return d;
  }

  backend_health health() override {
    auto r = query("SELECT current_setting('server_version')", {});
    if (r.rows.size() != 1 || !r.rows[0][0].is_string())
      throw sql_error("SELECT current_setting('server_version') returned no row");
    return {"postgresql", "PostgreSQL " + std::string(r.rows[0][0].as_string()), target_};
  }

 private:
  // Tables, views, materialized views, foreign and partitioned tables outside the system
  // schemas; named "schema.name" unless in public.
  static inline const std::string relations =
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition "
      "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
      "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";
  static inline const std::string display_name =
      "(CASE WHEN n.nspname = 'public' THEN c.relname::text ELSE n.nspname || '.' || c.relname "
      "END)";
  static inline const std::string kind =
      "(CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END)";

  conn_ptr connect() {
    // Later keywords win: ours before the user's string are defaults, after it are forced.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                          nullptr};
    const char* vals[] = {"10", "plexus-database", conninfo_.c_str(), "UTF8", nullptr};
    try {
      lazy::pq();
    } catch (const std::exception& e) {
      throw sql_error(std::string("cannot connect to PostgreSQL: ") + e.what());
    }
    conn_ptr c(lazy::pq().PQconnectdbParams(keys, vals, 1));
    if (!c || lazy::pq().PQstatus(c.get()) != CONNECTION_OK)
      throw sql_error("cannot connect to PostgreSQL" +
                      (c ? " at " + target_of(c.get()) : std::string()) + ": " +
                      connection_error(c.get()));
    lazy::pq().PQsetNoticeReceiver(c.get(), ignore_notice, nullptr);
    return c;
  }

  template <class F>
  result_set with_connection(F&& f) {
    // Every idle connection may be stale after a server restart; one more try gets a fresh one.
    for (std::size_t attempt = 0;; ++attempt) {
      auto l = pool_.acquire();
      try {
        return f(l.get());
      } catch (const stale_connection&) {
        if (attempt >= pool_.size())
          throw sql_error("lost the connection to PostgreSQL at " + target_);
      } catch (const drop_connection& d) {
        l.drop();
        throw d.error;
      }
    }
  }

  std::string timeout_ms() const {
    return std::to_string(std::max<std::int64_t>(1, cfg_.timeout.count()));
  }

  // Runs one command of ours (no rows expected); false when it failed.
  static bool command(PGconn* c, const char* sql, std::string* error = nullptr) {
    result_ptr r(lazy::pq().PQexec(c, sql));
    bool ok = r && lazy::pq().PQresultStatus(r.get()) == PGRES_COMMAND_OK;
    if (!ok && error) *error = result_error(c, r.get());
    return ok;
  }

  result_set run(PGconn* c, const std::string& sql, const json::array& params, bool read_only,
                 std::optional<std::size_t> row_limit = std::nullopt) {
    const std::size_t limit = row_limit.value_or(cfg_.max_rows);
    std::string err;
    // A connection left inside a transaction (should not happen: release drops those) would make
    // BEGIN READ ONLY a no-op; refuse to use it.
    if (lazy::pq().PQtransactionStatus(c) != PQTRANS_IDLE && !command(c, "ROLLBACK"))
      throw stale_connection{};
    std::string prologue = read_only
                               ? "BEGIN READ ONLY; SET LOCAL statement_timeout = " + timeout_ms() +
                                     "; SAVEPOINT parsed"
                               : "SET statement_timeout = " + timeout_ms();
    if (!command(c, prologue.c_str(), &err)) {
      if (lazy::pq().PQstatus(c) != CONNECTION_OK) throw stale_connection{};
      throw sql_error("cannot start the statement: " + err);
    }
    if (!read_only) return run_statement(c, sql, params, false, limit);
    try {
      auto r = run_statement(c, sql, params, true, limit);
      command(c, "ROLLBACK");
      return r;
    } catch (...) {
      command(c, "ROLLBACK");
      throw;
    }
  }

  result_set run_statement(PGconn* c, const std::string& sql, const json::array& params,
                           bool read_only, std::size_t limit) {
    auto lost = [&]() -> sql_error {
      return sql_error("lost the connection to PostgreSQL: " + connection_error(c));
    };
    auto failure = [&](const PGresult* r) -> sql_error {
      if (lazy::pq().PQstatus(c) != CONNECTION_OK) return lost();
      std::string state = sqlstate_of(r);
      std::string msg = result_error(c, r);
      if (state == "57014" && msg.find("statement timeout") != std::string::npos)
        return sql_error("the statement was interrupted: it exceeded the time limit of " +
                         std::to_string(cfg_.timeout.count()) + " ms");
      if (state == "25006")  // read_only_sql_transaction
        return sql_error("query runs read-only statements only; use execute to change data (" +
                         msg + ")");
      if (msg.find("cannot insert multiple commands into a prepared statement") !=
          std::string::npos)
        return sql_error("only one SQL statement per call is allowed");
      return sql_error("SQL error: " + msg);
    };

    // Prepare with open parameter types and let the server infer them from the statement. When
    // it cannot ("SELECT pg_typeof($1)": indeterminate 42P18, or 42P08 over the extended
    // protocol), the JSON values' own types are used.
    result_ptr prep(lazy::pq().PQprepare(c, "", sql.c_str(), 0, nullptr));
    if (prep && lazy::pq().PQresultStatus(prep.get()) != PGRES_COMMAND_OK &&
        (sqlstate_of(prep.get()) == "42P18" || sqlstate_of(prep.get()) == "42P08") &&
        !params.empty()) {
      std::vector<Oid> natural;
      for (const auto& v : params) natural.push_back(natural_type(v) ? natural_type(v) : text_oid);
      // The failed Parse aborted query's transaction: back to the savepoint of the prologue.
      if (read_only && !command(c, "ROLLBACK TO SAVEPOINT parsed")) throw failure(prep.get());
      prep.reset(lazy::pq().PQprepare(c, "", sql.c_str(), static_cast<int>(natural.size()),
                                      natural.data()));
    }
    if (!prep || lazy::pq().PQresultStatus(prep.get()) != PGRES_COMMAND_OK)
      throw failure(prep.get());
    result_ptr desc(lazy::pq().PQdescribePrepared(c, ""));
    if (!desc || lazy::pq().PQresultStatus(desc.get()) != PGRES_COMMAND_OK)
      throw failure(desc.get());
    const int expected = lazy::pq().PQnparams(desc.get());
    if (static_cast<std::size_t>(expected) != params.size())
      throw sql_error("the statement has " + std::to_string(expected) + " parameter" +
                      (expected == 1 ? "" : "s") + ", got " + std::to_string(params.size()));
    std::vector<Oid> types(params.size());
    bool retype = false;
    for (std::size_t i = 0; i < params.size(); ++i) {
      types[i] = lazy::pq().PQparamtype(desc.get(), static_cast<int>(i));
      // "SELECT $1" with 42 should give the integer 42, not the text "42".
      if (is_loose_type(types[i]) && natural_type(params[i]) != 0) {
        types[i] = natural_type(params[i]);
        retype = true;
      }
    }
    if (retype) {
      result_ptr again(
          lazy::pq().PQprepare(c, "", sql.c_str(), static_cast<int>(types.size()), types.data()));
      if (!again || lazy::pq().PQresultStatus(again.get()) != PGRES_COMMAND_OK)
        throw failure(again.get());
    }
    std::vector<std::optional<std::string>> texts;
    texts.reserve(params.size());
    for (std::size_t i = 0; i < params.size(); ++i)
      texts.push_back(param_text(params[i], types[i], i));
    std::vector<const char*> values;
    for (const auto& t : texts) values.push_back(t ? t->c_str() : nullptr);

    if (!lazy::pq().PQsendQueryPrepared(c, "", static_cast<int>(values.size()), values.data(),
                                        nullptr, nullptr, 0))
      throw lost();
    lazy::pq().PQsetSingleRowMode(c);

    result_set out;
    std::vector<Oid> column_types;
    std::optional<sql_error> error;
    bool cancelled = false;
    auto take_columns = [&](const PGresult* r) {
      if (!column_types.empty() || lazy::pq().PQnfields(r) == 0) return;
      for (int i = 0; i < lazy::pq().PQnfields(r); ++i) {
        out.columns.emplace_back(lazy::pq().PQfname(r, i));
        column_types.push_back(lazy::pq().PQftype(r, i));
      }
    };
    while (result_ptr r{lazy::pq().PQgetResult(c)}) {
      switch (lazy::pq().PQresultStatus(r.get())) {
        case PGRES_SINGLE_TUPLE:
          take_columns(r.get());
          if (out.rows.size() < limit) {
            json::array row;
            row.reserve(column_types.size());
            for (int i = 0; i < static_cast<int>(column_types.size()); ++i)
              row.push_back(column_value(r.get(), 0, i, column_types[i]));
            out.rows.push_back(std::move(row));
          } else {
            out.truncated = true;
            if (read_only && !cancelled) {
              cancelled = true;
              cancel(c);
            }
          }
          break;
        case PGRES_TUPLES_OK:
          take_columns(r.get());
          [[fallthrough]];
        case PGRES_COMMAND_OK:
          if (const char* n = lazy::pq().PQcmdTuples(r.get()); n && *n)
            out.rows_affected = std::strtoll(n, nullptr, 10);
          break;
        case PGRES_EMPTY_QUERY:
          error = sql_error("no SQL statement given");
          break;
        case PGRES_COPY_IN:
          lazy::pq().PQputCopyEnd(c, "COPY is not supported");
          error = sql_error("COPY is not supported");
          break;
        case PGRES_COPY_OUT: {
          cancel(c);
          char* buf = nullptr;
          while (lazy::pq().PQgetCopyData(c, &buf, 0) > 0) lazy::pq().PQfreemem(buf);
          error = sql_error("COPY is not supported");
          cancelled = true;
          break;
        }
        case PGRES_COPY_BOTH:
          // Replication streams cannot be ended cleanly: the connection is closed.
          throw drop_connection{sql_error("COPY is not supported")};
        default:
          // Our own cancellation after the row limit ends the query with 57014: not an error.
          if (cancelled && out.truncated && sqlstate_of(r.get()) == "57014") break;
          if (!error) error = failure(r.get());
          break;
      }
    }
    if (lazy::pq().PQstatus(c) != CONNECTION_OK) throw lost();
    if (error) throw *error;
    if (!read_only && lazy::pq().PQtransactionStatus(c) != PQTRANS_IDLE) {
      command(c, "ROLLBACK");
      throw sql_error(
          "each call runs in its own transaction: BEGIN, COMMIT and ROLLBACK are not supported "
          "(the transaction was rolled back)");
    }
    if (read_only) out.rows_affected.reset();
    return out;
  }

  static void cancel(PGconn* c) {
    if (PGcancel* k = lazy::pq().PQgetCancel(c)) {
      char buf[256];
      lazy::pq().PQcancel(k, buf, sizeof buf);
      lazy::pq().PQfreeCancel(k);
    }
  }

  std::string conninfo_;
  database_config cfg_;
  std::string target_;
  pg::pool pool_{pool_size, [this] { return connect(); }};
};

}  // namespace

std::unique_ptr<sql_backend> open_postgres(const std::string& conninfo,
                                           const database_config& config) {
  return std::make_unique<postgres_backend>(conninfo, config);
}

}  // namespace plexus::servers::sql
