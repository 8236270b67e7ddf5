#include "server/handler_pool.hpp"

namespace plexus::server::detail {

handler_pool::handler_pool(std::size_t threads, std::chrono::microseconds patience)
    : patience_(patience), max_threads_(threads == 0 ? 1 : threads) {
  workers_.reserve(max_threads_);
}

handler_pool::~handler_pool() {
  stop();
}

void handler_pool::post(std::function<void()> task) {
  std::lock_guard lk(mu_);
  if (stopping_) return;
  queue_.push_back({std::move(task), clock::now()});
  if (awake_ + wakes_ == 0) {
    wake_one();
  } else if (!watcher_timing_) {
    // A worker is busy: the watcher times the queue behind it.
    if (!watcher_.joinable())
      watcher_ = std::thread([this] { watch(); });
    else
      watch_cv_.notify_one();
  }
}

void handler_pool::wake_one() {
  if (idle_ > wakes_) {
    ++wakes_;
    work_cv_.notify_one();
  } else if (workers_.size() < max_threads_) {
    ++awake_;
    workers_.emplace_back([this] { work(); });
  }
}

void handler_pool::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  watch_cv_.notify_all();
  for (auto& t : workers_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id())
      t.detach();  // stopped from one of its own handlers: this thread ends on return
    else
      t.join();
  }
  if (watcher_.joinable()) watcher_.join();
  std::lock_guard lk(mu_);
  workers_.clear();
}

void handler_pool::enter_blocking() {
  std::lock_guard lk(mu_);
  --awake_;
  if (!queue_.empty() && awake_ + wakes_ == 0) wake_one();
}

void handler_pool::leave_blocking() {
  std::lock_guard lk(mu_);
  ++awake_;
}

void handler_pool::work() {
  set_thread_blocking_observer(this);
  std::unique_lock lk(mu_);
  for (;;) {
    while (!queue_.empty() && !stopping_) {
      auto task = std::move(queue_.front().task);
      queue_.pop_front();
      lk.unlock();
      task();
      task = nullptr;  // captured state goes before the lock is taken again
      lk.lock();
    }
    if (stopping_) return;
    --awake_;
    ++idle_;
    work_cv_.wait(lk, [&] { return stopping_ || wakes_ > 0; });
    if (wakes_ > 0) --wakes_;
    --idle_;
    ++awake_;
    if (stopping_) return;
  }
}

void handler_pool::watch() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      watcher_timing_ = false;
      watch_cv_.wait(lk);
      continue;
    }
    watcher_timing_ = true;
    auto age = clock::now() - queue_.front().at;
    if (age < patience_) {
      watch_cv_.wait_for(lk, patience_ - age);
      continue;
    }
    // The oldest task has waited too long: its worker is blocked or behind.
    wake_one();
    watch_cv_.wait_for(lk, patience_);
  }
}

}  // namespace plexus::server::detail
