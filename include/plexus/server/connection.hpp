// plexus::server::connection — the session engine for one client connection
// of a stream transport (stdio, WebSocket, Unix socket): decodes each message,
// routes it by the era it claims (modern `_meta` or the legacy session that
// `initialize` opened), runs handlers on the server's worker pool and writes
// their answers through the transport's outbound.
//
// Thread-safety: `receive` is called by one reader thread at a time; `close`
// may be called from any thread. Outbound::send may be called concurrently by
// many handlers, so implementations must serialize writes.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace plexus::server {

// Where a connection's messages go: each call carries one serialized message.
class outbound {
 public:
  virtual ~outbound() = default;
  virtual void send(std::string text) = 0;
};

struct connection_options {
  std::size_t max_message_bytes = 4 * 1024 * 1024;
};

class connection {
 public:
  connection(server& srv, std::shared_ptr<outbound> out, connection_options options = {});
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // One inbound message (a line or a frame, without its terminator). Blocks
  // while the connection is at its in-flight limit (backpressure on the reader).
  void receive(std::string_view text);
  // The inbound message was larger than max_message_bytes: answers with an error.
  void receive_oversized();
  // The peer is gone or the server stops: cancels in-flight requests, fails
  // pending server-to-client requests, ends subscriptions.
  void close();
  // Waits until no request is in flight (or the timeout passes). True if idle.
  bool wait_idle(std::chrono::milliseconds timeout);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace plexus::server
