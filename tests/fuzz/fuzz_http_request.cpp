// libFuzzer target: the server's HTTP request path without sockets. Bytes are
// parsed by Beast's request parser with the server's limits (16 KiB of header,
// 4 MiB of body); a complete request then goes through the MCP checks the
// server runs: Mcp-Name / Mcp-Param-* header decoding, the JSON body parse
// (depth 64), the modern `_meta` envelope and header validation (against a
// tool whose schema declares x-mcp-header parameters), and JSON-RPC
// interpretation and re-encoding. Nothing may crash, leak or throw.
#include "plexus/jsonrpc/message.hpp"
#include "transport/mcp_http.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace beast = boost::beast;
namespace http = beast::http;
namespace mcp_http = plexus::transport::mcp_http;
namespace json = plexus::json;
namespace rpc = plexus::jsonrpc;

namespace {

const json::object& tool_schema() {
  static const json::object schema = boost::json::parse(R"({
    "type": "object",
    "properties": {
      "region": {"type": "string", "x-mcp-header": "Region"},
      "count": {"type": "integer", "x-mcp-header": "Count"},
      "options": {
        "type": "object",
        "properties": {
          "dry_run": {"type": "boolean", "x-mcp-header": "Dry-Run"},
          "ratio": {"type": "number", "x-mcp-header": "Ratio"}
        }
      },
      "text": {"type": "string"}
    }
  })")
                                         .as_object();
  return schema;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && beast::iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(4 * 1024 * 1024);
  parser.eager(true);

  beast::error_code ec;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!parser.is_done() && !rest.empty()) {
    std::size_t used = parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more)
      ec = {};  // an incomplete element: the server would read more bytes
    else if (ec)
      return 0;  // the server answers 400/413/431 and closes
    if (used == 0) break;
    rest.remove_prefix(used);
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);  // the peer closed: only a body delimited by EOF can end here
    if (ec || !parser.is_done()) return 0;
  }
  http::request<http::string_body> req = parser.release();

  auto headers = [&req](std::string_view name) -> std::optional<std::string_view> {
    auto it = req.find(name);
    if (it == req.end()) return std::nullopt;
    return std::string_view(it->value());
  };
  for (const auto& field : req) {
    std::string_view name = field.name_string();
    if (beast::iequals(name, "mcp-name") || starts_with_icase(name, "mcp-param-")) {
      if (auto v = mcp_http::decode_header_value(field.value())) (void)mcp_http::is_token(*v);
    }
  }
  if (auto v = headers("mcp-method")) (void)mcp_http::is_token(*v);

  boost::json::parse_options po;
  po.max_depth = 64;
  boost::system::error_code jec;
  json::value body = boost::json::parse(req.body(), jec, {}, po);
  if (jec) return 0;

  if (body.is_object()) {
    const json::object& msg = body.get_object();
    if (auto r = mcp_http::validate_modern_envelope(msg)) {
      if (r->status != 400 || r->message.empty()) std::abort();
    }
    auto schema = [](std::string_view tool) -> const json::object* {
      return tool == "deploy" ? &tool_schema() : nullptr;
    };
    if (auto r = mcp_http::validate_modern_headers(headers, msg, schema)) {
      if (r->status != 400 || r->message.empty()) std::abort();
      (void)rpc::encode(rpc::make_error(std::nullopt, r->code, r->message));
    }
  }
  auto parsed = rpc::from_json(body);
  if (auto* m = std::get_if<rpc::message>(&parsed))
    (void)rpc::encode(*m);
  else
    (void)rpc::encode(rpc::message{std::get<rpc::error_response>(parsed)});
  return 0;
}
