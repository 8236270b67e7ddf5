// The wallet server: accounts holding integer amounts of one currency each, deposits and
// transfers recorded in a double-entry ledger, over MCP.
//
// Money is never a floating-point number: every amount is an integer count of the currency's
// minor unit (cents for "USD"), at most 2^53 - 1 so that JSON carries it exactly. Each account
// has one currency (three capital letters, e.g. "USD"); transfers only move money between two
// accounts of the same currency.
//
// The books: every transaction is a set of entries (account, signed amount) that sums to zero.
// A transfer debits `from` and credits `to`; a deposit credits the account and debits the
// currency's system account "external:CUR" (created on the first deposit in CUR), which
// therefore holds minus the money that entered the wallet. Per currency, the balances of all
// accounts, system ones included, sum to zero. Non-system balances never go negative: a transfer
// that would overdraw is refused and changes nothing (and the storage refuses it too, as a last
// guard). Entries are append-only.
//
// Idempotency: a deposit or transfer may carry an idempotency key (transfers must). The first
// request with a key is applied once; a later request with the same key and the same request
// (kind, accounts, amount, memo) returns the original transaction, marked `replayed`, and
// changes nothing; the same key with a different request is refused. A request that fails
// (unknown account, insufficient funds, ...) records nothing and does not use up its key.
//
// Tools: create_account, list_accounts, get_balance, deposit, transfer, list_transactions,
// health (see register_wallet).
//
// Storage is behind the abstract wallet::ledger_store so that another engine can be added; the
// SQLite store (open_sqlite_ledger) keeps everything in one file in WAL mode, runs every mutation
// in one BEGIN IMMEDIATE transaction (so two processes sharing the file are safe too) and, by
// default, syncs each commit to disk before answering.
//
// Thread-safety: ledger_store implementations are safe to call from any number of threads; the
// server is as plexus::server::server.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers {

struct wallet_config {
  std::string database_path = "wallet.db";  // ":memory:" for a ledger that is not kept
  // How long a mutation waits for another process holding the database's write lock.
  std::chrono::milliseconds busy_timeout{10'000};
  // Sync every commit to stable storage before answering (PRAGMA synchronous=FULL). Off
  // (NORMAL), a committed transaction survives a crash of the process but maybe not of the OS.
  bool sync_commits = true;
};

namespace wallet {

// The largest amount and the largest absolute balance: 2^53 - 1, exact in every JSON parser.
inline constexpr std::int64_t max_amount = 9'007'199'254'740'991;

// Why an operation failed; the message says it precisely, for the caller.
enum class error_kind {
  invalid_argument,      // a malformed name, currency, amount, memo, key or cursor
  not_found,             // no such account
  already_exists,        // an account of that name exists with another currency
  currency_mismatch,     // a transfer between accounts of different currencies
  insufficient_funds,    // the transfer would overdraw `from`
  system_account,        // system accounts cannot be created, deposited to or transferred with
  idempotency_conflict,  // the key was used for a different request
  limit_exceeded,        // a balance would leave [-max_amount, max_amount]
  storage,               // the database failed (busy beyond the timeout, disk full, ...)
};

class ledger_error : public std::runtime_error {
 public:
  ledger_error(error_kind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  error_kind kind() const noexcept { return kind_; }

 private:
  error_kind kind_;
};

struct account {
  std::string name;
  std::string currency;
  std::int64_t balance = 0;  // minor units
  bool system = false;       // "external:CUR"
  std::string created_at;    // RFC 3339 UTC, milliseconds
};

struct entry {
  std::string account;
  std::int64_t amount = 0;  // signed: negative debits, positive credits
  std::int64_t balance_after = 0;
};

struct transaction {
  std::int64_t id = 0;  // increasing in commit order
  std::string kind;     // "deposit" | "transfer"
  std::string currency;
  std::int64_t amount = 0;  // > 0: what moved from `from` to `to`
  std::string from;         // a deposit's is the system account "external:CUR"
  std::string to;
  std::optional<std::string> memo;
  std::optional<std::string> idempotency_key;
  std::string created_at;
  std::vector<entry> entries;  // sum to zero
};

struct deposit_request {
  std::string account;
  std::int64_t amount = 0;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> memo;
};

struct transfer_request {
  std::string from;
  std::string to;
  std::int64_t amount = 0;
  std::optional<std::string> idempotency_key;  // the transfer tool requires one
  std::optional<std::string> memo;
};

// The outcome of a deposit or transfer: the transaction, and whether it was a replay of an
// earlier request with the same idempotency key (then nothing changed now).
struct posting {
  transaction tx;
  bool replayed = false;
};

struct account_creation {
  account value;
  bool created = false;  // false: it existed already, with that currency
};

struct account_page {
  std::vector<account> accounts;          // by name
  std::optional<std::string> next_after;  // pass as `after` for the next page
};

struct transaction_page {
  std::vector<transaction> transactions;    // newest first
  std::optional<std::int64_t> next_before;  // pass as `before_id` for the next page
};

struct ledger_health {
  std::string backend;   // "sqlite"
  std::string version;   // library version
  std::string location;  // path or connection target
  std::int64_t accounts = 0;
  std::int64_t transactions = 0;
  // Per currency, all balances (system accounts included) sum to zero, and no non-system
  // balance is negative.
  bool balanced = false;
};

// One ledger engine. Every method throws ledger_error for every failure a caller can cause or
// see; a method that throws changed nothing.
class ledger_store {
 public:
  virtual ~ledger_store() = default;
  // Creates the account, or returns the existing one (created = false) when an account of that
  // name and currency exists; another currency is error_kind::already_exists.
  virtual account_creation create_account(const std::string& name, const std::string& currency) = 0;
  // std::nullopt when there is no such account. System accounts are found too.
  virtual std::optional<account> get_account(const std::string& name) = 0;
  // Non-system accounts, by name, after `after` (exclusive), at most `limit` (1..1000).
  virtual account_page list_accounts(const std::optional<std::string>& after,
                                     std::size_t limit) = 0;
  virtual posting deposit(const deposit_request& request) = 0;
  virtual posting transfer(const transfer_request& request) = 0;
  // The transactions touching `account`, newest first, with id < before_id when given.
  virtual transaction_page list_transactions(const std::string& account,
                                             std::optional<std::int64_t> before_id,
                                             std::size_t limit) = 0;
  virtual ledger_health health() = 0;
};

// The SQLite store (throws ledger_error{storage} when the file cannot be opened or set up).
std::unique_ptr<ledger_store> open_sqlite_ledger(const wallet_config& config);

// The rules every store applies, with the messages callers see (ledger_error{invalid_argument}).
// Account names: 1..64 characters from [A-Za-z0-9_.@+-], starting with a letter or digit.
void check_account_name(std::string_view name, std::string_view what = "account");
// Currencies: three capital letters (ISO 4217 style).
void check_currency(std::string_view currency);
// Amounts: 1..max_amount.
void check_amount(std::int64_t amount);
// Idempotency keys: 1..255 printable ASCII characters; memos: at most 1000 bytes of UTF-8.
void check_idempotency_key(std::string_view key);
void check_memo(std::string_view memo);
// The system account holding the other side of deposits in `currency`.
std::string system_account(std::string_view currency);
// What identifies a request under its idempotency key (same fingerprint = same request).
std::string fingerprint(const deposit_request& r);
std::string fingerprint(const transfer_request& r);

}  // namespace wallet

// Registers the wallet tools over `store` on `srv`.
void register_wallet(server::server& srv, std::shared_ptr<wallet::ledger_store> store);

// The wallet server over SQLite at config.database_path (throws wallet::ledger_error when the
// ledger cannot be opened).
std::unique_ptr<server::server> make_wallet_server(wallet_config config,
                                                   server::server_options options = {});

}  // namespace plexus::servers
