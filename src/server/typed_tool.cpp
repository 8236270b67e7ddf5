#include "plexus/server/typed_tool.hpp"

namespace plexus::server::detail {

json::object empty_input_schema() {
  return {{"type", "object"}, {"properties", json::object{}}, {"additionalProperties", false}};
}

tool_result text_result_of(const json::value& v) {
  if (v.is_string()) return tool_result::text(std::string(v.get_string()));
  return tool_result::text(json::dump(v));
}

tool_result structured_result_of(json::value v) {
  tool_result r = tool_result::text(json::dump(v));  // the text mirror for older clients
  r.structured_content = std::move(v);
  return r;
}

tool_result invalid_arguments(const std::string& tool, const json::conversion_error& e) {
  return tool_result::error("Invalid arguments for tool " + tool + ": " + json::to_string(e));
}

}  // namespace plexus::server::detail
