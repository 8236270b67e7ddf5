// plexus/schema/derive.hpp — JSON Schema (draft 2020-12) derived from C++ types.
//
// Purpose: a typed tool's inputSchema / outputSchema, derived from the same types and rules as
// plexus/json/convert.hpp, so a value that validates against derive<T>() converts with
// from_json<T>() and to_json(t) validates against derive<T>().
//
// Thread-safety: stateless; safe to call concurrently. Each call builds a fresh schema (cache it).
//
// Mapping (see convert.hpp for the conversions):
//   bool                    {"type":"boolean"}
//   integral T              {"type":"integer"} plus "minimum"/"maximum" of T for each bound that
//                           lies inside the 53-bit safe range (uint8: 0..255; int32: both bounds;
//                           uint64: minimum 0 only; int64: none)
//   floating point          {"type":"number"}
//   std::string             {"type":"string"}
//   described enum          {"type":"string","enum":[names...]}
//   std::vector<T>          {"type":"array","items":T}
//   std::array<T, N>        {"type":"array","items":T,"minItems":N,"maxItems":N}
//   map<std::string, T>     {"type":"object","additionalProperties":T}
//   std::variant<A, B...>   {"anyOf":[A, B, ...]} — anyOf, not oneOf: from_json takes the first
//                           alternative that matches, so a value may match several
//   std::optional<T>        a struct member: T's schema, member left out of "required";
//                           elsewhere {"anyOf":[T, {"type":"null"}]}
//   described struct        {"type":"object","properties":{...},"required":[...],
//                           "additionalProperties":false}, inline, in declaration order;
//                           "required" is omitted when empty
//   boost::json::value      {}   (object: {"type":"object"}, array: {"type":"array"},
//                           string: {"type":"string"})
//   adapter<T>              adapter<T>::schema()
// The root has no "$schema" keyword: the caller adds it if wanted.
// Recursive types are rejected at compile time (static_assert).
//
// Annotations: extra keywords merged (shallowly; a keyword already present is replaced) into the
// schema at a property path: "" is the root, "city" the property city, "address/street" a nested
// property, "*" the items of an array or the values of a map ("stops/*/name"). Segments use JSON
// Pointer escapes (~0 for '~', ~1 for '/'); a leading '/' is allowed. A path that names no
// property is a programming error: derive throws std::invalid_argument.
//   derive<forecast_args>({{"days", {{"minimum", 1}, {"maximum", 16}}},
//                          {"city", {{"description", "City name"}}}});
#pragma once

#include "plexus/json/convert.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace plexus::schema {

using annotations = std::vector<std::pair<std::string, boost::json::object>>;

namespace detail {

// Non-template helpers (src/schema/derive.cpp).
boost::json::object type_schema(std::string_view type);
boost::json::object integer_schema(const std::int64_t* minimum, const std::int64_t* maximum);
boost::json::object enum_schema(std::span<const std::string_view> names);
boost::json::object array_schema(boost::json::object items);
boost::json::object map_schema(boost::json::object values);
boost::json::object nullable_schema(boost::json::object schema);
void apply_annotations(boost::json::object& root, const annotations& extra);

template <class T, class... Seen>
boost::json::object derive_schema() {
  namespace jd = plexus::json::detail;
  if constexpr (jd::has_adapter<T>) {
    static_assert(
        requires { boost::json::object(plexus::json::adapter<T>::schema()); },
        "plexus::schema::derive: plexus::json::adapter<T> needs a static schema()");
    return boost::json::object(plexus::json::adapter<T>::schema());
  } else if constexpr (std::is_same_v<T, bool>) {
    return type_schema("boolean");
  } else if constexpr (jd::integer<T>) {
    constexpr std::int64_t safe = (std::int64_t{1} << 53) - 1;
    constexpr auto lo = std::numeric_limits<T>::min();
    constexpr auto hi = std::numeric_limits<T>::max();
    constexpr bool has_min = std::cmp_greater_equal(lo, -safe);
    constexpr bool has_max = std::cmp_less_equal(hi, safe);
    const std::int64_t min = has_min ? static_cast<std::int64_t>(lo) : 0;
    const std::int64_t max = has_max ? static_cast<std::int64_t>(hi) : 0;
    return integer_schema(has_min ? &min : nullptr, has_max ? &max : nullptr);
  } else if constexpr (std::is_floating_point_v<T>) {
    return type_schema("number");
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view> ||
                       std::is_same_v<T, boost::json::string>) {
    return type_schema("string");
  } else if constexpr (std::is_same_v<T, boost::json::value>) {
    return {};
  } else if constexpr (std::is_same_v<T, boost::json::object>) {
    return type_schema("object");
  } else if constexpr (std::is_same_v<T, boost::json::array>) {
    return type_schema("array");
  } else if constexpr (jd::described_enum<T>) {
    const auto names = jd::enumerator_names<T>();
    return enum_schema(names);
  } else if constexpr (jd::is_optional<T>::value) {
    return nullable_schema(derive_schema<typename T::value_type, Seen...>());
  } else if constexpr (jd::is_vector<T>::value) {
    return array_schema(derive_schema<typename T::value_type, Seen...>());
  } else if constexpr (jd::is_std_array<T>::value) {
    auto s = array_schema(derive_schema<typename T::value_type, Seen...>());
    s["minItems"] = std::tuple_size_v<T>;
    s["maxItems"] = std::tuple_size_v<T>;
    return s;
  } else if constexpr (jd::is_string_map<T>::value) {
    return map_schema(derive_schema<typename T::mapped_type, Seen...>());
  } else if constexpr (jd::is_map<T>::value) {
    static_assert(jd::dependent_false<T>, "plexus::schema::derive: map keys must be std::string");
    return {};
  } else if constexpr (jd::is_variant<T>::value) {
    boost::json::array alternatives;
    boost::mp11::mp_for_each<boost::mp11::mp_iota_c<std::variant_size_v<T>>>([&](auto i) {
      alternatives.push_back(derive_schema<std::variant_alternative_t<i, T>, Seen...>());
    });
    return boost::json::object{{"anyOf", std::move(alternatives)}};
  } else if constexpr (jd::described_struct<T>) {
    if constexpr ((std::is_same_v<T, Seen> || ...)) {
      static_assert(jd::dependent_false<T>,
                    "plexus::schema::derive: recursive types are not supported");
      return {};
    } else {
      boost::json::object properties;
      boost::json::array required;
      boost::mp11::mp_for_each<jd::members_of<T>>([&](auto d) {
        using M = std::remove_cvref_t<decltype(std::declval<const T&>().*d.pointer)>;
        const std::string_view key = plexus::json::name_policy<T>::json_name(d.name);
        if constexpr (jd::is_optional<M>::value) {
          properties.insert_or_assign(key, derive_schema<typename M::value_type, Seen..., T>());
        } else {
          properties.insert_or_assign(key, derive_schema<M, Seen..., T>());
          required.emplace_back(key);
        }
      });
      boost::json::object s = type_schema("object");
      s["properties"] = std::move(properties);
      if (!required.empty()) s["required"] = std::move(required);
      s["additionalProperties"] = false;
      return s;
    }
  } else {
    static_assert(jd::dependent_false<T>,
                  "plexus::schema::derive: unsupported type (describe it with Boost.Describe, or "
                  "specialize plexus::json::adapter<T>)");
    return {};
  }
}

}  // namespace detail

// The JSON Schema of T, with `extra` keywords merged in (see above). Throws std::invalid_argument
// if an annotation path names no property.
template <class T>
boost::json::object derive(const annotations& extra = {}) {
  boost::json::object s = detail::derive_schema<T>();
  if (!extra.empty()) detail::apply_annotations(s, extra);
  return s;
}

}  // namespace plexus::schema
