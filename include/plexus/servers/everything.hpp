// The "everything" server: exercises every feature of MCP in both eras. It is
// the fixture the official conformance suite expects (tool, resource and
// prompt names of both eras), plus `echo`, `add` and a few demonstrations.
// Thread-safety: as plexus::server::server.
#pragma once

#include "plexus/server/server.hpp"

#include <memory>

namespace plexus::servers {

// Registers the everything server's tools, resources and prompts on `srv`.
void register_everything(server::server& srv);

std::unique_ptr<server::server> make_everything_server(server::server_options options = {});

}  // namespace plexus::servers
