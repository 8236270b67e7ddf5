// Client-side transports: how a client's messages reach a server and how the
// server's messages come back. A transport delivers every inbound message
// (responses, notifications, server-to-client requests) to one callback; the
// client session correlates them.
// Thread-safety: send() may be called from any thread; the inbound callback is
// called from the transport's own thread(s).
#pragma once

#include "plexus/json/json.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::client {

// Why a transport failed: a clear sentence for people and logs.
struct transport_error {
  std::string message;
  int http_status = 0;  // when an HTTP answer was the cause
  std::optional<json::value> body;
  // The answer's headers (names lower-case), e.g. www-authenticate on a 401/403.
  std::map<std::string, std::string> headers;
};

class client_transport {
 public:
  // The callback may take the message (move from it): the transport is done with it. A large
  // result then reaches its request without a copy.
  using inbound = std::function<void(json::value& message)>;
  using closed = std::function<void(const std::string& why)>;
  virtual ~client_transport() = default;

  // Starts delivering inbound messages (and closure) to the callbacks.
  virtual void start(inbound on_message, closed on_closed) = 0;
  // Sends one message. For request/response transports (HTTP) the answer and
  // related messages also arrive through `on_message`. `method` and `name`
  // feed transport metadata (HTTP headers); empty for responses.
  virtual std::optional<transport_error> send(const json::object& message) = 0;
  // Sends one message only if that takes no waiting: all of it goes out at once, and
  // the answer comes later through `on_message`. False: nothing was sent (the transport
  // cannot, or would wait now: a full pipe, a message larger than one atomic write, a
  // legacy HTTP session; or it failed), and the caller uses send(). Used by
  // client::request_async from an event loop.
  virtual bool try_send(const json::object& message) {
    (void)message;
    return false;
  }
  // Closes the transport (stdio: close stdin, then SIGTERM, then SIGKILL).
  virtual void close() = 0;
  // Forgets a legacy session the server no longer knows (HTTP: its session id).
  virtual void reset_session() {}
  // A short description for errors ("stdio: node server.js", "http://host/mcp").
  virtual std::string describe() const = 0;
};

// While a transport delivers a message that arrived on the response stream of one
// request (HTTP: that POST's SSE stream), the serialized id of that request; empty
// otherwise. Thread-local: valid inside the inbound callback only. Lets the client
// route a server-to-client request to the request that caused it.
const std::string& delivering_for_request();
class delivery_scope {
 public:
  explicit delivery_scope(const std::string& request_id);
  ~delivery_scope();
  delivery_scope(const delivery_scope&) = delete;
  delivery_scope& operator=(const delivery_scope&) = delete;

 private:
  std::string previous_;
};

struct process_spec {
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to the inherited environment
  std::string working_directory;
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(2)};
  // Runs the server under SCHED_BATCH: waking up (a message written to it) does not make it
  // preempt the thread that woke it. Where the two share a busy core, the writer finishes
  // what it has to send before the server runs, and they take turns once per batch of
  // messages instead of once per message. No effect while cores are free. False: the server
  // inherits the policy of the thread that starts it (as it does where SCHED_BATCH is refused).
  bool batch_scheduling = false;
};

// Spawns the server as a child process and speaks newline-delimited JSON-RPC on
// its stdin/stdout; its stderr is forwarded to the log. Throws std::runtime_error
// when the process cannot be started.
std::unique_ptr<client_transport> make_stdio_transport(process_spec spec);

// Authorization for the HTTP transport (see plexus/client/oauth.hpp for an OAuth
// 2.1 implementation). `headers` supplies the headers of each request
// (Authorization, DPoP); `on_challenge` is told about a 401/403 answer (or one
// carrying a DPoP-Nonce) and returns true when the request should be sent again
// (after authenticating). Both may be called from any transport thread.
struct http_auth_hook {
  std::function<std::map<std::string, std::string>(const std::string& http_method,
                                                   const std::string& url)>
      headers;
  std::function<bool(int status, const std::map<std::string, std::string>& response_headers)>
      on_challenge;
  int max_retries = 4;  // per request
};

struct http_transport_options {
  std::map<std::string, std::string> headers;     // sent on every request (e.g. Authorization)
  std::string ca_file;                            // trust these CAs (PEM) instead of the system's
  std::string client_cert_file, client_key_file;  // mTLS
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  // Legacy Streamable HTTP: open the GET stream for server-initiated messages.
  bool open_get_stream = true;
  std::shared_ptr<http_auth_hook> auth;  // none: no Authorization
};

// MCP over HTTP(S) to `url` (the MCP endpoint): 2026-07-28 requests as single
// POSTs with MCP-Protocol-Version/Mcp-Method/Mcp-Name/Mcp-Param-* headers; the
// legacy Streamable HTTP session (Mcp-Session-Id, GET stream, resumption with
// Last-Event-ID honouring `retry`, DELETE on close); and, when the endpoint is
// a 2024-11-05 server, HTTP+SSE. Throws std::invalid_argument for a bad URL.
std::unique_ptr<client_transport> make_http_transport(std::string url,
                                                      http_transport_options options = {});

struct websocket_transport_options {
  std::map<std::string, std::string> headers;     // sent with the upgrade request (Authorization)
  std::string ca_file;                            // trust these CAs (PEM) instead of the system's
  std::string client_cert_file, client_key_file;  // mTLS
  bool verify_tls = true;
  // Bounds the TCP connect, the TLS handshake and the upgrade, each.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_message_bytes = 16 * 1024 * 1024;  // largest message accepted from the server
  std::string subprotocol = "mcp";                   // offered; a server may also select none
  // close(): how long to wait for the server's close frame before dropping the socket.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(2)};
};

// MCP over a WebSocket to `url` (ws:// or wss://): one JSON-RPC message per
// text frame, subprotocol "mcp" offered. Connects (TCP, TLS, upgrade) before
// returning: throws std::invalid_argument for a bad URL and std::runtime_error
// (with the reason: refused, TLS, HTTP status of a declined upgrade, timeout)
// when it cannot connect. close() sends a close frame (1000) and waits for the
// server's. A message over max_message_bytes ends the connection (reported
// through `closed`). One I/O thread per transport.
std::unique_ptr<client_transport> make_websocket_transport(
    std::string url, websocket_transport_options options = {});

struct unix_transport_options {
  std::size_t max_message_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds close_timeout{std::chrono::seconds(2)};
};

// Newline-delimited JSON-RPC on a Unix domain socket (as served by
// `plexus … --unix PATH`). Connects before returning; throws std::runtime_error
// when it cannot. close() shuts down the writing side, waits for the server to
// finish, then closes.
std::unique_ptr<client_transport> make_unix_transport(std::string path,
                                                      unix_transport_options options = {});

}  // namespace plexus::client
