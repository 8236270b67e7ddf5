// The memory server: a persistent knowledge graph (entities with observations,
// and directed relations between them) stored in SQLite, with the tool names,
// argument shapes and result shapes of @modelcontextprotocol/server-memory.
//
// Storage: one SQLite database (WAL journal, foreign keys on); the schema is
// created on start, so the same file keeps the graph across restarts. Each
// tool call is one transaction: a call that fails changes nothing.
// Thread-safety: one connection guarded by a mutex; tools may run concurrently.
#pragma once

#include "plexus/server/server.hpp"

#include <memory>
#include <string>

namespace plexus::servers {

struct memory_config {
  std::string database_path = "memory.db";  // ":memory:" for a graph that is not kept
};

// Registers the memory tools on `srv`. Throws std::runtime_error when the database
// cannot be opened or its schema cannot be created.
void register_memory(server::server& srv, memory_config config);

std::unique_ptr<server::server> make_memory_server(memory_config config,
                                                   server::server_options options = {});

}  // namespace plexus::servers
