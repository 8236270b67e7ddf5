// The wallet's ledger in PostgreSQL; see wallet_postgres.hpp. It mirrors the SQLite store in
// wallet.cpp: same checks, same messages, same books.
#include "plexus/servers/wallet_postgres.hpp"

#include "plexus/json/json.hpp"

#include "servers/lazy_libs.hpp"
#include "servers/pg_pool.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <thread>

namespace plexus::servers::wallet {

namespace {

constexpr std::string_view system_prefix = "external:";
constexpr std::size_t pool_size = 4;
constexpr int max_attempts = 8;  // serialization failures and stale connections are retried

bool is_system_name(std::string_view name) {
  return name.starts_with(system_prefix);
}

std::string quoted(std::string_view s) {
  return json::dump(json::value(json::string(s)));
}

void check_user_account(std::string_view name, std::string_view what) {
  if (is_system_name(name))
    throw ledger_error(error_kind::system_account,
                       std::string(what) + " " + quoted(name) +
                           " is a system account: it only records the other side of deposits");
  check_account_name(name, what);
}

using pg::conn_ptr;
using pg::ignore_notice;
using pg::result_ptr;

// A failed command: the SQLSTATE ("" when the connection failed) and the server's message.
struct pg_failure {
  std::string sqlstate;
  std::string message;
  bool connection_lost = false;
};

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

using param = std::optional<std::string>;

// Runs one statement with text parameters; throws pg_failure.
result_ptr run(PGconn* c, const char* sql, std::initializer_list<param> params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  result_ptr r(lazy::pq().PQexecParams(c, sql, static_cast<int>(values.size()), nullptr,
                                       values.data(), nullptr, nullptr, 0));
  auto st = r ? lazy::pq().PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  pg_failure f;
  f.connection_lost = lazy::pq().PQstatus(c) != CONNECTION_OK;
  if (const char* s = r ? lazy::pq().PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr)
    f.sqlstate = s;
  const char* primary =
      r ? lazy::pq().PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  f.message = primary ? primary : trimmed(lazy::pq().PQerrorMessage(c));
  throw f;
}

std::string text(const result_ptr& r, int row, int col) {
  return std::string(lazy::pq().PQgetvalue(r.get(), row, col),
                     static_cast<std::size_t>(lazy::pq().PQgetlength(r.get(), row, col)));
}
std::optional<std::string> optional_text(const result_ptr& r, int row, int col) {
  if (lazy::pq().PQgetisnull(r.get(), row, col)) return std::nullopt;
  return text(r, row, col);
}
std::int64_t integer(const result_ptr& r, int row, int col) {
  return std::strtoll(lazy::pq().PQgetvalue(r.get(), row, col), nullptr, 10);
}

std::string str(std::int64_t v) {
  return std::to_string(v);
}

constexpr const char* schema_sql = R"sql(
SELECT pg_advisory_xact_lock(7423000);
CREATE TABLE IF NOT EXISTS wallet_accounts(
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  currency text NOT NULL CHECK (length(currency) = 3),
  is_system boolean NOT NULL DEFAULT false,
  balance bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (is_system OR balance >= 0));
CREATE TABLE IF NOT EXISTS wallet_transactions(
  id bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('deposit', 'transfer')),
  idempotency_key text UNIQUE,
  request text NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  from_account bigint NOT NULL REFERENCES wallet_accounts(id),
  to_account bigint NOT NULL REFERENCES wallet_accounts(id),
  memo text,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS wallet_entries(
  id bigserial PRIMARY KEY,
  transaction_id bigint NOT NULL REFERENCES wallet_transactions(id),
  account_id bigint NOT NULL REFERENCES wallet_accounts(id),
  amount bigint NOT NULL CHECK (amount <> 0),
  balance_after bigint NOT NULL,
  UNIQUE (transaction_id, account_id));
CREATE INDEX IF NOT EXISTS wallet_entries_by_account
  ON wallet_entries(account_id, transaction_id);
CREATE OR REPLACE FUNCTION wallet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger % are append-only', TG_ARGV[0];
END $$;
CREATE OR REPLACE TRIGGER wallet_entries_append_only BEFORE UPDATE OR DELETE ON wallet_entries
  FOR EACH ROW EXECUTE FUNCTION wallet_append_only('entries');
CREATE OR REPLACE TRIGGER wallet_transactions_append_only
  BEFORE UPDATE OR DELETE ON wallet_transactions
  FOR EACH ROW EXECUTE FUNCTION wallet_append_only('transactions');
)sql";

// RFC 3339 UTC with milliseconds, like the SQLite store.
#define WALLET_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

constexpr const char* account_columns =
    "id, name, currency, balance, is_system, " WALLET_TIME("created_at");

struct account_row {
  std::int64_t id = 0;
  account acct;
};

account_row account_of(const result_ptr& r, int row) {
  return {integer(r, row, 0), account{text(r, row, 1), text(r, row, 2), integer(r, row, 3),
                                      text(r, row, 4) == "t", text(r, row, 5)}};
}

class postgres_ledger final : public ledger_store {
 public:
  postgres_ledger(std::string conninfo, const wallet_config& c)
      : conninfo_(std::move(conninfo)), cfg_(c) {
    auto first = connect();
    target_ = target_of(first.get());
    try {
      run(first.get(), "BEGIN");
      result_ptr r(lazy::pq().PQexec(first.get(), schema_sql));
      if (!r || lazy::pq().PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        throw pg_failure{"", trimmed(lazy::pq().PQerrorMessage(first.get())), false};
      run(first.get(), "COMMIT");
    } catch (const pg_failure& f) {
      throw ledger_error(error_kind::storage,
                         "wallet: cannot set up the ledger at " + target_ + ": " + f.message);
    }
    pool_.adopt(std::move(first));
  }

  account_creation create_account(const std::string& name, const std::string& currency) override {
    if (is_system_name(name))
      throw ledger_error(error_kind::system_account,
                         "account name " + quoted(name) +
                             " is reserved: names starting with \"external:\" are system accounts");
    check_account_name(name, "account");
    check_currency(currency);
    return write([&](PGconn* c) {
      auto ins = run(c,
                     "INSERT INTO wallet_accounts(name, currency) VALUES($1, $2)"
                     " ON CONFLICT (name) DO NOTHING",
                     {name, currency});
      bool created = std::string(lazy::pq().PQcmdTuples(ins.get())) == "1";
      auto existing = find(c, name);
      if (!existing)
        throw ledger_error(error_kind::storage, "wallet: account " + quoted(name) + " vanished");
      if (existing->acct.currency != currency)
        throw ledger_error(error_kind::already_exists,
                           "account " + quoted(name) + " already exists with currency " +
                               existing->acct.currency + ", not " + currency);
      return account_creation{existing->acct, created};
    });
  }

  std::optional<account> get_account(const std::string& name) override {
    if (!is_system_name(name)) check_account_name(name, "account");
    return read([&](PGconn* c) -> std::optional<account> {
      if (auto r = find(c, name)) return r->acct;
      return std::nullopt;
    });
  }

  account_page list_accounts(const std::optional<std::string>& after, std::size_t limit) override {
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    return read([&](PGconn* c) {
      // COLLATE "C": byte order, as SQLite, whatever the database's collation.
      auto r = run(c,
                   (std::string("SELECT ") + account_columns +
                    " FROM wallet_accounts WHERE NOT is_system AND name > $1 COLLATE \"C\""
                    " ORDER BY name COLLATE \"C\" LIMIT $2")
                       .c_str(),
                   {after.value_or(""), str(static_cast<std::int64_t>(limit + 1))});
      account_page page;
      for (int i = 0; i < lazy::pq().PQntuples(r.get()); ++i)
        page.accounts.push_back(account_of(r, i).acct);
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
    return write([&](PGconn* c) {
      lock_key(c, r.idempotency_key);
      if (auto replay = replayed(c, r.idempotency_key, print)) return *replay;
      auto found = find(c, r.account);
      if (!found) throw not_found(r.account, "account");
      auto sys_name = system_account(found->acct.currency);
      run(c,
          "INSERT INTO wallet_accounts(name, currency, is_system) VALUES($1, $2, true)"
          " ON CONFLICT (name) DO NOTHING",
          {sys_name, found->acct.currency});
      auto locked = lock(c, r.account, sys_name);
      auto& to = locked.first;
      auto& sys = locked.second;
      if (to.acct.balance > max_amount - r.amount)
        throw ledger_error(error_kind::limit_exceeded,
                           "the deposit would take the balance of " + quoted(r.account) +
                               " above the largest balance " + std::to_string(max_amount));
      if (sys.acct.balance < r.amount - max_amount)
        throw ledger_error(error_kind::limit_exceeded, "the deposit would take the money held in " +
                                                           to.acct.currency + " above " +
                                                           std::to_string(max_amount));
      return posting{
          post(c, "deposit", r.idempotency_key, print, to.acct.currency, r.amount, sys, to, r.memo),
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
    return write([&](PGconn* c) {
      lock_key(c, r.idempotency_key);
      if (auto replay = replayed(c, r.idempotency_key, print)) return *replay;
      if (r.from == r.to)
        throw ledger_error(error_kind::invalid_argument,
                           "from and to are the same account (" + quoted(r.from) + ")");
      if (!find(c, r.from)) throw not_found(r.from, "from account");
      if (!find(c, r.to)) throw not_found(r.to, "to account");
      auto [from, to] = lock(c, r.from, r.to);
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
      return posting{post(c, "transfer", r.idempotency_key, print, from.acct.currency, r.amount,
                          from, to, r.memo),
                     false};
    });
  }

  transaction_page list_transactions(const std::string& name, std::optional<std::int64_t> before_id,
                                     std::size_t limit) override {
    if (!is_system_name(name)) check_account_name(name, "account");
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    return read([&](PGconn* c) {
      auto acct = find(c, name);
      if (!acct) throw not_found(name, "account");
      auto r =
          run(c,
              "SELECT transaction_id FROM wallet_entries WHERE account_id = $1"
              " AND transaction_id < $2 ORDER BY transaction_id DESC LIMIT $3",
              {str(acct->id), str(before_id.value_or(std::numeric_limits<std::int64_t>::max())),
               str(static_cast<std::int64_t>(limit + 1))});
      std::vector<std::int64_t> ids;
      for (int i = 0; i < lazy::pq().PQntuples(r.get()); ++i) ids.push_back(integer(r, i, 0));
      transaction_page page;
      bool more = ids.size() > limit;
      if (more) ids.pop_back();
      for (auto id : ids) page.transactions.push_back(load(c, id));
      if (more) page.next_before = ids.back();
      return page;
    });
  }

  ledger_health health() override {
    return read([&](PGconn* c) {
      ledger_health h;
      h.backend = "postgresql";
      h.location = target_;
      auto one = [&](const char* sql) { return run(c, sql); };
      h.version = "PostgreSQL " + text(one("SELECT current_setting('server_version')"), 0, 0);
      h.accounts = integer(one("SELECT count(*) FROM wallet_accounts WHERE NOT is_system"), 0, 0);
      h.transactions = integer(one("SELECT count(*) FROM wallet_transactions"), 0, 0);
      h.balanced =
          integer(one("SELECT count(*) FROM (SELECT currency FROM wallet_accounts GROUP BY currency"
                      " HAVING sum(balance) <> 0) AS unbalanced"),
                  0, 0) == 0 &&
          integer(one("SELECT count(*) FROM wallet_accounts WHERE NOT is_system AND balance < 0"),
                  0, 0) == 0;
      return h;
    });
  }

 private:
  static std::string target_of(PGconn* c) {
    std::string t;
    if (const char* u = lazy::pq().PQuser(c); u && *u) t += std::string(u) + "@";
    const char* h = lazy::pq().PQhost(c);
    t += h && *h ? h : "localhost";
    if (const char* p = lazy::pq().PQport(c); p && *p) t += std::string(":") + p;
    if (const char* d = lazy::pq().PQdb(c); d && *d) t += std::string("/") + d;
    return t;
  }

  conn_ptr connect() {
    const char* keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding",
                          nullptr};
    const char* vals[] = {"10", "plexus-wallet", conninfo_.c_str(), "UTF8", nullptr};
    try {
      lazy::pq();
    } catch (const std::exception& e) {
      throw ledger_error(error_kind::storage,
                         std::string("wallet: cannot connect to PostgreSQL: ") + e.what());
    }
    conn_ptr c(lazy::pq().PQconnectdbParams(keys, vals, 1));
    if (!c || lazy::pq().PQstatus(c.get()) != CONNECTION_OK)
      throw ledger_error(error_kind::storage,
                         "wallet: cannot connect to PostgreSQL" +
                             (c ? " at " + target_of(c.get()) : std::string()) + ": " +
                             trimmed(c ? lazy::pq().PQerrorMessage(c.get()) : "out of memory"));
    lazy::pq().PQsetNoticeReceiver(c.get(), ignore_notice, nullptr);
    std::string setup = "SET lock_timeout = " +
                        std::to_string(std::max<std::int64_t>(1, cfg_.busy_timeout.count())) +
                        "; SET synchronous_commit = " + (cfg_.sync_commits ? "on" : "off");
    result_ptr r(lazy::pq().PQexec(c.get(), setup.c_str()));
    if (!r || lazy::pq().PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      throw ledger_error(error_kind::storage, "wallet: cannot configure the PostgreSQL session: " +
                                                  trimmed(lazy::pq().PQerrorMessage(c.get())));
    return c;
  }

  static ledger_error storage_error(const pg_failure& f) {
    if (f.sqlstate == "55P03" || f.sqlstate == "40001" || f.sqlstate == "40P01")
      return ledger_error(error_kind::storage,
                          "wallet: the ledger is busy (another writer held it too long); retry the "
                          "request with the same idempotency key");
    if (f.connection_lost)
      return ledger_error(error_kind::storage,
                          "wallet: lost the connection to PostgreSQL (" + f.message +
                              "); retry the request with the same idempotency key");
    return ledger_error(error_kind::storage, "wallet: database error: " + f.message);
  }

  // Runs `f` in one transaction begun with `begin`, committed when it returns and rolled back
  // when it throws. Serialization failures, deadlocks and a connection found dead at BEGIN are
  // retried (nothing was applied); a connection lost later is reported (the caller retries with
  // its idempotency key, the request is then applied at most once).
  template <class F>
  auto in_transaction(const char* begin, F&& f) -> decltype(f(static_cast<PGconn*>(nullptr))) {
    for (int attempt = 1;; ++attempt) {
      auto l = pool_.acquire();
      PGconn* c = l.get();
      bool begun = false;
      try {
        run(c, begin);
        begun = true;
        auto r = f(c);
        run(c, "COMMIT");
        return r;
      } catch (const pg_failure& e) {
        if (lazy::pq().PQstatus(c) == CONNECTION_OK)
          lazy::pq().PQclear(lazy::pq().PQexec(c, "ROLLBACK"));
        bool retry =
            (!begun && e.connection_lost) || e.sqlstate == "40001" || e.sqlstate == "40P01";
        if (!retry || attempt >= max_attempts) throw storage_error(e);
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt * 5));
      } catch (...) {
        if (lazy::pq().PQstatus(c) == CONNECTION_OK)
          lazy::pq().PQclear(lazy::pq().PQexec(c, "ROLLBACK"));
        throw;
      }
    }
  }

  template <class F>
  auto write(F&& f) -> decltype(f(static_cast<PGconn*>(nullptr))) {
    return in_transaction("BEGIN ISOLATION LEVEL READ COMMITTED", std::forward<F>(f));
  }
  template <class F>
  auto read(F&& f) -> decltype(f(static_cast<PGconn*>(nullptr))) {
    return in_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", std::forward<F>(f));
  }

  static std::optional<account_row> find(PGconn* c, const std::string& name) {
    auto r =
        run(c,
            (std::string("SELECT ") + account_columns + " FROM wallet_accounts WHERE name = $1")
                .c_str(),
            {name});
    if (lazy::pq().PQntuples(r.get()) == 0) return std::nullopt;
    return account_of(r, 0);
  }

  // Locks two existing accounts in name order (so concurrent callers never deadlock) and
  // returns their current rows, in the order asked.
  static std::pair<account_row, account_row> lock(PGconn* c, const std::string& a,
                                                  const std::string& b) {
    auto r = run(c,
                 (std::string("SELECT ") + account_columns +
                  " FROM wallet_accounts WHERE name IN ($1, $2) ORDER BY name COLLATE \"C\""
                  " FOR UPDATE")
                     .c_str(),
                 {a, b});
    if (lazy::pq().PQntuples(r.get()) != 2)
      throw ledger_error(error_kind::storage, "wallet: an account vanished while locking it");
    auto x = account_of(r, 0), y = account_of(r, 1);
    if (x.acct.name == a) return {x, y};
    return {y, x};
  }

  // Requests with the same idempotency key run one after the other, so the second sees the
  // first's transaction.
  static void lock_key(PGconn* c, const std::optional<std::string>& key) {
    if (key) run(c, "SELECT pg_advisory_xact_lock(hashtextextended($1, 7423))", {*key});
  }

  static ledger_error not_found(std::string_view name, std::string_view what) {
    return ledger_error(error_kind::not_found, std::string(what) + " " + quoted(name) +
                                                   " does not exist (create_account makes one)");
  }

  static transaction load(PGconn* c, std::int64_t id) {
    auto r = run(c,
                 "SELECT t.id, t.kind, t.currency, t.amount, f.name, d.name, t.memo,"
                 " t.idempotency_key, " WALLET_TIME("t.created_at") " FROM wallet_transactions t"
                 " JOIN wallet_accounts f ON f.id = t.from_account"
                 " JOIN wallet_accounts d ON d.id = t.to_account WHERE t.id = $1",
                 {str(id)});
    if (lazy::pq().PQntuples(r.get()) != 1)
      throw ledger_error(error_kind::storage,
                         "wallet: transaction " + std::to_string(id) + " vanished");
    transaction t{integer(r, 0, 0),       text(r, 0, 1),
                  text(r, 0, 2),          integer(r, 0, 3),
                  text(r, 0, 4),          text(r, 0, 5),
                  optional_text(r, 0, 6), optional_text(r, 0, 7),
                  text(r, 0, 8),          {}};
    auto e = run(c,
                 "SELECT a.name, e.amount, e.balance_after FROM wallet_entries e"
                 " JOIN wallet_accounts a ON a.id = e.account_id WHERE e.transaction_id = $1"
                 " ORDER BY e.id",
                 {str(id)});
    for (int i = 0; i < lazy::pq().PQntuples(e.get()); ++i)
      t.entries.push_back({text(e, i, 0), integer(e, i, 1), integer(e, i, 2)});
    return t;
  }

  static std::optional<posting> replayed(PGconn* c, const std::optional<std::string>& key,
                                         const std::string& print) {
    if (!key) return std::nullopt;
    auto r =
        run(c, "SELECT id, request FROM wallet_transactions WHERE idempotency_key = $1", {*key});
    if (lazy::pq().PQntuples(r.get()) == 0) return std::nullopt;
    auto id = integer(r, 0, 0);
    if (text(r, 0, 1) != print) {
      auto t = load(c, id);
      throw ledger_error(
          error_kind::idempotency_conflict,
          "idempotency_key " + quoted(*key) +
              " was already used for a different request (transaction " + std::to_string(id) +
              ": " + t.kind + " of " + std::to_string(t.amount) + " " + t.currency + " from " +
              quoted(t.from) + " to " + quoted(t.to) + "); use a new key for a new request");
    }
    return posting{load(c, id), true};
  }

  // With both accounts locked: records the transaction and its two entries, moves the cached
  // balances and checks that the entries sum to zero.
  static transaction post(PGconn* c, const char* kind, const std::optional<std::string>& key,
                          const std::string& print, const std::string& currency,
                          std::int64_t amount, const account_row& from, const account_row& to,
                          const std::optional<std::string>& memo) {
    auto ins =
        run(c,
            "INSERT INTO wallet_transactions(kind, idempotency_key, request, currency,"
            " amount, from_account, to_account, memo) VALUES($1, $2, $3, $4, $5, $6, $7, $8)"
            " RETURNING id",
            {std::string(kind), key, print, currency, str(amount), str(from.id), str(to.id), memo});
    auto id = integer(ins, 0, 0);
    for (auto [acct, delta] : {std::pair{&from, -amount}, std::pair{&to, amount}}) {
      run(c, "UPDATE wallet_accounts SET balance = balance + $2 WHERE id = $1",
          {str(acct->id), str(delta)});
      run(c,
          "INSERT INTO wallet_entries(transaction_id, account_id, amount, balance_after)"
          " VALUES($1, $2, $3, $4)",
          {str(id), str(acct->id), str(delta), str(acct->acct.balance + delta)});
    }
    auto sum = run(c,
                   "SELECT coalesce(sum(e.amount), 0), count(*),"
                   " (SELECT count(*) FROM wallet_accounts a JOIN wallet_entries x"
                   "  ON x.account_id = a.id WHERE x.transaction_id = $1"
                   "  AND a.balance <> x.balance_after)"
                   " FROM wallet_entries e WHERE e.transaction_id = $1",
                   {str(id)});
    if (integer(sum, 0, 0) != 0 || integer(sum, 0, 1) != 2 || integer(sum, 0, 2) != 0)
      throw ledger_error(error_kind::storage,
                         "wallet: the ledger would not balance; nothing was recorded");
    return load(c, id);
  }

  std::string conninfo_;
  wallet_config cfg_;
  std::string target_;
  pg::pool pool_{pool_size, [this] { return connect(); }};
};

}  // namespace

std::unique_ptr<ledger_store> open_postgres_ledger(const std::string& conninfo,
                                                   const wallet_config& config) {
  return std::make_unique<postgres_ledger>(conninfo, config);
}

}  // namespace plexus::servers::wallet
