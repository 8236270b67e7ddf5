#include "transport/mcp_http.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/protocol/versions.hpp"

#include <cmath>

namespace plexus::transport::mcp_http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  return false;
}

rejection mismatch(std::string message) {
  return {400, -32020, std::move(message)};
}

// Whether a header value stands for the body value of an x-mcp-header parameter.
bool same_value(const std::string& header, const json::value& body) {
  if (body.is_string()) return header == body.get_string();
  if (body.is_bool()) return header == (body.get_bool() ? "true" : "false");
  if (body.is_int64() || body.is_uint64() || body.is_double()) {
    double b = body.is_double()
                   ? body.get_double()
                   : (body.is_int64() ? double(body.get_int64()) : double(body.get_uint64()));
    if (header.empty()) return false;
    char* end = nullptr;
    double h = std::strtod(header.c_str(), &end);
    return end == header.c_str() + header.size() && std::isfinite(h) && h == b;
  }
  return false;
}

// Properties declaring x-mcp-header, reachable through `properties` chains only. A property
// with neither a declaration nor properties of its own is passed over without copying its name
// into `path`: most tools declare nothing, and their calls then copy and allocate nothing.
void collect_header_params(const json::object& schema, std::vector<std::string>& path,
                           std::vector<std::pair<std::string, std::vector<std::string>>>& out) {
  auto props = json::find_object(schema, "properties");
  if (!props) return;
  for (const auto& kv : *props) {
    if (!kv.value().is_object()) continue;
    const auto& p = kv.value().get_object();
    auto h = json::find_string(p, "x-mcp-header");
    bool nested = json::find_object(p, "properties") != nullptr;
    if (!h && !nested) continue;
    path.emplace_back(kv.key());
    if (h) out.emplace_back(std::string(*h), path);
    if (nested) collect_header_params(p, path, out);
    path.pop_back();
  }
}

const json::value* at_path(const json::object& args, const std::vector<std::string>& path) {
  const json::object* o = &args;
  const json::value* v = nullptr;
  for (std::size_t i = 0; i < path.size(); ++i) {
    auto it = o->find(path[i]);
    if (it == o->end()) return nullptr;
    v = &it->value();
    if (i + 1 < path.size()) {
      if (!v->is_object()) return nullptr;
      o = &v->get_object();
    }
  }
  return v;
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view("\"(),/:;<=>?@[\\]{}").find(static_cast<char>(c)) !=
        std::string_view::npos)
      return false;
  }
  return true;
}

std::optional<std::string> decode_header_value(std::string_view raw) {
  std::string_view v = trim(raw);
  constexpr std::string_view prefix = "=?base64?", suffix = "?=";
  if (v.size() >= prefix.size() + suffix.size() && v.substr(0, prefix.size()) == prefix &&
      v.substr(v.size() - suffix.size()) == suffix) {
    auto decoded =
        base64::decode(v.substr(prefix.size(), v.size() - prefix.size() - suffix.size()));
    if (!decoded) return std::nullopt;
    return decoded;
  }
  for (unsigned char c : v)
    if (c >= 0x80 || ((c < 0x20 && c != '\t') || c == 0x7f)) return std::nullopt;
  return std::string(v);
}

std::optional<rejection> validate_modern_envelope(const json::object& body) {
  auto params = json::find_object(body, "params");
  auto meta = params ? json::find_object(*params, "_meta") : nullptr;
  if (!meta) return rejection{400, -32602, "Invalid params: params._meta is required"};
  if (!json::find_string(*meta, protocol::meta::protocol_version))
    return rejection{400, -32602,
                     "Invalid params: _meta io.modelcontextprotocol/protocolVersion is required"};
  if (!json::find_object(*meta, protocol::meta::client_capabilities))
    return rejection{
        400, -32602,
        "Invalid params: _meta io.modelcontextprotocol/clientCapabilities is required"};
  return std::nullopt;
}

std::optional<rejection> validate_modern_headers(
    const header_lookup& headers, const json::object& body,
    const std::function<const json::object*(std::string_view)>& tool_schema) {
  auto method = json::find_string(body, "method");
  auto params = json::find_object(body, "params");
  auto meta = params ? json::find_object(*params, "_meta") : nullptr;
  auto version_header = headers("mcp-protocol-version");
  if (!version_header) return mismatch("Header mismatch: MCP-Protocol-Version is required");
  auto meta_version = meta ? json::find_string(*meta, protocol::meta::protocol_version) : nullptr;
  if (meta_version && trim(*version_header) != *meta_version)
    return mismatch("Header mismatch: MCP-Protocol-Version does not match _meta protocolVersion");
  if (!method) return std::nullopt;  // a response or invalid message: the engine answers

  auto method_header = headers("mcp-method");
  if (!method_header) return mismatch("Header mismatch: Mcp-Method is required");
  if (has_control(*method_header) || trim(*method_header) != *method)
    return mismatch("Header mismatch: Mcp-Method does not match the body");

  const json::string* name = nullptr;
  if (*method == "tools/call" || *method == "prompts/get")
    name = params ? json::find_string(*params, "name") : nullptr;
  else if (*method == "resources/read")
    name = params ? json::find_string(*params, "uri") : nullptr;
  else if (method->starts_with("tasks/"))
    name = params ? json::find_string(*params, "taskId") : nullptr;
  bool name_required =
      *method == "tools/call" || *method == "prompts/get" || *method == "resources/read";
  auto name_header = headers("mcp-name");
  if (name_required && !name_header) return mismatch("Header mismatch: Mcp-Name is required");
  if (name_header && name) {
    auto decoded = decode_header_value(*name_header);
    if (!decoded) return mismatch("Header mismatch: Mcp-Name is not a valid header value");
    if (*decoded != *name) return mismatch("Header mismatch: Mcp-Name does not match the body");
  }

  if (*method == "tools/call" && name) {
    const json::object* schema = tool_schema(*name);
    if (schema) {
      std::vector<std::pair<std::string, std::vector<std::string>>> declared;
      std::vector<std::string> path;
      collect_header_params(*schema, path, declared);
      const json::object empty;
      auto args = params ? json::find_object(*params, "arguments") : nullptr;
      for (const auto& [header_name, prop_path] : declared) {
        const json::value* v = at_path(args ? *args : empty, prop_path);
        auto h = headers("mcp-param-" + header_name);
        if (!v || v->is_null()) {
          if (h) return mismatch("Header mismatch: Mcp-Param-" + header_name + " has no argument");
          continue;
        }
        if (!h) return mismatch("Header mismatch: Mcp-Param-" + header_name + " is required");
        auto decoded = decode_header_value(*h);
        if (!decoded)
          return mismatch("Header mismatch: Mcp-Param-" + header_name + " is not a valid value");
        if (!same_value(*decoded, *v))
          return mismatch("Header mismatch: Mcp-Param-" + header_name + " does not match the body");
      }
    }
  }
  return std::nullopt;
}

int modern_status_for(int code) {
  switch (code) {
    case 0:
      return 200;
    case -32601:
      return 404;
    case -32700:
    case -32600:
    case -32020:
    case -32021:
    case -32022:
      return 400;
    default:
      return 200;
  }
}

}  // namespace plexus::transport::mcp_http
