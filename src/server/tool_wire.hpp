// The wire form of a tool's answer, taken from a tool_result the caller no longer needs:
// its content moves into the CallToolResult instead of being copied (a 64 KiB echo
// copied its text once more here). Not a public header. Thread-safety: pure function.
#pragma once

#include "plexus/server/server.hpp"

namespace plexus::server::detail {

json::object take_wire(tool_result&& r);

}  // namespace plexus::server::detail
