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

#include "plexus/jsonrpc/message.hpp"
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

// The answer to one inbound message: messages related to it (progress, logs,
// server-to-client requests, subscription frames), then its final response.
// Stream transports send everything down the one connection; HTTP gives each
// POST its own exchange (a JSON body or an SSE stream).
class exchange {
 public:
  virtual ~exchange() = default;
  // A notification or request tied to the inbound request.
  virtual void send(std::string text) = 0;
  // The final response; `error_code` is its JSON-RPC error code, 0 for a result.
  virtual void finish(std::string text, int error_code) = 0;
  // The inbound message needed no answer (a notification or a response).
  virtual void no_reply() {}
  // The handler asks to close the response stream now, without ending the
  // request (SEP-1699 polling); the rest is delivered when the client resumes.
  virtual void disconnect() {}
};

struct connection_options {
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  // A tools/call for a tool_dispatch::direct tool (or one with a fast path) runs on the
  // thread that read it only in a message of at most this size (stream transports; over
  // HTTP, where the message comes decoded, always). The reader also writes the answer:
  // a stream that cannot take a large answer at once would stop it reading. stdio
  // raises it when it could widen its pipes.
  std::size_t direct_max_bytes = 16 * 1024;
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
  // The same, answering through `ex` instead of the connection's outbound.
  void receive(std::string_view text, std::shared_ptr<exchange> ex);
  // An already decoded message (transports that inspect the body first).
  void receive(jsonrpc::decoded decoded, std::shared_ptr<exchange> ex);
  // Whether this connection has a legacy session (initialize succeeded), and its version.
  bool initialized() const;
  std::string protocol_version() const;
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
