// plexus::servers::pg_pool — the few libpq connections one built-in server shares (the SQL
// database's PostgreSQL backend, the wallet's ledger). A call borrows a connection for as long
// as it runs (waiting while all are lent out) and the lease gives it back; one that is broken
// or left inside a transaction is closed instead, and a later call opens a new one. libpq is
// loaded lazily (lazy_libs), so the owning server's start-up is where it first comes in.
//
// Thread-safety: acquire() and the leases may be used from any threads at once.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace plexus::servers::pg {

struct conn_closer {
  void operator()(PGconn* c) const;
};
struct result_clearer {
  void operator()(PGresult* r) const;
};
using conn_ptr = std::unique_ptr<PGconn, conn_closer>;
using result_ptr = std::unique_ptr<PGresult, result_clearer>;

// A notice receiver that drops notices (they would go to stderr).
void ignore_notice(void*, const PGresult*);

class pool {
 public:
  // `connect` opens one configured connection, or throws (the owner's error type).
  pool(std::size_t size, std::function<conn_ptr()> connect);
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Takes a connection the owner opened itself (at start, to fail early on a wrong
  // connection string, or to set up a schema first).
  void adopt(conn_ptr c);

  // One borrowed connection; given back (or closed, see above) when the lease ends.
  class lease {
   public:
    lease(lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), c_(std::move(o.c_)) {}
    lease& operator=(lease&&) = delete;
    ~lease();
    PGconn* get() const { return c_.get(); }
    // Closes it instead of giving it back (its state cannot be trusted).
    void drop() { c_.reset(); }

   private:
    friend class pool;
    lease(pool& p, conn_ptr c) : pool_(&p), c_(std::move(c)) {}
    pool* pool_;
    conn_ptr c_;
  };
  // Waits while every connection is lent out; throws what `connect` throws.
  lease acquire();

  std::size_t size() const { return size_; }

 private:
  void release(conn_ptr c);

  const std::size_t size_;
  std::function<conn_ptr()> connect_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<conn_ptr> idle_;
  std::size_t open_ = 0;  // idle + lent out
};

}  // namespace plexus::servers::pg
