// Unix domain socket transport, server side: newline-delimited JSON-RPC, as on
// stdio, one engine connection per socket connection. The socket file is
// created with mode 0600 (only the owner may connect).
// Thread-safety: start/stop from one thread; connections run on their own threads.
#pragma once

#include "plexus/server/server.hpp"

#include <memory>
#include <string>

namespace plexus::transport {

struct unix_server_options {
  std::string path;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 256;
};

class unix_server {
 public:
  unix_server(server::server& srv, unix_server_options options);
  ~unix_server();
  // Binds the socket; throws std::runtime_error on failure.
  void start();
  // Stops accepting, closes every connection and removes the socket file.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace plexus::transport
