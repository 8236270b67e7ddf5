// An in-process client transport: a plexus::client talking to a
// plexus::server::server in the same process through the session engine, with no
// sockets or pipes. The gateway mounts built-in servers this way; tests and
// applications embedding a server use it too.
// Thread-safety: as client_transport.
#pragma once

#include "plexus/client/transport.hpp"
#include "plexus/server/server.hpp"

#include <memory>

namespace plexus::client {

// The server must outlive the transport.
std::unique_ptr<client_transport> make_in_process_transport(server::server& srv);

}  // namespace plexus::client
