#include "plexus/transport/rest_facade.hpp"

#include "plexus/jsonrpc/message.hpp"
#include "plexus/protocol/versions.hpp"
#include "plexus/server/connection.hpp"
#include "server/server_impl.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace plexus::transport {

namespace {

constexpr std::string_view json_type = "application/json";

http_reply json_reply(int status, const json::value& body) {
  return {status, std::string(json_type), json::dump(body), {}};
}

http_reply error_reply(int status, std::string message, std::optional<int> code = std::nullopt) {
  json::object e{{"status", status}, {"message", std::move(message)}};
  if (code) e["code"] = *code;
  return json_reply(status, json::object{{"error", std::move(e)}});
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Collects the one final answer of an in-process tools/call.
class call_exchange : public server::exchange {
 public:
  void send(std::string) override {}  // nothing was asked for (no progress token, no log level)
  void finish(std::string text, int code) override {
    std::lock_guard lk(mu_);
    text_ = std::move(text);
    code_ = code;
    done_ = true;
    cv_.notify_all();
  }
  void no_reply() override { finish("", 0); }
  // The final answer, or nullopt when `timeout` passed first.
  std::optional<std::string> wait(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return done_; })) return std::nullopt;
    return text_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string text_;
  int code_ = 0;
};

struct null_outbound : server::outbound {
  void send(std::string) override {}
};

std::shared_ptr<const server::tool_entry> find_tool(server::server& srv, std::string_view name) {
  return srv.internals().tools.find_if(
      [&](const server::tool_entry& t) { return t.definition.name == name; });
}

// An embedded schema with $defs/definitions resolves "#/..." references
// against itself only when it is its own resource: give it an $id.
json::value embeddable(const json::value& schema, std::string_view id) {
  if (!schema.is_object()) return schema;
  json::object o = schema.get_object();
  if (!o.contains("$id") && (o.contains("$defs") || o.contains("definitions")))
    o["$id"] = std::string(id);
  return o;
}

class facade {
 public:
  facade(server::server& srv, rest_facade_options opts) : srv_(srv), opts_(std::move(opts)) {}

  http_reply list_tools(const http_request&) {
    json::array tools;
    auto snapshot = srv_.internals().tools.snapshot();
    for (const auto& t : *snapshot) tools.push_back(t->wire);
    return json_reply(200, json::object{{"tools", std::move(tools)}});
  }

  http_reply call_tool(const http_request& req) {
    std::string_view rest = std::string_view(req.path).substr(tools_prefix().size());
    auto name = percent_decode(rest);
    if (!name || name->empty()) return error_reply(404, "Unknown tool");
    auto tool = find_tool(srv_, *name);
    if (!tool) return error_reply(404, "Unknown tool: " + *name);

    json::object args;
    if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
      boost::json::parse_options po;
      po.max_depth = 64;
      boost::system::error_code ec;
      json::value body = plexus::json::parse(req.body, ec, po.max_depth);
      if (ec) return error_reply(400, "Invalid JSON body: " + ec.message());
      if (!body.is_object())
        return error_reply(400, "The body must be a JSON object (the arguments)");
      args = std::move(body.get_object());
    }
    // Validated here as well so that bad arguments are a 400, not a tool error.
    if (tool->input_validator) {
      auto errors = tool->input_validator->validate(args);
      if (!errors.empty()) {
        std::string msg = "Invalid arguments for tool " + *name + ":";
        for (const auto& e : errors)
          msg += " " + (e.instance_path.empty() ? std::string("(root)") : e.instance_path) + ": " +
                 e.message + ";";
        msg.pop_back();
        return error_reply(400, std::move(msg));
      }
    }

    json::object meta{{std::string(protocol::meta::protocol_version),
                       std::string(protocol::latest_modern_version)},
                      {std::string(protocol::meta::client_capabilities), json::object{}},
                      {std::string(protocol::meta::client_info),
                       json::object{{"name", "plexus-rest-facade"}, {"version", PLEXUS_VERSION}}}};
    json::object call{{"jsonrpc", "2.0"},
                      {"id", 1},
                      {"method", "tools/call"},
                      {"params", json::object{{"name", *name},
                                              {"arguments", std::move(args)},
                                              {"_meta", std::move(meta)}}}};
    auto conn = std::make_shared<server::connection>(srv_, std::make_shared<null_outbound>());
    auto ex = std::make_shared<call_exchange>();
    conn->receive(json::dump(call), ex);
    auto answer = ex->wait(opts_.call_timeout);
    conn->close();  // cancels the handler when it timed out
    if (!answer)
      return error_reply(504, "Tool " + *name + " did not finish within " +
                                  std::to_string(opts_.call_timeout.count()) + " ms");
    return translate(*name, *answer);
  }

  http_reply openapi(const http_request&) {
    const auto& info = srv_.info();
    json::object doc;
    doc["openapi"] = "3.1.0";
    json::object i{{"title", !opts_.title.empty() ? opts_.title : info.title.value_or(info.name)},
                   {"version", info.version.empty() ? std::string("0") : info.version}};
    i["description"] =
        "REST facade of the MCP server " + info.name +
        ": each tool is a POST whose JSON body is its arguments. 200: the tool's result; 422: "
        "the tool failed (isError); 400: invalid body or arguments; 404: unknown tool; 409: the "
        "tool needs an MCP client; 504: timeout.";
    doc["info"] = std::move(i);
    doc["jsonSchemaDialect"] = "https://json-schema.org/draft/2020-12/schema";

    json::object paths;
    paths[opts_.prefix + "/tools"] = json::object{
        {"get",
         json::object{
             {"operationId", "listTools"},
             {"summary", "The tools of this server (MCP Tool definitions)"},
             {"responses",
              json::object{{"200", json::object{{"description", "The tool list"},
                                                {"content", json_content(json::object{
                                                                {"$ref",
                                                                 "#/components/"
                                                                 "schemas/ToolList"}})}}}}}}}};
    auto snapshot = srv_.internals().tools.snapshot();
    for (const auto& t : *snapshot) {
      const auto& d = t->definition;
      json::object op;
      op["operationId"] = "call_" + d.name;
      op["summary"] = d.title.value_or(d.name);
      if (d.description) op["description"] = *d.description;
      op["tags"] = json::array{"tools"};
      const auto* required = json::find_array(d.input_schema, "required");
      op["requestBody"] = json::object{
          {"required", required && !required->empty()},
          {"description", "The tool's arguments"},
          {"content",
           json_content(embeddable(d.input_schema, "urn:plexus:tool:" + d.name + ":input"))}};
      json::object ok_schema{{"$ref", "#/components/schemas/CallToolResult"}};
      if (d.output_schema)
        ok_schema = json::object{
            {"allOf", json::array{json::object{{"$ref", "#/components/schemas/CallToolResult"}}}},
            {"properties",
             json::object{{"structuredContent",
                           embeddable(*d.output_schema, "urn:plexus:tool:" + d.name + ":output")}}},
            {"required", json::array{"content", "structuredContent"}}};
      op["responses"] = json::object{
          {"200", json::object{{"description", "The tool succeeded"},
                               {"content", json_content(std::move(ok_schema))}}},
          {"400", ref_response("BadRequest")},
          {"404", ref_response("NotFound")},
          {"409", ref_response("NeedsClient")},
          {"422", json::object{{"description", "The tool failed (isError: true)"},
                               {"content", json_content(json::object{
                                               {"$ref", "#/components/schemas/CallToolResult"}})}}},
          {"504", ref_response("Timeout")}};
      paths[tools_prefix() + percent_encode(d.name)] = json::object{{"post", std::move(op)}};
    }
    doc["paths"] = std::move(paths);
    doc["components"] = components();
    return json_reply(200, doc);
  }

  std::string tools_prefix() const { return opts_.prefix + "/tools/"; }

 private:
  static json::object json_content(json::value schema) {
    return json::object{{"application/json", json::object{{"schema", std::move(schema)}}}};
  }
  static json::object ref_response(std::string_view name) {
    return json::object{{"$ref", "#/components/responses/" + std::string(name)}};
  }
  static json::object components() {
    json::object error_schema{
        {"type", "object"},
        {"required", json::array{"error"}},
        {"properties",
         json::object{{"error", json::object{{"type", "object"},
                                             {"required", json::array{"status", "message"}},
                                             {"properties",
                                              json::object{{"status", {{"type", "integer"}}},
                                                           {"message", {{"type", "string"}}},
                                                           {"code", {{"type", "integer"}}}}}}}}}};
    json::object result_schema{
        {"type", "object"},
        {"required", json::array{"content"}},
        {"properties",
         json::object{{"content", json::object{{"type", "array"}, {"items", {{"type", "object"}}}}},
                      {"structuredContent", json::object{}},
                      {"isError", json::object{{"type", "boolean"}}},
                      {"_meta", json::object{{"type", "object"}}}}}};
    json::object tool_list{
        {"type", "object"},
        {"required", json::array{"tools"}},
        {"properties",
         json::object{
             {"tools",
              json::object{
                  {"type", "array"},
                  {"items", json::object{{"type", "object"},
                                         {"required", json::array{"name", "inputSchema"}}}}}}}}};
    auto err = [](std::string_view what) {
      return json::object{
          {"description", what},
          {"content", json_content(json::object{{"$ref", "#/components/schemas/Error"}})}};
    };
    return json::object{
        {"schemas", json::object{{"Error", std::move(error_schema)},
                                 {"CallToolResult", std::move(result_schema)},
                                 {"ToolList", std::move(tool_list)}}},
        {"responses",
         json::object{
             {"BadRequest", err("The body is not a JSON object or the arguments are invalid")},
             {"NotFound", err("No such tool")},
             {"NeedsClient", err("The tool asks the client for input or runs only as a "
                                 "task: call it through an MCP client")},
             {"Timeout", err("The tool did not finish in time")}}}};
  }

  http_reply translate(const std::string& name, const std::string& text) {
    boost::system::error_code ec;
    json::value v = plexus::json::parse(text, ec);
    if (ec || !v.is_object()) return error_reply(500, "Internal error: no answer from the engine");
    auto& o = v.get_object();
    if (auto* err = json::find_object(o, "error")) {
      int code = 0;
      if (auto it = err->find("code"); it != err->end() && it->value().is_int64())
        code = static_cast<int>(it->value().get_int64());
      std::string message;
      if (auto* m = json::find_string(*err, "message")) message = std::string(*m);
      int status = 500;
      if (code == jsonrpc::codes::invalid_params)
        status = message.starts_with("Unknown tool") ? 404 : 400;
      else if (code == jsonrpc::codes::missing_required_client_capability)
        status = 409;
      else if (code == jsonrpc::codes::method_not_found)
        status = 404;
      if (status == 409) message = "Tool " + name + " needs an MCP client: " + message;
      return error_reply(status, std::move(message), code);
    }
    auto* result = json::find_object(o, "result");
    if (!result) return error_reply(500, "Internal error: no result from the engine");
    json::object r = *result;
    std::string type;
    if (auto* t = json::find_string(r, "resultType")) type = std::string(*t);
    if (type == "input_required" || type == "task")
      return error_reply(409, "Tool " + name +
                                  " needs an MCP client: it asks the client for input or runs "
                                  "as a task");
    r.erase("resultType");
    if (auto it = r.find("_meta"); it != r.end() && it->value().is_object()) {
      auto& m = it->value().get_object();
      m.erase(protocol::meta::server_info);
      if (m.empty()) r.erase("_meta");
    }
    bool is_error = false;
    if (auto it = r.find("isError"); it != r.end() && it->value().is_bool())
      is_error = it->value().get_bool();
    return json_reply(is_error ? 422 : 200, r);
  }

  server::server& srv_;
  rest_facade_options opts_;
};

}  // namespace

void mount_rest_facade(http_server& http, server::server& srv, rest_facade_options options) {
  while (!options.prefix.empty() && options.prefix.back() == '/') options.prefix.pop_back();
  auto f = std::make_shared<facade>(srv, options);
  http.add_route("GET", options.prefix + "/tools",
                 [f](const http_request& r) { return f->list_tools(r); });
  http.add_route("POST", f->tools_prefix(), [f](const http_request& r) { return f->call_tool(r); });
  http.add_route("GET", options.prefix + "/openapi.json",
                 [f](const http_request& r) { return f->openapi(r); });
}

void mount_rest_facade(http_server& http, server::server& srv, std::string prefix) {
  rest_facade_options o;
  o.prefix = std::move(prefix);
  mount_rest_facade(http, srv, std::move(o));
}

}  // namespace plexus::transport
