// Everything needed to write an MCP server with Plexus.
#pragma once

#include "plexus/protocol/types.hpp"
#include "plexus/server/context.hpp"
#include "plexus/server/server.hpp"
#include "plexus/server/typed_tool.hpp"
#include "plexus/transport/stdio.hpp"
