// The MCP rules of Streamable HTTP that do not touch sockets: how a POST is
// classified (modern or legacy), how 2026-07-28 headers are validated against
// the body, and how JSON-RPC error codes map to HTTP statuses.
#pragma once

#include "plexus/json/json.hpp"
#include "plexus/server/server.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::transport::mcp_http {

// Header lookup (case-insensitive names); nullopt when absent.
using header_lookup = std::function<std::optional<std::string_view>(std::string_view name)>;

// A header value as the client meant it: `=?base64?…?=` decoded strictly, plain
// values with surrounding optional whitespace trimmed. nullopt: invalid value.
std::optional<std::string> decode_header_value(std::string_view raw);

struct rejection {
  int status = 400;
  int code = -32020;
  std::string message;
};

// Checks MCP-Protocol-Version, Mcp-Method, Mcp-Name and Mcp-Param-* of a
// 2026-07-28 request against its body. `tool_schema` finds the inputSchema of a
// tool by name (for x-mcp-header parameters), or nullptr.
std::optional<rejection> validate_modern_headers(
    const header_lookup& headers, const json::object& body,
    const std::function<const json::object*(std::string_view tool)>& tool_schema);

// The `_meta` envelope of a modern request, checked before dispatch so that its
// errors get HTTP 400 (handler-level -32602 errors stay 200).
std::optional<rejection> validate_modern_envelope(const json::object& body);

// HTTP status for a final modern answer with this JSON-RPC error code (0 = result).
int modern_status_for(int error_code);

// True when the value is a token (RFC 9110) made of visible ASCII.
bool is_token(std::string_view s);

}  // namespace plexus::transport::mcp_http
