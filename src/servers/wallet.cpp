#include "plexus/servers/wallet.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/json/json.hpp"
#include "plexus/server/typed_tool.hpp"
#include "servers/sqlite_statement.hpp"

#include <sqlite3.h>
#include <boost/describe.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <mutex>
#include <type_traits>

namespace plexus::servers {

namespace wallet {

namespace {

constexpr std::string_view system_prefix = "external:";

bool is_system_name(std::string_view name) {
  return name.starts_with(system_prefix);
}

std::string quoted(std::string_view s) {
  return json::dump(json::value(json::string(s)));
}

}  // namespace

void check_account_name(std::string_view name, std::string_view what) {
  auto bad = [&](const std::string& why) {
    throw ledger_error(error_kind::invalid_argument,
                       std::string(what) + " name " + quoted(name) + " is invalid: " + why);
  };
  if (name.empty()) bad("it is empty");
  if (name.size() > 64) bad("it is longer than 64 characters");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) bad("it must start with a letter or a digit");
  for (char c : name)
    if (!alnum(c) && c != '_' && c != '.' && c != '@' && c != '+' && c != '-')
      bad("only letters, digits and _ . @ + - are allowed");
}

void check_currency(std::string_view currency) {
  bool ok = currency.size() == 3;
  for (char c : currency) ok = ok && c >= 'A' && c <= 'Z';
  if (!ok)
    throw ledger_error(error_kind::invalid_argument,
                       "currency " + quoted(currency) +
                           " is invalid: it must be three capital letters, e.g. \"USD\"");
}

void check_amount(std::int64_t amount) {
  if (amount <= 0)
    throw ledger_error(error_kind::invalid_argument,
                       "amount must be a positive integer of minor units (e.g. cents), got " +
                           std::to_string(amount));
  if (amount > max_amount)
    throw ledger_error(error_kind::invalid_argument, "amount " + std::to_string(amount) +
                                                         " exceeds the largest amount " +
                                                         std::to_string(max_amount));
}

void check_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 255)
    throw ledger_error(error_kind::invalid_argument,
                       "idempotency_key must be 1 to 255 characters long");
  for (char c : key)
    if (c < 0x20 || c > 0x7e)
      throw ledger_error(error_kind::invalid_argument,
                         "idempotency_key must be printable ASCII (space to ~)");
}

void check_memo(std::string_view memo) {
  std::size_t chars = 0;
  for (unsigned char c : memo)
    if ((c & 0xC0) != 0x80) ++chars;
  if (chars > 1000)
    throw ledger_error(error_kind::invalid_argument,
                       "memo is longer than 1000 characters (" + std::to_string(chars) + ")");
}

std::string system_account(std::string_view currency) {
  return std::string(system_prefix) + std::string(currency);
}

namespace {

json::value opt(const std::optional<std::string>& s) {
  return s ? json::value(json::string(*s)) : json::value(nullptr);
}

// Only a user account may receive a deposit or take part in a transfer.
void check_user_account(std::string_view name, std::string_view what) {
  if (is_system_name(name))
    throw ledger_error(error_kind::system_account,
                       std::string(what) + " " + quoted(name) +
                           " is a system account: it only records the other side of deposits");
  check_account_name(name, what);
}

}  // namespace

// JSON arrays: unambiguous whatever the strings hold.
std::string fingerprint(const deposit_request& r) {
  return json::dump(json::array{"deposit", json::string(r.account), r.amount, opt(r.memo)});
}

std::string fingerprint(const transfer_request& r) {
  return json::dump(
      json::array{"transfer", json::string(r.from), json::string(r.to), r.amount, opt(r.memo)});
}

namespace {

// ---- SQLite -----------------------------------------------------------------------------------

[[noreturn]] void storage_failure(sqlite3* db, int rc, std::string_view doing) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    throw ledger_error(error_kind::storage,
                       "wallet: the ledger is busy (another writer held it too long); retry the "
                       "request with the same idempotency key");
  throw ledger_error(error_kind::storage,
                     "wallet: database error while " + std::string(doing) + ": " + msg);
}

[[noreturn]] void statement_failure(sqlite3* db, int rc, const char* doing, const char*) {
  storage_failure(db, rc, doing);
}

struct statement : sqlite_statement {
  statement(sqlite3* db, const char* sql)
      : sqlite_statement(db, sql, "wallet", statement_failure) {}
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) storage_failure(db, rc, sql);
    throw ledger_error(error_kind::storage, "wallet: database error: " + msg);
  }
}

constexpr const char* schema_sql =
    "CREATE TABLE IF NOT EXISTS accounts("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " currency TEXT NOT NULL CHECK(length(currency) = 3),"
    " is_system INTEGER NOT NULL DEFAULT 0 CHECK(is_system IN (0, 1)),"
    " balance INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL,"
    // The last guard against overdrafts, whatever the code above it does.
    " CHECK(is_system = 1 OR balance >= 0));"
    "CREATE TABLE IF NOT EXISTS transactions("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " kind TEXT NOT NULL CHECK(kind IN ('deposit', 'transfer')),"
    " idempotency_key TEXT UNIQUE,"
    " request TEXT NOT NULL,"
    " currency TEXT NOT NULL,"
    " amount INTEGER NOT NULL CHECK(amount > 0),"
    " from_account INTEGER NOT NULL REFERENCES accounts(id),"
    " to_account INTEGER NOT NULL REFERENCES accounts(id),"
    " memo TEXT,"
    " created_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries("
    " id INTEGER PRIMARY KEY,"
    " transaction_id INTEGER NOT NULL REFERENCES transactions(id),"
    " account_id INTEGER NOT NULL REFERENCES accounts(id),"
    " amount INTEGER NOT NULL CHECK(amount <> 0),"
    " balance_after INTEGER NOT NULL,"
    " UNIQUE(transaction_id, account_id));"
    "CREATE INDEX IF NOT EXISTS entries_by_account ON entries(account_id, transaction_id);"
    // The books are append-only: history is never rewritten.
    "CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries"
    " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries"
    " BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS transactions_no_update BEFORE UPDATE ON transactions"
    " BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS transactions_no_delete BEFORE DELETE ON transactions"
    " BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;"
    "PRAGMA user_version = 1;";

constexpr const char* now_sql = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

struct account_row {
  std::int64_t id = 0;
  account acct;
};

class sqlite_ledger final : public ledger_store {
 public:
  explicit sqlite_ledger(const wallet_config& c) : cfg_(c) {
    if (cfg_.database_path.empty())
      throw ledger_error(error_kind::storage, "wallet: database_path is empty");
    memory_ = cfg_.database_path == ":memory:";
    writer_ = open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!memory_) exec(writer_, "PRAGMA journal_mode=WAL");
    exec(writer_, cfg_.sync_commits ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    exec(writer_, "BEGIN IMMEDIATE");
    try {
      exec(writer_, schema_sql);
      exec(writer_, "COMMIT");
    } catch (...) {
      sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close_v2(writer_);
      throw;
    }
  }

  ~sqlite_ledger() override {
    for (auto* db : readers_) sqlite3_close_v2(db);
    sqlite3_close_v2(writer_);
  }

  account_creation create_account(const std::string& name, const std::string& currency) override {
    if (is_system_name(name))
      throw ledger_error(error_kind::system_account,
                         "account name " + quoted(name) +
                             " is reserved: names starting with \"external:\" are system accounts");
    check_account_name(name, "account");
    check_currency(currency);
    return write([&] {
      if (auto existing = find(writer_, name)) {
        if (existing->acct.currency != currency)
          throw ledger_error(error_kind::already_exists,
                             "account " + quoted(name) + " already exists with currency " +
                                 existing->acct.currency + ", not " + currency);
        return account_creation{existing->acct, false};
      }
      statement ins(
          writer_,
          (std::string("INSERT INTO accounts(name, currency, created_at) VALUES(?1, ?2, ") +
           now_sql + ")")
              .c_str());
      ins.bind(1, name).bind(2, currency).run();
      return account_creation{find(writer_, name)->acct, true};
    });
  }

  std::optional<account> get_account(const std::string& name) override {
    if (!is_system_name(name)) check_account_name(name, "account");
    return read([&](sqlite3* db) -> std::optional<account> {
      if (auto r = find(db, name)) return r->acct;
      return std::nullopt;
    });
  }

  account_page list_accounts(const std::optional<std::string>& after, std::size_t limit) override {
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    return read([&](sqlite3* db) {
      statement s(db,
                  "SELECT name, currency, balance, is_system, created_at FROM accounts"
                  " WHERE is_system = 0 AND name > ?1 ORDER BY name LIMIT ?2");
      s.bind(1, after.value_or("")).bind(2, static_cast<std::int64_t>(limit + 1));
      account_page page;
      while (s.step()) page.accounts.push_back(account_of(s, 0));
      if (page.accounts.size() > limit) {
        page.accounts.pop_back();
        page.next_after = page.accounts.back().name;
      }
      return page;
    });
  }

  posting deposit(const deposit_request& r) override {
    check_user_account(r.account, "account");
    check_amount(r.amount);
    if (r.idempotency_key) check_idempotency_key(*r.idempotency_key);
    if (r.memo) check_memo(*r.memo);
    auto print = fingerprint(r);
    return write([&] {
      if (auto replay = replayed(r.idempotency_key, print)) return *replay;
      auto to = require(r.account, "account");
      auto sys_name = system_account(to.acct.currency);
      statement ins(writer_, (std::string("INSERT OR IGNORE INTO accounts(name, currency, "
                                          "is_system, created_at) VALUES(?1, ?2, 1, ") +
                              now_sql + ")")
                                 .c_str());
      ins.bind(1, sys_name).bind(2, to.acct.currency).run();
      auto sys = *find(writer_, sys_name);
      if (to.acct.balance > max_amount - r.amount)
        throw ledger_error(error_kind::limit_exceeded,
                           "the deposit would take the balance of " + quoted(r.account) +
                               " above the largest balance " + std::to_string(max_amount));
      if (sys.acct.balance < r.amount - max_amount)
        throw ledger_error(error_kind::limit_exceeded, "the deposit would take the money held in " +
                                                           to.acct.currency + " above " +
                                                           std::to_string(max_amount));
      return posting{
          post("deposit", r.idempotency_key, print, to.acct.currency, r.amount, sys, to, r.memo),
          false};
    });
  }

  posting transfer(const transfer_request& r) override {
    check_user_account(r.from, "from account");
    check_user_account(r.to, "to account");
    check_amount(r.amount);
    if (r.idempotency_key) check_idempotency_key(*r.idempotency_key);
    if (r.memo) check_memo(*r.memo);
    auto print = fingerprint(r);
    return write([&] {
      if (auto replay = replayed(r.idempotency_key, print)) return *replay;
      if (r.from == r.to)
        throw ledger_error(error_kind::invalid_argument,
                           "from and to are the same account (" + quoted(r.from) + ")");
      auto from = require(r.from, "from account");
      auto to = require(r.to, "to account");
      if (from.acct.currency != to.acct.currency)
        throw ledger_error(error_kind::currency_mismatch,
                           "currency mismatch: " + quoted(r.from) + " holds " + from.acct.currency +
                               " and " + quoted(r.to) + " holds " + to.acct.currency +
                               "; transfers need accounts of one currency");
      if (from.acct.balance < r.amount)
        throw ledger_error(error_kind::insufficient_funds,
                           "insufficient funds: " + quoted(r.from) + " has " +
                               std::to_string(from.acct.balance) + " " + from.acct.currency +
                               " minor units, the transfer needs " + std::to_string(r.amount));
      if (to.acct.balance > max_amount - r.amount)
        throw ledger_error(error_kind::limit_exceeded,
                           "the transfer would take the balance of " + quoted(r.to) +
                               " above the largest balance " + std::to_string(max_amount));
      return posting{post("transfer", r.idempotency_key, print, from.acct.currency, r.amount, from,
                          to, r.memo),
                     false};
    });
  }

  transaction_page list_transactions(const std::string& name, std::optional<std::int64_t> before_id,
                                     std::size_t limit) override {
    if (!is_system_name(name)) check_account_name(name, "account");
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    return read([&](sqlite3* db) {
      auto acct = find(db, name);
      if (!acct) throw not_found(name, "account");
      statement s(db,
                  "SELECT transaction_id FROM entries WHERE account_id = ?1 AND transaction_id < ?2"
                  " ORDER BY transaction_id DESC LIMIT ?3");
      s.bind(1, acct->id)
          .bind(2, before_id.value_or(std::numeric_limits<std::int64_t>::max()))
          .bind(3, static_cast<std::int64_t>(limit + 1));
      std::vector<std::int64_t> ids;
      while (s.step()) ids.push_back(s.integer(0));
      transaction_page page;
      bool more = ids.size() > limit;
      if (more) ids.pop_back();
      for (auto id : ids) page.transactions.push_back(load(db, id));
      if (more) page.next_before = ids.back();
      return page;
    });
  }

  ledger_health health() override {
    return read([&](sqlite3* db) {
      ledger_health h;
      h.backend = "sqlite";
      h.version = sqlite3_libversion();
      h.location = cfg_.database_path;
      auto count = [&](const char* sql) {
        statement s(db, sql);
        s.step();
        return s.integer(0);
      };
      h.accounts = count("SELECT count(*) FROM accounts WHERE is_system = 0");
      h.transactions = count("SELECT count(*) FROM transactions");
      // Cheap: balances are kept per account, and accounts are few next to entries.
      h.balanced = count(
                       "SELECT count(*) FROM (SELECT currency FROM accounts GROUP BY currency"
                       " HAVING sum(balance) <> 0)") == 0 &&
                   count("SELECT count(*) FROM accounts WHERE is_system = 0 AND balance < 0") == 0;
      return h;
    });
  }

 private:
  sqlite3* open(int flags) {
    sqlite3* db = nullptr;
    std::string target = cfg_.database_path;
    int rc = sqlite3_open_v2(target.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      throw ledger_error(error_kind::storage,
                         "wallet: cannot open ledger " + cfg_.database_path + ": " + msg);
    }
    sqlite3_busy_timeout(db, static_cast<int>(cfg_.busy_timeout.count()));
    sqlite3_extended_result_codes(db, 0);
    try {
      exec(db, "PRAGMA foreign_keys=ON");
    } catch (...) {
      sqlite3_close_v2(db);
      throw;
    }
    return db;
  }

  // Runs `f` in one BEGIN IMMEDIATE transaction on the write connection, committed when it
  // returns and rolled back when it throws. One writer at a time inside this process (the
  // mutex: SQLite's busy handler sleeps, a mutex hands over at once); BEGIN IMMEDIATE takes the
  // database's write lock, so writers in other processes wait (busy_timeout) instead of
  // interleaving between our reads and writes.
  template <class F>
  auto write(F&& f) -> decltype(f()) {
    std::lock_guard lk(write_mu_);
    exec(writer_, "BEGIN IMMEDIATE");
    try {
      auto r = f();
      exec(writer_, "COMMIT");
      return r;
    } catch (...) {
      // A failed COMMIT (e.g. SQLITE_FULL) may already have rolled back; this is then a no-op.
      sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  // Runs `f` on a read connection inside one read transaction (a consistent snapshot in WAL).
  // An in-memory ledger has only the write connection.
  template <class F>
  auto read(F&& f) -> decltype(f(static_cast<sqlite3*>(nullptr))) {
    if (memory_) {
      std::lock_guard lk(write_mu_);
      return f(writer_);
    }
    sqlite3* db = nullptr;
    {
      std::lock_guard lk(pool_mu_);
      if (!readers_.empty()) {
        db = readers_.back();
        readers_.pop_back();
      }
    }
    if (!db) {
      // Read-write with query_only: a SQLITE_OPEN_READONLY connection cannot always set up the
      // WAL index on its own.
      db = open(SQLITE_OPEN_READWRITE);
      try {
        exec(db, "PRAGMA query_only=ON");
      } catch (...) {
        sqlite3_close_v2(db);
        throw;
      }
    }
    struct give_back {
      sqlite_ledger* self;
      sqlite3* db;
      ~give_back() {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);  // no-op unless still open
        std::lock_guard lk(self->pool_mu_);
        self->readers_.push_back(db);
      }
    } back{this, db};
    exec(db, "BEGIN");
    auto r = f(db);
    exec(db, "COMMIT");
    return r;
  }

  static account account_of(statement& s, int col) {
    return account{s.text(col), s.text(col + 1), s.integer(col + 2), s.integer(col + 3) != 0,
                   s.text(col + 4)};
  }

  static std::optional<account_row> find(sqlite3* db, std::string_view name) {
    statement s(db,
                "SELECT id, name, currency, balance, is_system, created_at FROM accounts"
                " WHERE name = ?1");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return account_row{s.integer(0), account_of(s, 1)};
  }

  static ledger_error not_found(std::string_view name, std::string_view what) {
    return ledger_error(error_kind::not_found, std::string(what) + " " + quoted(name) +
                                                   " does not exist (create_account makes one)");
  }

  account_row require(std::string_view name, std::string_view what) {
    auto r = find(writer_, name);
    if (!r) throw not_found(name, what);
    return *r;
  }

  static transaction load(sqlite3* db, std::int64_t id) {
    statement s(db,
                "SELECT t.id, t.kind, t.currency, t.amount, f.name, d.name, t.memo,"
                " t.idempotency_key, t.created_at FROM transactions t"
                " JOIN accounts f ON f.id = t.from_account JOIN accounts d ON d.id = t.to_account"
                " WHERE t.id = ?1");
    s.bind(1, id);
    if (!s.step())
      throw ledger_error(error_kind::storage,
                         "wallet: transaction " + std::to_string(id) + " vanished");
    transaction t{s.integer(0), s.text(1),          s.text(2),          s.integer(3), s.text(4),
                  s.text(5),    s.optional_text(6), s.optional_text(7), s.text(8),    {}};
    statement e(db,
                "SELECT a.name, e.amount, e.balance_after FROM entries e"
                " JOIN accounts a ON a.id = e.account_id WHERE e.transaction_id = ?1"
                " ORDER BY e.id");
    e.bind(1, id);
    while (e.step()) t.entries.push_back({e.text(0), e.integer(1), e.integer(2)});
    return t;
  }

  // Inside a write transaction: the transaction recorded under `key`, when there is one and it
  // was made by the same request; an error when the key was used for another request.
  std::optional<posting> replayed(const std::optional<std::string>& key, const std::string& print) {
    if (!key) return std::nullopt;
    statement s(writer_, "SELECT id, request FROM transactions WHERE idempotency_key = ?1");
    s.bind(1, *key);
    if (!s.step()) return std::nullopt;
    auto id = s.integer(0);
    if (s.text(1) != print) {
      auto t = load(writer_, id);
      throw ledger_error(
          error_kind::idempotency_conflict,
          "idempotency_key " + quoted(*key) +
              " was already used for a different request (transaction " + std::to_string(id) +
              ": " + t.kind + " of " + std::to_string(t.amount) + " " + t.currency + " from " +
              quoted(t.from) + " to " + quoted(t.to) + "); use a new key for a new request");
    }
    return posting{load(writer_, id), true};
  }

  // Inside a write transaction: records the transaction and its two entries, moves the cached
  // balances, and checks that the entries sum to zero.
  transaction post(const char* kind, const std::optional<std::string>& key,
                   const std::string& print, const std::string& currency, std::int64_t amount,
                   const account_row& from, const account_row& to,
                   const std::optional<std::string>& memo) {
    statement ins(writer_, (std::string("INSERT INTO transactions(kind, idempotency_key, request, "
                                        "currency, amount, from_account, to_account, memo, "
                                        "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ") +
                            now_sql + ")")
                               .c_str());
    ins.bind(1, std::string_view(kind))
        .bind(2, key)
        .bind(3, print)
        .bind(4, currency)
        .bind(5, amount)
        .bind(6, from.id)
        .bind(7, to.id)
        .bind(8, memo)
        .run();
    std::int64_t id = sqlite3_last_insert_rowid(writer_);
    statement move(writer_, "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1");
    statement entry(writer_,
                    "INSERT INTO entries(transaction_id, account_id, amount, balance_after)"
                    " VALUES(?1, ?2, ?3, ?4)");
    for (auto [acct, delta] : {std::pair{&from, -amount}, std::pair{&to, amount}}) {
      move.bind(1, acct->id).bind(2, delta).run();
      entry.bind(1, id).bind(2, acct->id).bind(3, delta).bind(4, acct->acct.balance + delta).run();
    }
    statement sum(writer_,
                  "SELECT coalesce(sum(e.amount), 0), count(*),"
                  " (SELECT count(*) FROM accounts a JOIN entries x ON x.account_id = a.id"
                  "  WHERE x.transaction_id = ?1 AND a.balance <> x.balance_after)"
                  " FROM entries e WHERE e.transaction_id = ?1");
    sum.bind(1, id);
    sum.step();
    if (sum.integer(0) != 0 || sum.integer(1) != 2 || sum.integer(2) != 0)
      throw ledger_error(error_kind::storage,
                         "wallet: the ledger would not balance; nothing was recorded");
    return load(writer_, id);
  }

  wallet_config cfg_;
  bool memory_ = false;
  sqlite3* writer_ = nullptr;
  std::mutex write_mu_;
  std::mutex pool_mu_;
  std::vector<sqlite3*> readers_;
};

}  // namespace

std::unique_ptr<ledger_store> open_sqlite_ledger(const wallet_config& config) {
  return std::make_unique<sqlite_ledger>(config);
}

}  // namespace wallet

namespace {

using namespace plexus::server;

// ---- wire types -------------------------------------------------------------------------------

struct create_account_args {
  std::string name;
  std::string currency;
};
BOOST_DESCRIBE_STRUCT(create_account_args, (), (name, currency))

struct list_accounts_args {
  std::optional<std::string> cursor;
  std::optional<std::int64_t> limit;
};
BOOST_DESCRIBE_STRUCT(list_accounts_args, (), (cursor, limit))

struct account_args {
  std::string account;
};
BOOST_DESCRIBE_STRUCT(account_args, (), (account))

struct deposit_args {
  std::string account;
  std::int64_t amount;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> memo;
};
BOOST_DESCRIBE_STRUCT(deposit_args, (), (account, amount, idempotency_key, memo))

struct transfer_args {
  std::string from;
  std::string to;
  std::int64_t amount;
  std::string idempotency_key;
  std::optional<std::string> memo;
};
BOOST_DESCRIBE_STRUCT(transfer_args, (), (from, to, amount, idempotency_key, memo))

struct list_transactions_args {
  std::string account;
  std::optional<std::string> cursor;
  std::optional<std::int64_t> limit;
};
BOOST_DESCRIBE_STRUCT(list_transactions_args, (), (account, cursor, limit))

struct account_out {
  std::string name;
  std::string currency;
  std::int64_t balance;
  bool system;
  std::string created_at;
};
BOOST_DESCRIBE_STRUCT(account_out, (), (name, currency, balance, system, created_at))

struct create_account_out {
  account_out account;
  bool created;
};
BOOST_DESCRIBE_STRUCT(create_account_out, (), (account, created))

struct accounts_out {
  std::vector<account_out> accounts;
  std::optional<std::string> next_cursor;
};
BOOST_DESCRIBE_STRUCT(accounts_out, (), (accounts, next_cursor))

struct balance_out {
  std::string account;
  std::string currency;
  std::int64_t balance;
  bool system;
};
BOOST_DESCRIBE_STRUCT(balance_out, (), (account, currency, balance, system))

struct entry_out {
  std::string account;
  std::int64_t amount;
  std::int64_t balance_after;
};
BOOST_DESCRIBE_STRUCT(entry_out, (), (account, amount, balance_after))

struct transaction_out {
  std::int64_t id;
  std::string kind;
  std::string currency;
  std::int64_t amount;
  std::string from;
  std::string to;
  std::optional<std::string> memo;
  std::optional<std::string> idempotency_key;
  std::string created_at;
  std::vector<entry_out> entries;
};
BOOST_DESCRIBE_STRUCT(transaction_out, (),
                      (id, kind, currency, amount, from, to, memo, idempotency_key, created_at,
                       entries))

struct posting_out {
  transaction_out transaction;
  bool replayed;
};
BOOST_DESCRIBE_STRUCT(posting_out, (), (transaction, replayed))

struct transactions_out {
  std::string account;
  std::string currency;
  std::int64_t balance;
  std::vector<transaction_out> transactions;
  std::optional<std::string> next_cursor;
};
BOOST_DESCRIBE_STRUCT(transactions_out, (), (account, currency, balance, transactions, next_cursor))

struct health_out {
  std::string status;
  std::string backend;
  std::string version;
  std::string location;
  std::int64_t accounts;
  std::int64_t transactions;
  bool balanced;
};
BOOST_DESCRIBE_STRUCT(health_out, (),
                      (status, backend, version, location, accounts, transactions, balanced))

account_out out_of(const wallet::account& a) {
  return {a.name, a.currency, a.balance, a.system, a.created_at};
}

transaction_out out_of(const wallet::transaction& t) {
  transaction_out o{t.id, t.kind, t.currency,        t.amount,     t.from,
                    t.to, t.memo, t.idempotency_key, t.created_at, {}};
  for (const auto& e : t.entries) o.entries.push_back({e.account, e.amount, e.balance_after});
  return o;
}

std::string money(std::int64_t amount, const std::string& currency) {
  return std::to_string(amount) + " " + currency;
}

std::string posting_text(const wallet::posting& p) {
  const auto& t = p.tx;
  std::string s = (p.replayed ? "Replayed (already applied, nothing changed): " : "") + t.kind +
                  " #" + std::to_string(t.id) + ": " + money(t.amount, t.currency) + " from " +
                  t.from + " to " + t.to;
  for (const auto& e : t.entries)
    s += "\n  " + e.account + " " + (e.amount > 0 ? "+" : "") + std::to_string(e.amount) +
         " -> balance " + std::to_string(e.balance_after);
  if (t.memo) s += "\n  memo: " + *t.memo;
  return s;
}

// ---- cursors: opaque to clients, checked when they come back -------------------------------

std::string account_cursor(const std::string& after) {
  return base64::encode_url("a1\n" + after);
}

std::string after_of(const std::string& cursor) {
  auto raw = base64::decode_url(cursor);
  if (!raw || !raw->starts_with("a1\n"))
    throw tool_error("invalid cursor: pass back the next_cursor of an earlier list_accounts");
  return raw->substr(3);
}

std::string transaction_cursor(const std::string& account, std::int64_t before) {
  return base64::encode_url("t1\n" + account + "\n" + std::to_string(before));
}

std::int64_t before_of(const std::string& cursor, const std::string& account) {
  auto raw = base64::decode_url(cursor);
  const std::string bad =
      "invalid cursor: pass back the next_cursor of an earlier list_transactions";
  if (!raw || !raw->starts_with("t1\n")) throw tool_error(bad);
  auto nl = raw->rfind('\n');
  if (nl < 3) throw tool_error(bad);
  if (raw->substr(3, nl - 3) != account)
    throw tool_error("invalid cursor: it belongs to the transactions of another account");
  std::int64_t before = 0;
  const char* b = raw->data() + nl + 1;
  const char* e = raw->data() + raw->size();
  auto [p, ec] = std::from_chars(b, e, before);
  if (ec != std::errc() || p != e || b == e || before <= 0) throw tool_error(bad);
  return before;
}

std::size_t limit_of(const std::optional<std::int64_t>& limit, std::int64_t fallback) {
  std::int64_t l = limit.value_or(fallback);
  if (l < 1 || l > 200)
    throw tool_error("limit must be between 1 and 200, got " + std::to_string(l));
  return static_cast<std::size_t>(l);
}

// ---- registration -----------------------------------------------------------------------------

// A tool whose arguments are `Args` (void: none) and whose structuredContent is `Out`, with a
// text of its own; ledger errors become tool errors with their message.
template <class Args, class Out, class F>
void add_wallet_tool(server::server& srv, std::string name, std::string title,
                     std::string description, protocol::tool_annotations hints,
                     const schema::annotations& fields, F f) {
  protocol::tool def;
  def.name = name;
  def.title = title;
  def.description = std::move(description);
  hints.title = std::move(title);
  def.annotations = std::move(hints);
  if constexpr (std::is_void_v<Args>)
    def.input_schema = detail::empty_input_schema();
  else
    def.input_schema = schema::derive<Args>(fields);
  def.output_schema = json::value(schema::derive<Out>());
  srv.add_tool(std::move(def), [f = std::move(f), name](context&, const json::object& arguments) {
    std::pair<Out, std::string> r;
    try {
      if constexpr (std::is_void_v<Args>) {
        r = f();
      } else {
        auto params = json::from_json<Args>(arguments);
        if (!params) return detail::invalid_arguments(name, params.error());
        r = f(*params);
      }
    } catch (const wallet::ledger_error& e) {
      throw tool_error(e.what());
    }
    tool_result out = tool_result::text(std::move(r.second));
    out.structured_content = json::to_json(r.first);
    return out;
  });
}

json::object described(std::string text) {
  return {{"description", std::move(text)}};
}

json::object with(json::object a, const json::object& b) {
  for (const auto& kv : b) a[kv.key()] = kv.value();
  return a;
}

// Length only: the characters are checked by the ledger, whose messages say more than a pattern
// (e.g. that "external:USD" is a system account).
const json::object& name_rules() {
  static const json::object o{{"minLength", 1}, {"maxLength", 64}};
  return o;
}

const json::object& amount_rules() {
  static const json::object o{{"minimum", 1}, {"maximum", wallet::max_amount}};
  return o;
}

const json::object& key_rules() {
  static const json::object o{{"minLength", 1}, {"maxLength", 255}, {"pattern", "^[ -~]+$"}};
  return o;
}

const json::object& memo_rules() {
  static const json::object o{{"maxLength", 1000}};
  return o;
}

const json::object& limit_rules() {
  static const json::object o{{"minimum", 1}, {"maximum", 200}};
  return o;
}

}  // namespace

void register_wallet(server::server& srv, std::shared_ptr<wallet::ledger_store> store) {
  const protocol::tool_annotations reads{
      .read_only = true, .destructive = false, .idempotent = true, .open_world = false};

  add_wallet_tool<create_account_args, create_account_out>(
      srv, "create_account", "Create account",
      "Opens an account holding one currency, with a balance of 0 (use deposit to fund it). "
      "Creating an account that exists with the same currency returns it (created: false); with "
      "another currency it is an error.",
      {.read_only = false, .destructive = false, .idempotent = true, .open_world = false},
      {{"name",
        with(described("Account name: letters, digits and _ . @ + -, up to 64"), name_rules())},
       {"currency", with(described("Currency code, three capital letters (e.g. \"USD\")"),
                         json::object{{"pattern", "^[A-Z]{3}$"}})}},
      [store](const create_account_args& a) {
        auto r = store->create_account(a.name, a.currency);
        create_account_out out{out_of(r.value), r.created};
        return std::pair{out, std::string(r.created ? "Created" : "Exists:") + " account " +
                                  r.value.name + " (" + r.value.currency + "), balance " +
                                  money(r.value.balance, r.value.currency)};
      });

  add_wallet_tool<list_accounts_args, accounts_out>(
      srv, "list_accounts", "List accounts",
      "The accounts with their balances (minor units), by name, a page at a time", reads,
      {{"cursor", described("next_cursor of the previous page")},
       {"limit", with(described("Accounts per page (default 50)"), limit_rules())}},
      [store](const list_accounts_args& a) {
        std::optional<std::string> after;
        if (a.cursor) after = after_of(*a.cursor);
        auto page = store->list_accounts(after, limit_of(a.limit, 50));
        accounts_out out;
        std::string text;
        for (const auto& acct : page.accounts) {
          out.accounts.push_back(out_of(acct));
          text += acct.name + ": " + money(acct.balance, acct.currency) + "\n";
        }
        if (page.next_after) out.next_cursor = account_cursor(*page.next_after);
        text += "(" + std::to_string(out.accounts.size()) +
                (out.accounts.size() == 1 ? " account" : " accounts") +
                (out.next_cursor ? "; more with next_cursor)" : ")");
        return std::pair{out, text};
      });

  add_wallet_tool<account_args, balance_out>(
      srv, "get_balance", "Get balance",
      "The balance of an account, in minor units of its currency (e.g. cents). The system "
      "account \"external:CUR\" holds minus the money deposited in CUR.",
      reads, {{"account", with(described("Account name"), name_rules())}},
      [store](const account_args& a) {
        auto acct = store->get_account(a.account);
        if (!acct)
          throw tool_error("account " + json::dump(json::value(json::string(a.account))) +
                           " does not exist (create_account makes one)");
        balance_out out{acct->name, acct->currency, acct->balance, acct->system};
        return std::pair{
            out, acct->name + ": " + money(acct->balance, acct->currency) + " (minor units)"};
      });

  add_wallet_tool<deposit_args, posting_out>(
      srv, "deposit", "Deposit",
      "Adds money from outside the wallet to an account (amount in minor units, e.g. cents). "
      "Without idempotency_key every call deposits again; with one, a retry of the same request "
      "is applied once and returns the original transaction (replayed: true), and the same key "
      "with a different request is refused.",
      {.read_only = false, .destructive = false, .idempotent = false, .open_world = false},
      {{"account", with(described("Account to credit"), name_rules())},
       {"amount", with(described("Minor units (e.g. cents), a positive integer"), amount_rules())},
       {"idempotency_key",
        with(described("Unique per intended deposit; retries reuse it"), key_rules())},
       {"memo", with(described("Free text kept with the transaction"), memo_rules())}},
      [store](const deposit_args& a) {
        auto p = store->deposit({a.account, a.amount, a.idempotency_key, a.memo});
        posting_out out{out_of(p.tx), p.replayed};
        return std::pair{out, posting_text(p)};
      });

  add_wallet_tool<transfer_args, posting_out>(
      srv, "transfer", "Transfer",
      "Moves money between two accounts of the same currency, atomically (amount in minor "
      "units). Refused, changing nothing, when `from` has less than amount. idempotency_key is "
      "required: a retry with the same key and request is applied once and returns the original "
      "transaction (replayed: true); the same key with a different request is refused.",
      {.read_only = false, .destructive = false, .idempotent = true, .open_world = false},
      {{"from", with(described("Account to debit"), name_rules())},
       {"to", with(described("Account to credit"), name_rules())},
       {"amount", with(described("Minor units (e.g. cents), a positive integer"), amount_rules())},
       {"idempotency_key",
        with(described("Unique per intended transfer; retries reuse it"), key_rules())},
       {"memo", with(described("Free text kept with the transaction"), memo_rules())}},
      [store](const transfer_args& a) {
        auto p = store->transfer({a.from, a.to, a.amount, a.idempotency_key, a.memo});
        posting_out out{out_of(p.tx), p.replayed};
        return std::pair{out, posting_text(p)};
      });

  add_wallet_tool<list_transactions_args, transactions_out>(
      srv, "list_transactions", "List transactions",
      "The transactions of an account, newest first, a page at a time; each has its entries "
      "(signed amounts that sum to zero) and the balances after it. Pages are stable: new "
      "transactions never shift later pages.",
      reads,
      {{"account", with(described("Account name"), name_rules())},
       {"cursor", described("next_cursor of the previous page")},
       {"limit", with(described("Transactions per page (default 50)"), limit_rules())}},
      [store](const list_transactions_args& a) {
        std::optional<std::int64_t> before;
        if (a.cursor) before = before_of(*a.cursor, a.account);
        auto size = limit_of(a.limit, 50);
        auto acct = store->get_account(a.account);
        if (!acct)
          throw tool_error("account " + json::dump(json::value(json::string(a.account))) +
                           " does not exist (create_account makes one)");
        auto page = store->list_transactions(a.account, before, size);
        transactions_out out{acct->name, acct->currency, acct->balance, {}, std::nullopt};
        std::string text = acct->name + " (" + acct->currency + "):";
        for (const auto& t : page.transactions) {
          out.transactions.push_back(out_of(t));
          for (const auto& e : t.entries)
            if (e.account == acct->name)
              text += "\n#" + std::to_string(t.id) + " " + t.created_at + " " + t.kind + " " +
                      (e.amount > 0 ? "+" : "") + std::to_string(e.amount) + " (" +
                      (e.amount > 0 ? "from " + t.from : "to " + t.to) + ") -> " +
                      std::to_string(e.balance_after) + (t.memo ? " \"" + *t.memo + "\"" : "");
        }
        if (page.next_before) out.next_cursor = transaction_cursor(acct->name, *page.next_before);
        if (page.transactions.empty()) text += " no transactions";
        if (out.next_cursor) text += "\n(more with next_cursor)";
        return std::pair{out, text};
      });

  add_wallet_tool<void, health_out>(
      srv, "health", "Health",
      "Liveness of the wallet and its ledger: counts, and whether the books balance (per "
      "currency all balances sum to zero, no account is overdrawn)",
      reads, {}, [store]() {
        auto h = store->health();
        health_out out{h.balanced ? "ok" : "unbalanced",
                       h.backend,
                       h.version,
                       h.location,
                       h.accounts,
                       h.transactions,
                       h.balanced};
        return std::pair{out, out.status + ": " + h.backend + " " + h.version + " at " +
                                  h.location + ", " + std::to_string(h.accounts) + " accounts, " +
                                  std::to_string(h.transactions) + " transactions"};
      });
}

std::unique_ptr<server::server> make_wallet_server(wallet_config config,
                                                   server::server_options options) {
  std::shared_ptr<wallet::ledger_store> store = wallet::open_sqlite_ledger(config);
  if (!options.instructions)
    options.instructions =
        "A wallet: accounts of one currency each, deposits and transfers in integer minor units "
        "(cents), recorded in a double-entry ledger. Give every transfer an idempotency_key and "
        "reuse it when retrying.";
  auto srv = std::make_unique<server::server>(
      protocol::implementation{
          .name = "plexus-wallet", .version = PLEXUS_VERSION, .title = "Plexus Wallet Server"},
      std::move(options));
  register_wallet(*srv, std::move(store));
  return srv;
}

}  // namespace plexus::servers
