// JSON-RPC 2.0 messages and their codec (decode from text, encode to text).
// Decoding never throws: malformed input yields error responses to send back.
// Thread-safety: free functions over caller-owned values.
#pragma once

#include "plexus/json/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace plexus::jsonrpc {

// A request id: a string or an integer, never null (MCP forbids null ids).
using request_id = std::variant<std::int64_t, std::string>;

json::value to_json(const request_id& id);
std::string to_string(const request_id& id);  // for logs and map keys ("s:abc", "i:42")

// JSON-RPC and MCP error codes.
namespace codes {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int resource_not_found_legacy = -32002;  // 2025-11-25 and earlier
inline constexpr int header_mismatch = -32020;
inline constexpr int missing_required_client_capability = -32021;
inline constexpr int unsupported_protocol_version = -32022;
inline constexpr int url_elicitation_required = -32042;  // 2025-11-25 only
}  // namespace codes

struct error {
  int code = codes::internal_error;
  std::string message;
  std::optional<json::value> data;
};

struct request {
  request_id id;
  std::string method;
  json::value params;  // null when absent; otherwise an object (or an array, which MCP never uses)
};

struct notification {
  std::string method;
  json::value params;  // null when absent
};

struct response {
  request_id id;
  json::value result;
};

struct error_response {
  std::optional<request_id> id;  // absent when the request's id could not be read
  error err;
};

using message = std::variant<request, notification, response, error_response>;

// The outcome of decoding one wire message (a line, a frame or an HTTP body).
struct decoded {
  std::vector<message> messages;  // the valid messages, in order
  std::vector<error_response>
      errors;          // answers for what was not valid (parse error, invalid request)
  bool batch = false;  // the text was a JSON array
};

struct decode_options {
  std::size_t max_depth = 64;  // JSON nesting limit (untrusted input)
  bool allow_batch = false;    // 2025-03-26 only; otherwise an array is an invalid request
};

decoded decode(std::string_view text, const decode_options& opts = {});
// Interprets an already parsed JSON value as one message, or the error response for it.
std::variant<message, error_response> from_json(const json::value& v);
// The same, moving params, result and error data out of `v` instead of copying them.
std::variant<message, error_response> from_json(json::value&& v);

json::value to_json(const message& m);
std::string encode(const message& m);
// The text of the response {id, result} with `more_members` (already serialized members,
// `"key":value,...`, none of them a key of `result`) appended to the result object: lets a
// sender add members that are the same in every answer without building them each time.
std::string encode_result(const request_id& id, const json::object& result,
                          std::string_view more_members);

// Convenience constructors.
error_response make_error(std::optional<request_id> id, int code, std::string message,
                          std::optional<json::value> data = std::nullopt);

}  // namespace plexus::jsonrpc
