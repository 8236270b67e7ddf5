// The wallet's ledger in PostgreSQL (libpq): the same books, rules and messages as the SQLite
// store (see wallet.hpp), for wallets shared by several gateway processes or hosts.
//
// Tables wallet_accounts, wallet_transactions and wallet_entries are created when missing (under
// an advisory lock, so concurrent first starts do not race); entries and transactions are
// append-only (triggers), balances cannot go negative (a CHECK constraint, the last guard).
// Every mutation is one READ COMMITTED transaction that first locks its idempotency key
// (pg_advisory_xact_lock) and then the accounts it touches (SELECT ... FOR UPDATE, in name order,
// so two transfers never deadlock); reads run in REPEATABLE READ READ ONLY transactions (one
// snapshot). lock_timeout = config.busy_timeout; synchronous_commit follows config.sync_commits.
//
// Thread-safety: safe from any number of threads (a small pool of connections, each used by one
// call at a time; broken connections are replaced).
#pragma once

#include "plexus/servers/wallet.hpp"

#include <memory>
#include <string>

namespace plexus::servers::wallet {

// Connects (libpq connection string or postgresql:// URI) and sets up the tables; throws
// ledger_error{storage} when that fails. config.database_path is ignored.
std::unique_ptr<ledger_store> open_postgres_ledger(const std::string& conninfo,
                                                   const wallet_config& config);

}  // namespace plexus::servers::wallet
