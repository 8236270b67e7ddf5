// response_stream — the outgoing MCP messages of one HTTP response (a POST's
// answer, a GET stream, an HTTP+SSE or WebSocket connection): filled by engine
// threads, drained by the one coroutine that writes the socket. Bounded: a
// reader that falls too far behind loses the oldest events (resumable streams)
// or the stream (live ones). Resumable streams keep their recent events so a
// client can reconnect with Last-Event-ID.
// Thread-safety: every member is safe from any thread.
#pragma once

#include "plexus/server/connection.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace plexus::transport {

class response_stream : public server::exchange, public server::outbound {
 public:
  struct event {
    std::uint64_t seq = 0;
    std::string data;
    bool final = false;
    int code = 0;
  };
  struct batch {
    std::vector<event> events;
    bool accepted = false;    // no_reply(): nothing to say (HTTP 202)
    bool finished = false;    // the final event is in `events` or was delivered before
    bool disconnect = false;  // the handler asked to close the stream (reported once)
    bool overflowed = false;  // a live reader fell too far behind
  };

  response_stream(std::string id, bool resumable, std::size_t max_events)
      : id_(std::move(id)), resumable_(resumable), max_events_(max_events) {}

  // Producers.
  void send(std::string text) override { push(std::move(text), false, 0); }
  void finish(std::string text, int code) override { push(std::move(text), true, code); }
  void no_reply() override;
  void disconnect() override;

  // Consumer: `waker` is called (from producer threads) after each change.
  void attach(std::function<void()> waker);
  void detach();
  bool attached() const;
  // Events after `after` (all when 0); non-resumable streams forget what they return.
  batch poll(std::uint64_t after);

  const std::string& id() const { return id_; }
  bool resumable() const { return resumable_; }
  bool finished() const;
  std::uint64_t last_seq() const;

 private:
  void push(std::string text, bool final, int code);
  void drop_oldest();
  void wake(std::unique_lock<std::mutex>& lk);

  mutable std::mutex mu_;
  std::string id_;
  bool resumable_;
  std::size_t max_events_;
  // The events kept are events_[head_..]: a vector, not a deque, because most streams carry
  // one answer, and a deque allocates two blocks (~600 bytes) before its first element. A
  // stream that drops its oldest events moves head_ and compacts now and then.
  std::vector<event> events_;
  std::size_t head_ = 0;
  std::uint64_t next_seq_ = 1;
  bool accepted_ = false, finished_ = false, disconnect_ = false, overflowed_ = false;
  std::function<void()> waker_;
};

}  // namespace plexus::transport
