// The TLS context of a client transport (HTTP, WebSocket): peer verification against a
// CA file or the system store, and an optional client certificate (mutual TLS).
// Thread-safety: builds a new context; no shared state.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <string>

namespace plexus::client::detail {

struct tls_settings {
  bool verify = true;
  std::string ca_file;           // empty: the system's trust store
  std::string client_cert_file;  // empty: no client certificate
  std::string client_key_file;   // empty: the key is in client_cert_file
};

// Configures `ctx` (a tls_client context). Throws on unreadable files.
void configure_client_tls(boost::asio::ssl::context& ctx, const tls_settings& s);

}  // namespace plexus::client::detail
