#include "transport/response_stream.hpp"

namespace plexus::transport {

void response_stream::wake(std::unique_lock<std::mutex>& lk) {
  auto w = waker_;
  lk.unlock();
  if (w) w();
}

void response_stream::push(std::string text, bool final, int code) {
  std::unique_lock lk(mu_);
  if (finished_) return;  // nothing follows the final answer
  events_.push_back({next_seq_++, std::move(text), final, code});
  if (final) finished_ = true;
  if (events_.size() > max_events_) {
    if (resumable_ || !waker_) {
      events_.pop_front();  // a resuming client misses the oldest
    } else {
      overflowed_ = true;
    }
  }
  wake(lk);
}

void response_stream::no_reply() {
  std::unique_lock lk(mu_);
  accepted_ = true;
  wake(lk);
}

void response_stream::disconnect() {
  // Only a resumable stream can be closed mid-request: the client gets the rest
  // by resuming. Closing any other stream would lose the answer.
  if (!resumable_) return;
  std::unique_lock lk(mu_);
  disconnect_ = true;
  wake(lk);
}

void response_stream::attach(std::function<void()> waker) {
  std::unique_lock lk(mu_);
  waker_ = std::move(waker);
  // Woken at once only when there is something to look at: a reader that polls before it
  // waits would otherwise pay a wake-up (a post to its executor) per answer for nothing.
  if (!events_.empty() || accepted_ || disconnect_ || overflowed_) wake(lk);
}

void response_stream::detach() {
  std::lock_guard lk(mu_);
  waker_ = nullptr;
}

bool response_stream::attached() const {
  std::lock_guard lk(mu_);
  return static_cast<bool>(waker_);
}

response_stream::batch response_stream::poll(std::uint64_t after) {
  std::lock_guard lk(mu_);
  batch b;
  if (!resumable_) {  // nothing is kept: the events move out (a 64 KiB answer was copied)
    b.events.reserve(events_.size());
    for (auto& e : events_)
      if (e.seq > after) b.events.push_back(std::move(e));
    events_.clear();
  } else {
    for (const auto& e : events_)
      if (e.seq > after) b.events.push_back(e);
  }
  b.accepted = accepted_;
  b.finished = finished_;
  b.disconnect = disconnect_;
  disconnect_ = false;  // a close request is acted on once, by the writer that sees it
  b.overflowed = overflowed_;
  return b;
}

bool response_stream::finished() const {
  std::lock_guard lk(mu_);
  return finished_;
}

std::uint64_t response_stream::last_seq() const {
  std::lock_guard lk(mu_);
  return next_seq_ - 1;
}

}  // namespace plexus::transport
