// A prepared SQLite statement for the built-in servers that keep their state in SQLite
// (memory, knowledge, wallet): bind, step, read columns. A failed prepare or step throws
// what the server's failure function makes of it: by default a std::runtime_error naming
// the server; the wallet throws its typed ledger_error. Thread-safety: one statement per
// thread, like the connection it came from.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers {

// Throws for a failed SQLite call. `doing`: "preparing a statement", "running a statement".
using sqlite_failure = void (*)(sqlite3* db, int rc, const char* doing, const char* who);

[[noreturn]] inline void throw_sqlite_failure(sqlite3* db, int rc, const char* doing,
                                              const char* who) {
  throw std::runtime_error(std::string(who) + ": database error while " + doing + ": " +
                           (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

class sqlite_statement {
 public:
  // `who` names the server in error messages ("memory: database error while ...").
  sqlite_statement(sqlite3* db, const char* sql, const char* who,
                   sqlite_failure fail = throw_sqlite_failure)
      : db_(db), who_(who), fail_(fail) {
    if (int rc = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); rc != SQLITE_OK)
      failed(rc, "preparing a statement");
  }
  ~sqlite_statement() { sqlite3_finalize(st_); }
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;

  sqlite_statement& bind(int i, std::string_view s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  sqlite_statement& bind(int i, const std::string& s) { return bind(i, std::string_view(s)); }
  sqlite_statement& bind(int i, const char* s) { return bind(i, std::string_view(s)); }
  sqlite_statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  // NULL when absent.
  sqlite_statement& bind(int i, const std::optional<std::string>& s) {
    if (s) return bind(i, std::string_view(*s));
    sqlite3_bind_null(st_, i);
    return *this;
  }
  sqlite_statement& bind_blob(int i, const void* p, std::size_t n) {
    sqlite3_bind_blob(st_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
    return *this;
  }
  // True when a row is available.
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    failed(rc, "running a statement");
  }
  // Runs to completion, then ready to be bound again.
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::int64_t integer(int col) { return sqlite3_column_int64(st_, col); }
  bool is_null(int col) { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  double real(int col) { return sqlite3_column_double(st_, col); }
  std::string text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
             : std::string();
  }
  std::optional<std::string> optional_text(int col) {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  // A blob of packed floats (an embedding).
  std::vector<float> floats(int col) {
    auto p = static_cast<const char*>(sqlite3_column_blob(st_, col));
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(st_, col)) / sizeof(float);
    std::vector<float> v(n);
    if (n) std::memcpy(v.data(), p, n * sizeof(float));
    return v;
  }

 private:
  [[noreturn]] void failed(int rc, const char* doing) {
    fail_(db_, rc, doing, who_);
    throw std::logic_error("sqlite_statement: the failure function returned");
  }

  sqlite3* db_;
  const char* who_;
  sqlite_failure fail_;
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace plexus::servers
