// A prepared SQLite statement for the built-in servers that keep their state in SQLite
// (memory, knowledge): bind, step, read columns; errors become std::runtime_error naming
// the server. Thread-safety: one statement per thread, like the connection it came from.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers {

class sqlite_statement {
 public:
  // `who` prefixes error messages ("memory: database error: ...").
  sqlite_statement(sqlite3* db, const char* sql, const char* who) : db_(db), who_(who) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string(who_) +
                               ": cannot prepare statement: " + sqlite3_errmsg(db));
  }
  ~sqlite_statement() { sqlite3_finalize(st_); }
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;

  sqlite_statement& bind(int i, std::string_view s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  sqlite_statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
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
    throw std::runtime_error(std::string(who_) + ": database error: " + sqlite3_errmsg(db_));
  }
  // One step, then ready to be bound again.
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::int64_t integer(int col) { return sqlite3_column_int64(st_, col); }
  double real(int col) { return sqlite3_column_double(st_, col); }
  std::string text(int col) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col)))
             : std::string();
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
  sqlite3* db_;
  const char* who_;
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace plexus::servers
