#include "servers/pg_pool.hpp"

#include "servers/lazy_libs.hpp"

namespace plexus::servers::pg {

void conn_closer::operator()(PGconn* c) const {
  lazy::pq().PQfinish(c);
}
void result_clearer::operator()(PGresult* r) const {
  lazy::pq().PQclear(r);
}
void ignore_notice(void*, const PGresult*) {}

pool::pool(std::size_t size, std::function<conn_ptr()> connect)
    : size_(size == 0 ? 1 : size), connect_(std::move(connect)) {}

void pool::adopt(conn_ptr c) {
  std::lock_guard lk(mu_);
  ++open_;
  idle_.push_back(std::move(c));
  cv_.notify_one();
}

pool::lease pool::acquire() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return lease(*this, std::move(c));
  }
  ++open_;  // counted now: the connecting happens outside the lock
  lk.unlock();
  try {
    return lease(*this, connect_());
  } catch (...) {
    lk.lock();
    --open_;
    cv_.notify_one();
    throw;
  }
}

void pool::release(conn_ptr c) {
  bool keep = c && lazy::pq().PQstatus(c.get()) == CONNECTION_OK &&
              lazy::pq().PQtransactionStatus(c.get()) == PQTRANS_IDLE;
  if (!keep) c.reset();
  std::lock_guard lk(mu_);
  if (keep)
    idle_.push_back(std::move(c));
  else
    --open_;
  cv_.notify_one();
}

pool::lease::~lease() {
  if (pool_) pool_->release(std::move(c_));
}

}  // namespace plexus::servers::pg
