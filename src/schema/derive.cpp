// Non-template parts of plexus/schema/derive.hpp: schema fragments and annotation merging.
#include "plexus/schema/derive.hpp"

#include <stdexcept>

namespace plexus::schema::detail {

boost::json::object type_schema(std::string_view type) {
  boost::json::object s;
  s["type"] = type;
  return s;
}

boost::json::object integer_schema(const std::int64_t* minimum, const std::int64_t* maximum) {
  boost::json::object s = type_schema("integer");
  if (minimum) s["minimum"] = *minimum;
  if (maximum) s["maximum"] = *maximum;
  return s;
}

boost::json::object enum_schema(std::span<const std::string_view> names) {
  boost::json::object s = type_schema("string");
  boost::json::array values;
  values.reserve(names.size());
  for (std::string_view n : names) values.emplace_back(n);
  s["enum"] = std::move(values);
  return s;
}

boost::json::object array_schema(boost::json::object items) {
  boost::json::object s = type_schema("array");
  s["items"] = std::move(items);
  return s;
}

boost::json::object map_schema(boost::json::object values) {
  boost::json::object s = type_schema("object");
  s["additionalProperties"] = std::move(values);
  return s;
}

boost::json::object nullable_schema(boost::json::object schema) {
  return boost::json::object{
      {"anyOf", boost::json::array{std::move(schema), boost::json::object{{"type", "null"}}}}};
}

namespace {

[[noreturn]] void bad_path(std::string_view path, std::string_view why) {
  throw std::invalid_argument("plexus::schema::derive: annotation path \"" + std::string(path) +
                              "\": " + std::string(why));
}

std::string unescape(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '~' && i + 1 < segment.size() && segment[i + 1] == '0') {
      out += '~';
      ++i;
    } else if (segment[i] == '~' && i + 1 < segment.size() && segment[i + 1] == '1') {
      out += '/';
      ++i;
    } else {
      out += segment[i];
    }
  }
  return out;
}

// The sub-schema that `segment` names inside `s`.
boost::json::object* step(boost::json::object& s, std::string_view path, std::string_view segment) {
  if (segment == "*") {
    for (std::string_view k : {"items", "additionalProperties"}) {
      if (auto* v = s.if_contains(k); v && v->is_object()) return &v->get_object();
    }
    bad_path(path, "\"*\" used on a schema that is neither an array nor a map");
  }
  const std::string key = unescape(segment);
  if (auto* props = s.if_contains("properties"); props && props->is_object()) {
    if (auto* p = props->get_object().if_contains(key); p && p->is_object())
      return &p->get_object();
  }
  bad_path(path, "no property \"" + key + "\"");
}

}  // namespace

void apply_annotations(boost::json::object& root, const annotations& extra) {
  for (const auto& [path, keywords] : extra) {
    boost::json::object* target = &root;
    std::string_view rest = path;
    if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      target = step(*target, path, rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    }
    for (const auto& kv : keywords) target->insert_or_assign(kv.key(), kv.value());
  }
}

}  // namespace plexus::schema::detail
