#include "plexus/json/json.hpp"

#include <cmath>

namespace plexus::json {

const object* find_object(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_object()) ? &it->value().get_object() : nullptr;
}

const string* find_string(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_string()) ? &it->value().get_string() : nullptr;
}

const array* find_array(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_array()) ? &it->value().get_array() : nullptr;
}

std::optional<bool> find_bool(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_bool()) return std::nullopt;
  return it->value().get_bool();
}

std::optional<std::int64_t> find_int(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  const value& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) {
    double d = v.get_double();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18)
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<double> find_number(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  const value& v = it->value();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

std::string_view type_name(const value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "integer";
    case boost::json::kind::double_:
      return "number";
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::object:
      return "object";
  }
  return "unknown";
}

std::string dump(const value& v) {
  return boost::json::serialize(v);
}

}  // namespace plexus::json
