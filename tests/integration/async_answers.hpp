// Collects what arrives on other threads: the answers of client::request_async as they
// arrive on the client's threads, or a transport's inbound messages.
#pragma once

#include "plexus/client/client.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus::testing {

// What arrives on other threads, in order of arrival.
template <class T>
struct collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<T> got;

  void add(T v) {
    std::lock_guard lk(mu);
    got.push_back(std::move(v));
    cv.notify_all();
  }
  // True once at least `n` arrived within `t`.
  bool wait_for(std::size_t n, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, t, [&] { return got.size() >= n; });
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return got.size();
  }
};

struct async_answers : collector<client::result<json::object>> {
  std::vector<std::thread::id> threads;  // where each answer arrived

  std::function<void(client::result<json::object>)> sink() {
    return [this](client::result<json::object> r) {
      std::lock_guard lk(mu);
      got.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
      cv.notify_all();
    };
  }
};

}  // namespace plexus::testing
