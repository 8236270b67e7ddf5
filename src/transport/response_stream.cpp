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
  if (events_.size() - head_ > max_events_) {
    if (resumable_ || !waker_) {
      drop_oldest();  // a resuming client misses the oldest
    } else {
      overflowed_ = true;
    }
  }
  wake(lk);
}

void response_stream::drop_oldest() {
  events_[head_++].data = std::string();
  if (head_ >= 32 && head_ * 2 >= events_.size()) {
    events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
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
  if (events_.size() > head_ || accepted_ || disconnect_ || overflowed_) wake(lk);
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
    if (head_ == 0 && (events_.empty() || events_.front().seq > after)) {
      b.events.swap(events_);
    } else {
      for (auto i = head_; i < events_.size(); ++i)
        if (events_[i].seq > after) b.events.push_back(std::move(events_[i]));
    }
    events_.clear();
    head_ = 0;
  } else {
    for (auto i = head_; i < events_.size(); ++i)
      if (events_[i].seq > after) b.events.push_back(events_[i]);
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
