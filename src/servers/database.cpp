#include "plexus/servers/database.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/server/typed_tool.hpp"

#include <sqlite3.h>
#include <boost/describe.hpp>

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

namespace plexus::servers {

namespace sql {

namespace {

using clock_type = std::chrono::steady_clock;

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct stmt_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

// The read connection refuses ATTACH/DETACH (other files) and pragmas that set something
// (PRAGMA query_only = OFF would undo the read-only guard).
int read_authorizer(void*, int action, const char* a1, const char* a2, const char*, const char*) {
  switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      return SQLITE_DENY;
    case SQLITE_PRAGMA:
      if (a1 && sqlite3_stricmp(a1, "query_only") == 0) return SQLITE_DENY;
      if (a2 && sqlite3_stricmp(a1, "table_info") != 0 && sqlite3_stricmp(a1, "table_xinfo") != 0 &&
          sqlite3_stricmp(a1, "index_list") != 0 && sqlite3_stricmp(a1, "index_info") != 0 &&
          sqlite3_stricmp(a1, "foreign_key_list") != 0)
        return SQLITE_DENY;
      return SQLITE_OK;
    default:
      return SQLITE_OK;
  }
}

// The write connection (execute) may change this database, not reach other files.
int write_authorizer(void*, int action, const char*, const char*, const char*, const char*) {
  return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

struct deadline_state {
  clock_type::time_point deadline;
  bool expired = false;
};

int progress_check(void* p) {
  auto* d = static_cast<deadline_state*>(p);
  if (clock_type::now() >= d->deadline) {
    d->expired = true;
    return 1;  // interrupts the statement (SQLITE_INTERRUPT)
  }
  return 0;
}

std::string ms_text(std::chrono::milliseconds t) {
  return std::to_string(t.count()) + " ms";
}

class sqlite_backend final : public sql_backend {
 public:
  explicit sqlite_backend(const database_config& c) : cfg_(c) {
    if (cfg_.sqlite_path.empty()) throw sql_error("sqlite_path is empty");
    std::string target = cfg_.sqlite_path;
    int extra = 0;
    if (target == ":memory:") {
      // One private in-memory database both connections see.
      static std::atomic<unsigned> counter{0};
      target = "file:plexus-memdb-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "-" +
               std::to_string(counter++) + "?mode=memory&cache=shared";
      extra = SQLITE_OPEN_URI;
      location_ = ":memory:";
    } else {
      location_ = cfg_.sqlite_path;
    }
    if (cfg_.allow_writes || extra)
      write_ = open(target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | extra, false);
    read_ = open(target, (extra ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | extra, true);
  }

  result_set query(const std::string& sql, const json::array& params) override {
    std::lock_guard lk(read_mu_);
    return run(read_.get(), sql, params, true);
  }

  result_set execute(const std::string& sql, const json::array& params) override {
    if (!cfg_.allow_writes) throw sql_error("writes are disabled for this database");
    std::lock_guard lk(write_mu_);
    auto r = run(write_.get(), sql, params, false);
    r.rows_affected = sqlite3_changes64(write_.get());
    r.last_insert_id = sqlite3_last_insert_rowid(write_.get());
    return r;
  }

  std::vector<table_info> list_tables() override {
    auto r = query(
        "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE "
        "'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        {});
    std::vector<table_info> out;
    for (const auto& row : r.rows)
      out.push_back({std::string(row[0].as_string()), std::string(row[1].as_string())});
    return out;
  }

  std::optional<table_description> describe_table(const std::string& table) override {
    auto kind =
        query("SELECT type, sql FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ?1",
              json::array{json::value(table)});
    if (kind.rows.empty()) return std::nullopt;
    table_description d;
    d.name = table;
    d.type = std::string(kind.rows[0][0].as_string());
    if (kind.rows[0][1].is_string()) d.sql = std::string(kind.rows[0][1].as_string());
    auto cols = query(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
        json::array{json::value(table)});
    for (const auto& row : cols.rows) {
      column_info c;
      c.name = std::string(row[0].as_string());
      c.type = row[1].is_string() ? std::string(row[1].as_string()) : "";
      c.not_null = row[2].is_int64() && row[2].as_int64() != 0;
      if (row[3].is_string()) c.default_value = std::string(row[3].as_string());
      c.primary_key = row[4].is_int64() ? static_cast<int>(row[4].as_int64()) : 0;
      d.columns.push_back(std::move(c));
    }
    return d;
  }

  backend_health health() override {
    auto r = query("SELECT 1", {});
    if (r.rows.size() != 1) throw sql_error("SELECT 1 returned no row");
    return {"sqlite", sqlite3_libversion(), location_};
  }

 private:
  db_ptr open(const std::string& target, int flags, bool read_only) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(target.c_str(), &raw, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
    db_ptr db(raw);
    if (rc != SQLITE_OK)
      throw sql_error("cannot open SQLite database " + location_ + ": " +
                      (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(std::min<std::int64_t>(
                                  cfg_.timeout.count(), std::numeric_limits<int>::max())));
    // Neither connection reaches other files (ATTACH, VACUUM INTO need an attach slot)
    // or corrupts this one on purpose (defensive mode: no writable_schema tricks).
    sqlite3_limit(raw, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    if (!read_only) sqlite3_set_authorizer(raw, write_authorizer, nullptr);
    if (read_only) {
      char* err = nullptr;
      if (sqlite3_exec(raw, "PRAGMA query_only = ON", nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        throw sql_error("cannot make the read connection read-only: " + msg);
      }
      sqlite3_set_authorizer(raw, read_authorizer, nullptr);
    }
    return db;
  }

  static void bind(sqlite3* db, sqlite3_stmt* st, const json::array& params) {
    int expected = sqlite3_bind_parameter_count(st);
    if (static_cast<std::size_t>(expected) != params.size())
      throw sql_error("the statement has " + std::to_string(expected) + " parameter" +
                      (expected == 1 ? "" : "s") + ", got " + std::to_string(params.size()));
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& v = params[i];
      int idx = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (v.is_null())
        rc = sqlite3_bind_null(st, idx);
      else if (v.is_bool())
        rc = sqlite3_bind_int64(st, idx, v.get_bool() ? 1 : 0);
      else if (v.is_int64())
        rc = sqlite3_bind_int64(st, idx, v.get_int64());
      else if (v.is_uint64()) {
        if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          throw sql_error("parameter " + std::to_string(idx) + ": integer out of range");
        rc = sqlite3_bind_int64(st, idx, static_cast<std::int64_t>(v.get_uint64()));
      } else if (v.is_double())
        rc = sqlite3_bind_double(st, idx, v.get_double());
      else if (v.is_string())
        rc = sqlite3_bind_text64(st, idx, v.get_string().data(), v.get_string().size(),
                                 SQLITE_TRANSIENT, SQLITE_UTF8);
      else
        throw sql_error("parameter " + std::to_string(idx) + ": " +
                        std::string(json::type_name(v)) + " cannot be bound (use a scalar)");
      if (rc != SQLITE_OK)
        throw sql_error("parameter " + std::to_string(idx) + ": " + sqlite3_errmsg(db));
    }
  }

  static json::value column_value(sqlite3_stmt* st, int i) {
    switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER:
        return json::value(static_cast<std::int64_t>(sqlite3_column_int64(st, i)));
      case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        return std::isfinite(d) ? json::value(d) : json::value(nullptr);
      }
      case SQLITE_TEXT: {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
        return json::value(
            std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))));
      }
      case SQLITE_BLOB: {
        auto p = static_cast<const char*>(sqlite3_column_blob(st, i));
        auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, i));
        return json::value(base64::encode(std::string_view(p ? p : "", p ? n : 0)));
      }
      default:
        return json::value(nullptr);
    }
  }

  result_set run(sqlite3* db, const std::string& sql, const json::array& params, bool read_only) {
    deadline_state deadline{clock_type::now() + cfg_.timeout};
    sqlite3_progress_handler(db, 1000, progress_check, &deadline);
    struct reset_handler {
      sqlite3* db;
      ~reset_handler() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
    } reset{db};

    auto error = [&](std::string_view what) -> sql_error {
      if (deadline.expired)
        return sql_error("the statement was interrupted: it exceeded the time limit of " +
                         ms_text(cfg_.timeout));
      return sql_error(std::string(what) + sqlite3_errmsg(db));
    };

    const char* tail = nullptr;
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), 0, &raw, &tail);
    stmt_ptr st(raw);
    if (rc != SQLITE_OK) throw error("SQL error: ");
    if (!st) throw sql_error("no SQL statement given");
    // Anything but whitespace and comments after the first statement is a second statement.
    if (tail && *tail) {
      sqlite3_stmt* next = nullptr;
      const char* rest = nullptr;
      int rc2 = sqlite3_prepare_v3(
          db, tail, static_cast<int>(sql.size() - static_cast<std::size_t>(tail - sql.c_str())), 0,
          &next, &rest);
      stmt_ptr second(next);
      if (rc2 != SQLITE_OK || second) throw sql_error("only one SQL statement per call is allowed");
    }
    if (read_only && !sqlite3_stmt_readonly(st.get()))
      throw sql_error("query runs read-only statements only; use execute to change data");
    bind(db, st.get(), params);

    result_set r;
    int ncol = sqlite3_column_count(st.get());
    for (int i = 0; i < ncol; ++i) {
      const char* n = sqlite3_column_name(st.get(), i);
      r.columns.emplace_back(n ? n : "");
    }
    for (;;) {
      rc = sqlite3_step(st.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) throw error("SQL error: ");
      if (r.rows.size() >= cfg_.max_rows) {
        r.truncated = true;
        break;
      }
      json::array row;
      row.reserve(static_cast<std::size_t>(ncol));
      for (int i = 0; i < ncol; ++i) row.push_back(column_value(st.get(), i));
      r.rows.push_back(std::move(row));
    }
    return r;
  }

  database_config cfg_;
  std::string location_;
  db_ptr write_;  // opened only when writes are allowed (or for :memory:)
  db_ptr read_;
  std::mutex read_mu_, write_mu_;
};

// Display width of UTF-8 text (code points).
std::size_t width_of(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string cell_text(const json::value& v) {
  if (v.is_null()) return "NULL";
  std::string s = v.is_string() ? std::string(v.get_string()) : json::dump(v);
  std::string out;
  for (char c : s) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::unique_ptr<sql_backend> open_sqlite(const database_config& config) {
  return std::make_unique<sqlite_backend>(config);
}

std::string format_table(const result_set& r) {
  std::string out;
  const std::size_t n = r.columns.size();
  if (n > 0) {
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> width(n);
    for (std::size_t i = 0; i < n; ++i) width[i] = width_of(r.columns[i]);
    for (const auto& row : r.rows) {
      auto& line = cells.emplace_back();
      for (std::size_t i = 0; i < n; ++i) {
        line.push_back(i < row.size() ? cell_text(row[i]) : "");
        width[i] = std::max(width[i], width_of(line.back()));
      }
    }
    auto emit = [&](const std::vector<std::string>& line) {
      std::string text;
      for (std::size_t i = 0; i < n; ++i) {
        if (i) text += " | ";
        text += line[i];
        if (i + 1 < n) text.append(width[i] - width_of(line[i]), ' ');
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out += text + "\n";
    };
    emit(r.columns);
    for (std::size_t i = 0; i < n; ++i) {
      if (i) out += "-+-";
      out.append(width[i], '-');
    }
    out += "\n";
    for (const auto& line : cells) emit(line);
  }
  out += "(" + std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row" : " rows");
  if (r.truncated) out += "; truncated: more rows exist";
  out += ")";
  if (r.rows_affected)
    out += "\n" + std::to_string(*r.rows_affected) + " row" + (*r.rows_affected == 1 ? "" : "s") +
           " affected";
  return out;
}

}  // namespace sql

namespace {

using namespace plexus::server;

struct sql_args {
  std::string sql;
  std::optional<std::vector<json::value>> params;
};
BOOST_DESCRIBE_STRUCT(sql_args, (), (sql, params))

struct no_args {};
BOOST_DESCRIBE_STRUCT(no_args, (), ())

struct table_args {
  std::string table;
};
BOOST_DESCRIBE_STRUCT(table_args, (), (table))

struct query_output {
  std::vector<std::string> columns;
  std::vector<std::vector<json::value>> rows;
  bool truncated;
  std::int64_t row_count;
};
BOOST_DESCRIBE_STRUCT(query_output, (), (columns, rows, truncated, row_count))

struct execute_output {
  std::vector<std::string> columns;
  std::vector<std::vector<json::value>> rows;
  bool truncated;
  std::int64_t row_count;
  std::int64_t rows_affected;
  std::int64_t last_insert_id;
};
BOOST_DESCRIBE_STRUCT(execute_output, (),
                      (columns, rows, truncated, row_count, rows_affected, last_insert_id))

struct table_entry {
  std::string name;
  std::string type;
};
BOOST_DESCRIBE_STRUCT(table_entry, (), (name, type))

struct tables_output {
  std::vector<table_entry> tables;
};
BOOST_DESCRIBE_STRUCT(tables_output, (), (tables))

struct column_output {
  std::string name;
  std::string type;
  bool not_null;
  std::optional<std::string> default_value;
  std::int64_t primary_key;
};
BOOST_DESCRIBE_STRUCT(column_output, (), (name, type, not_null, default_value, primary_key))

struct describe_output {
  std::string table;
  std::string type;
  std::vector<column_output> columns;
  std::optional<std::string> sql;
};
BOOST_DESCRIBE_STRUCT(describe_output, (), (table, type, columns, sql))

struct health_output {
  std::string status;
  std::string backend;
  std::string version;
  std::string location;
  bool writable;
  std::int64_t max_rows;
  std::int64_t timeout_ms;
};
BOOST_DESCRIBE_STRUCT(health_output, (),
                      (status, backend, version, location, writable, max_rows, timeout_ms))

const schema::annotations& sql_fields() {
  static const schema::annotations fields = {
      {"sql",
       {{"description", "One SQL statement; use ?1, ?2 ... (or ?) for parameters"},
        {"minLength", 1}}},
      {"params",
       {{"description", "Values bound to the statement's parameters, in order"},
        {"items", json::object{{"type", json::array{"string", "number", "boolean", "null"}}}}}}};
  return fields;
}

template <class Args>
protocol::tool tool_def(std::string name, std::string title, std::string description,
                        json::value output_schema, protocol::tool_annotations hints,
                        const schema::annotations& fields) {
  protocol::tool t;
  t.name = std::move(name);
  t.title = title;
  t.description = std::move(description);
  t.input_schema = schema::derive<Args>(fields);
  t.output_schema = std::move(output_schema);
  hints.title = std::move(title);
  t.annotations = std::move(hints);
  return t;
}

template <class Args>
Args parse(const std::string& tool, const json::object& arguments) {
  auto a = json::from_json<Args>(arguments);
  if (!a)
    throw tool_error("Invalid arguments for tool " + tool + ": " + json::to_string(a.error()));
  return std::move(*a);
}

json::array params_of(const sql_args& a) {
  json::array p;
  if (a.params)
    for (const auto& v : *a.params) p.push_back(v);
  return p;
}

template <class T>
tool_result structured(const T& value, std::string text) {
  tool_result r = tool_result::text(std::move(text));
  r.structured_content = json::to_json(value);
  return r;
}

// Runs `f`, turning backend failures into tool errors.
template <class F>
tool_result guarded(F&& f) {
  try {
    return f();
  } catch (const sql::sql_error& e) {
    throw tool_error(e.what());
  }
}

std::string describe_text(const describe_output& d) {
  sql::result_set r;
  r.columns = {"column", "type", "not_null", "default", "primary_key"};
  for (const auto& c : d.columns)
    r.rows.push_back(json::array{json::value(c.name), json::value(c.type),
                                 json::value(c.not_null ? "yes" : "no"),
                                 c.default_value ? json::value(*c.default_value) : json::value(),
                                 json::value(c.primary_key)});
  std::string text = d.type + " " + d.table + "\n" + sql::format_table(r);
  if (d.sql) text += "\n" + *d.sql;
  return text;
}

}  // namespace

void register_database(server::server& srv, std::shared_ptr<sql::sql_backend> backend,
                       const database_config& config) {
  srv.add_tool(
      tool_def<sql_args>(
          "query", "SQL query",
          "Runs one read-only SQL statement (SELECT, WITH, read-only PRAGMA) with "
          "bound parameters; returns at most " +
              std::to_string(config.max_rows) + " rows",
          json::value(schema::derive<query_output>()),
          {.read_only = true, .destructive = false, .idempotent = true, .open_world = false},
          sql_fields()),
      [backend](context&, const json::object& arguments) {
        auto a = parse<sql_args>("query", arguments);
        return guarded([&] {
          auto r = backend->query(a.sql, params_of(a));
          query_output out{r.columns, {}, r.truncated, static_cast<std::int64_t>(r.rows.size())};
          for (const auto& row : r.rows) out.rows.emplace_back(row.begin(), row.end());
          return structured(out, sql::format_table(r));
        });
      });
  if (config.allow_writes) {
    srv.add_tool(
        tool_def<sql_args>(
            "execute", "SQL execute",
            "Runs one SQL statement that may change data or schema (INSERT, "
            "UPDATE, DELETE, CREATE, ...) with bound parameters",
            json::value(schema::derive<execute_output>()),
            {.read_only = false, .destructive = true, .idempotent = false, .open_world = false},
            sql_fields()),
        [backend](context&, const json::object& arguments) {
          auto a = parse<sql_args>("execute", arguments);
          return guarded([&] {
            auto r = backend->execute(a.sql, params_of(a));
            execute_output out{r.columns,
                               {},
                               r.truncated,
                               static_cast<std::int64_t>(r.rows.size()),
                               r.rows_affected.value_or(0),
                               r.last_insert_id.value_or(0)};
            for (const auto& row : r.rows) out.rows.emplace_back(row.begin(), row.end());
            return structured(out, sql::format_table(r));
          });
        });
  }
  srv.add_tool(
      tool_def<no_args>(
          "list_tables", "List tables", "Tables and views of the database",
          json::value(schema::derive<tables_output>()),
          {.read_only = true, .destructive = false, .idempotent = true, .open_world = false}, {}),
      [backend](context&, const json::object&) {
        return guarded([&] {
          tables_output out;
          std::string text;
          for (auto& t : backend->list_tables()) {
            text += t.name + " (" + t.type + ")\n";
            out.tables.push_back({t.name, t.type});
          }
          text += "(" + std::to_string(out.tables.size()) +
                  (out.tables.size() == 1 ? " table)" : " tables)");
          return structured(out, text);
        });
      });
  srv.add_tool(
      tool_def<table_args>(
          "describe_table", "Describe table",
          "Columns (name, type, NOT NULL, default, primary key) and the CREATE "
          "statement of a table or view",
          json::value(schema::derive<describe_output>()),
          {.read_only = true, .destructive = false, .idempotent = true, .open_world = false},
          {{"table", {{"description", "Table or view name"}, {"minLength", 1}}}}),
      [backend](context&, const json::object& arguments) {
        auto a = parse<table_args>("describe_table", arguments);
        return guarded([&] {
          auto d = backend->describe_table(a.table);
          if (!d) throw tool_error("no such table: " + a.table);
          describe_output out{d->name, d->type, {}, d->sql};
          for (const auto& c : d->columns)
            out.columns.push_back({c.name, c.type, c.not_null, c.default_value,
                                   static_cast<std::int64_t>(c.primary_key)});
          return structured(out, describe_text(out));
        });
      });
  srv.add_tool(
      tool_def<no_args>(
          "health", "Health", "Checks the database connection (SELECT 1)",
          json::value(schema::derive<health_output>()),
          {.read_only = true, .destructive = false, .idempotent = true, .open_world = false}, {}),
      [backend, config](context&, const json::object&) {
        return guarded([&] {
          auto h = backend->health();
          health_output out{"ok",
                            h.backend,
                            h.version,
                            h.location,
                            config.allow_writes,
                            static_cast<std::int64_t>(config.max_rows),
                            static_cast<std::int64_t>(config.timeout.count())};
          return structured(out, "ok: " + h.backend + " " + h.version + " at " + h.location);
        });
      });
}

std::unique_ptr<server::server> make_database_server(database_config config,
                                                     server::server_options options) {
  std::shared_ptr<sql::sql_backend> backend = sql::open_sqlite(config);
  auto srv = std::make_unique<server::server>(
      protocol::implementation{
          .name = "plexus-database", .version = PLEXUS_VERSION, .title = "Database (SQLite)"},
      std::move(options));
  register_database(*srv, std::move(backend), config);
  return srv;
}

}  // namespace plexus::servers
