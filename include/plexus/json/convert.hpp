// plexus/json/convert.hpp — conversion between C++ values and JSON for typed tools.
//
// Purpose: MCP tools are registered from C++ callables whose parameter is a struct described with
// Boost.Describe. `from_json<T>` turns a tool's JSON arguments into such a struct, with errors that
// name the JSON Pointer of the offending value; `to_json` turns a returned struct into JSON
// (structuredContent). plexus/schema/derive.hpp derives the matching JSON Schema; the two agree on
// every mapping below.
//
// Thread-safety: stateless free functions over caller-owned values; safe to call concurrently.
//
// Mapping (C++ <-> JSON):
//   bool                               boolean
//   integral types                     integer; from_json rejects values outside the C++ type's
//                                      range and non-integral numbers (1.0 reads as 1, 1.5 fails)
//   float, double, long double         number (integers accepted)
//   std::string                        string (std::string_view: to_json only)
//   described enum (BOOST_DESCRIBE_ENUM)  string, the enumerator's name; to_json throws
//                                      std::invalid_argument for a value with no enumerator
//   std::optional<T>                   as a struct member: nullopt is omitted by to_json; an
//                                      absent property or a null reads as nullopt. Elsewhere
//                                      (top level, container element) nullopt <-> null.
//   std::vector<T>                     array
//   std::array<T, N>                   array of exactly N items
//   std::map / std::unordered_map<std::string, T>   object
//   std::variant<A, B, ...>            to_json: the held alternative; from_json: the first
//                                      alternative, in order, that converts
//   described struct (BOOST_DESCRIBE_STRUCT, or BOOST_DESCRIBE_CLASS's public members, inherited
//                                      ones included)  object, keys in declaration order; every
//                                      key must name a member, every non-optional member must be
//                                      present. T must be default-constructible for from_json.
//   boost::json::value / object / array / string     themselves
//   anything else: specialize plexus::json::adapter<T> (below), or it fails to compile.
//
// Names: the JSON name of a member or enumerator is its C++ identifier with one trailing
// underscore removed, so keywords are usable: `type_` -> "type", `default_` -> "default". For
// names that are not identifiers at all ("content-type", "$ref"), specialize
// plexus::json::name_policy<T> for the struct or enum T.
//
// Errors: conversion_error::path is an RFC 6901 JSON Pointer to the deepest value at fault ("" is
// the root, "/days", "/fields/2"). For a missing or unknown property it points at the object that
// lacks or has it, and the message names the key: `missing required property "city"`,
// `unknown property "cty"`, `expected integer, got string`, `value 300 out of range for uint8`,
// `unknown enum value "kelvin", expected one of metric, imperial`.
//
// Recursive types (a struct holding a vector of itself) convert fine, but schema::derive rejects
// them at compile time.
#pragma once

#include "plexus/core/expected.hpp"
#include "plexus/json/json.hpp"

#include <boost/describe.hpp>
#include <boost/mp11/algorithm.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace plexus::json {

struct conversion_error {
  std::string path;     // JSON Pointer, "" = root
  std::string message;  // e.g. "expected integer, got string"
};

// "<path>: <message>", or just the message when the path is the root.
std::string to_string(const conversion_error& e);

// `name` without one trailing underscore ("type_" -> "type"); a lone "_" is kept.
constexpr std::string_view strip_trailing_underscore(std::string_view name) noexcept {
  return (name.size() > 1 && name.back() == '_') ? name.substr(0, name.size() - 1) : name;
}

// Maps the C++ names of a described struct's members (or a described enum's enumerators) to JSON
// names. Specialize for your T to rename; the returned view must outlive the program (literals).
//   template <> struct plexus::json::name_policy<my_args> {
//     static constexpr std::string_view json_name(std::string_view n) noexcept {
//       return n == "content_type" ? "content-type" : plexus::json::strip_trailing_underscore(n);
//     }
//   };
template <class T>
struct name_policy {
  static constexpr std::string_view json_name(std::string_view cpp_name) noexcept {
    return strip_trailing_underscore(cpp_name);
  }
};

// Conversion of a type this header does not know. Specialize with
//   static value to_json(const T&);
//   static plexus::expected<T, conversion_error> from_json(const value&);
//   static boost::json::object schema();   // only needed by schema::derive
template <class T>
struct adapter {};

namespace detail {

template <class T>
inline constexpr bool dependent_false = false;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T, class C, class A>
struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};
template <class T, class H, class E, class A>
struct is_string_map<std::unordered_map<std::string, T, H, E, A>> : std::true_type {};
template <class T>
struct is_map : std::false_type {};
template <class K, class T, class C, class A>
struct is_map<std::map<K, T, C, A>> : std::true_type {};
template <class K, class T, class H, class E, class A>
struct is_map<std::unordered_map<K, T, H, E, A>> : std::true_type {};
template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};

template <class T>
concept has_adapter = requires(const T& t, const value& v) {
  { adapter<T>::to_json(t) } -> std::convertible_to<value>;
  { adapter<T>::from_json(v) } -> std::same_as<plexus::expected<T, conversion_error>>;
};
template <class T>
concept described_struct = std::is_class_v<T> && boost::describe::has_describe_members<T>::value;
template <class T>
concept described_enum = std::is_enum_v<T> && boost::describe::has_describe_enumerators<T>::value;
template <class T>
concept integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Public members, inherited ones first, in declaration order.
template <class T>
using members_of = boost::describe::describe_members<T, boost::describe::mod_public |
                                                            boost::describe::mod_inherited>;

template <class E>
auto enumerator_names() {
  using list = boost::describe::describe_enumerators<E>;
  std::array<std::string_view, boost::mp11::mp_size<list>::value> names{};
  std::size_t i = 0;
  boost::mp11::mp_for_each<list>([&](auto d) { names[i++] = name_policy<E>::json_name(d.name); });
  return names;
}

// "int32", "uint8", ...
constexpr std::string_view integer_type_name(bool is_signed, std::size_t bits) noexcept {
  switch (bits) {
    case 8:
      return is_signed ? "int8" : "uint8";
    case 16:
      return is_signed ? "int16" : "uint16";
    case 32:
      return is_signed ? "int32" : "uint32";
    case 64:
      return is_signed ? "int64" : "uint64";
    default:
      return is_signed ? "signed integer" : "unsigned integer";
  }
}

// Non-template helpers (src/json/convert.cpp).
conversion_error mismatch(std::string_view expected, const value& got);
conversion_error out_of_range(const value& v, std::string_view type);
conversion_error missing_property(std::string_view key);
conversion_error unknown_property(std::string_view key);
conversion_error unknown_enumerator(const value& v, std::span<const std::string_view> names);
conversion_error wrong_size(std::size_t expected, std::size_t got);
conversion_error no_alternative(std::span<const conversion_error> errors);
void prepend(conversion_error& e, std::string_view key);  // key is escaped per RFC 6901
void prepend(conversion_error& e, std::size_t index);
[[noreturn]] void throw_unnamed_enumerator(const std::string& underlying);

// An integral JSON number (int64, uint64, or a double with an integral value).
struct integer_repr {
  bool negative = false;
  std::int64_t s = 0;   // when negative
  std::uint64_t u = 0;  // when not
};
bool read_integer(const value& v, std::string_view type, integer_repr& out, conversion_error& err);
bool read_number(const value& v, double& out, conversion_error& err);
bool read_string(const value& v, std::string& out, conversion_error& err);

template <class T>
value write(const T& v) {
  if constexpr (has_adapter<T>) {
    return adapter<T>::to_json(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return value(v);
  } else if constexpr (integer<T>) {
    // Unsigned values that fit are stored as int64, as the parser would.
    if (std::in_range<std::int64_t>(v)) return value(static_cast<std::int64_t>(v));
    return value(static_cast<std::uint64_t>(v));
  } else if constexpr (std::is_floating_point_v<T>) {
    return value(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return value(std::string_view(v));
  } else if constexpr (std::is_same_v<T, value> || std::is_same_v<T, object> ||
                       std::is_same_v<T, array> || std::is_same_v<T, string>) {
    return value(v);
  } else if constexpr (described_enum<T>) {
    std::string_view name;
    bool found = false;
    boost::mp11::mp_for_each<boost::describe::describe_enumerators<T>>([&](auto d) {
      if (!found && v == d.value) {
        name = name_policy<T>::json_name(d.name);
        found = true;
      }
    });
    if (!found)
      throw_unnamed_enumerator(std::to_string(+static_cast<std::underlying_type_t<T>>(v)));
    return value(name);
  } else if constexpr (is_optional<T>::value) {
    return v ? detail::write(*v) : value(nullptr);
  } else if constexpr (is_vector<T>::value || is_std_array<T>::value) {
    array a;
    a.reserve(v.size());
    for (const typename T::value_type& e : v) a.push_back(detail::write(e));
    return a;
  } else if constexpr (is_string_map<T>::value) {
    object o;
    o.reserve(v.size());
    for (const auto& [k, e] : v) o.insert_or_assign(k, detail::write(e));
    return o;
  } else if constexpr (is_map<T>::value) {
    static_assert(dependent_false<T>, "plexus::json: map keys must be std::string");
  } else if constexpr (is_variant<T>::value) {
    return std::visit([](const auto& alt) { return detail::write(alt); }, v);
  } else if constexpr (described_struct<T>) {
    object o;
    o.reserve(boost::mp11::mp_size<members_of<T>>::value);
    boost::mp11::mp_for_each<members_of<T>>([&](auto d) {
      const auto& m = v.*d.pointer;
      const std::string_view key = name_policy<T>::json_name(d.name);
      if constexpr (is_optional<std::remove_cvref_t<decltype(m)>>::value) {
        if (m) o.insert_or_assign(key, detail::write(*m));
      } else {
        o.insert_or_assign(key, detail::write(m));
      }
    });
    return o;
  } else {
    static_assert(dependent_false<T>,
                  "plexus::json: unsupported type (describe it with Boost.Describe, or specialize "
                  "plexus::json::adapter<T>)");
  }
}

template <class T>
bool read_members(const object& o, T& out, conversion_error& err);

// Reads `v` into `out`; on failure fills `err` (path relative to `v`) and returns false.
template <class T>
bool read(const value& v, T& out, conversion_error& err) {
  if constexpr (has_adapter<T>) {
    auto r = adapter<T>::from_json(v);
    if (!r) {
      err = std::move(r.error());
      return false;
    }
    out = std::move(*r);
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) {
      err = mismatch("boolean", v);
      return false;
    }
    out = v.get_bool();
    return true;
  } else if constexpr (integer<T>) {
    constexpr std::string_view type = integer_type_name(std::is_signed_v<T>, sizeof(T) * 8);
    integer_repr r;
    if (!read_integer(v, type, r, err)) return false;
    if (r.negative ? !std::in_range<T>(r.s) : !std::in_range<T>(r.u)) {
      err = out_of_range(v, type);
      return false;
    }
    out = r.negative ? static_cast<T>(r.s) : static_cast<T>(r.u);
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    double d = 0;
    if (!read_number(v, d, err)) return false;
    if constexpr (sizeof(T) < sizeof(double)) {
      if (d < std::numeric_limits<T>::lowest() || d > std::numeric_limits<T>::max()) {
        err = out_of_range(v, "float");
        return false;
      }
    }
    out = static_cast<T>(d);
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return read_string(v, out, err);
  } else if constexpr (std::is_same_v<T, std::string_view>) {
    static_assert(dependent_false<T>,
                  "plexus::json::from_json: std::string_view cannot own the text; use std::string");
  } else if constexpr (std::is_same_v<T, value>) {
    out = v;
    return true;
  } else if constexpr (std::is_same_v<T, object> || std::is_same_v<T, array> ||
                       std::is_same_v<T, string>) {
    const T* p = nullptr;
    if constexpr (std::is_same_v<T, object>)
      p = v.if_object();
    else if constexpr (std::is_same_v<T, array>)
      p = v.if_array();
    else
      p = v.if_string();
    if (!p) {
      err = mismatch(std::is_same_v<T, object>  ? "object"
                     : std::is_same_v<T, array> ? "array"
                                                : "string",
                     v);
      return false;
    }
    out = *p;
    return true;
  } else if constexpr (described_enum<T>) {
    const string* s = v.if_string();
    bool found = false;
    if (s) {
      boost::mp11::mp_for_each<boost::describe::describe_enumerators<T>>([&](auto d) {
        if (!found && name_policy<T>::json_name(d.name) == std::string_view(*s)) {
          out = d.value;
          found = true;
        }
      });
    }
    if (!found) {
      const auto names = enumerator_names<T>();
      err = s ? unknown_enumerator(v, names) : mismatch("string", v);
    }
    return found;
  } else if constexpr (is_optional<T>::value) {
    if (v.is_null()) {
      out.reset();
      return true;
    }
    out.emplace();
    return detail::read(v, *out, err);
  } else if constexpr (is_vector<T>::value || is_std_array<T>::value) {
    const array* a = v.if_array();
    if (!a) {
      err = mismatch("array", v);
      return false;
    }
    if constexpr (is_std_array<T>::value) {
      if (a->size() != out.size()) {
        err = wrong_size(out.size(), a->size());
        return false;
      }
      for (std::size_t i = 0; i < a->size(); ++i) {
        if (!detail::read((*a)[i], out[i], err)) {
          prepend(err, i);
          return false;
        }
      }
    } else {
      out.clear();
      out.reserve(a->size());
      for (std::size_t i = 0; i < a->size(); ++i) {
        typename T::value_type e{};
        if (!detail::read((*a)[i], e, err)) {
          prepend(err, i);
          return false;
        }
        out.push_back(std::move(e));
      }
    }
    return true;
  } else if constexpr (is_string_map<T>::value) {
    const object* o = v.if_object();
    if (!o) {
      err = mismatch("object", v);
      return false;
    }
    out.clear();
    for (const auto& kv : *o) {
      typename T::mapped_type e{};
      if (!detail::read(kv.value(), e, err)) {
        prepend(err, kv.key());
        return false;
      }
      out.insert_or_assign(std::string(kv.key()), std::move(e));
    }
    return true;
  } else if constexpr (is_map<T>::value) {
    static_assert(dependent_false<T>, "plexus::json: map keys must be std::string");
  } else if constexpr (is_variant<T>::value) {
    std::array<conversion_error, std::variant_size_v<T>> errors;
    bool done = false;
    boost::mp11::mp_for_each<boost::mp11::mp_iota_c<std::variant_size_v<T>>>([&](auto i) {
      if (done) return;
      std::variant_alternative_t<i, T> alt{};
      if (detail::read(v, alt, errors[i])) {
        out.template emplace<i>(std::move(alt));
        done = true;
      }
    });
    if (!done) err = no_alternative(errors);
    return done;
  } else if constexpr (described_struct<T>) {
    const object* o = v.if_object();
    if (!o) {
      err = mismatch("object", v);
      return false;
    }
    return read_members(*o, out, err);
  } else {
    static_assert(dependent_false<T>,
                  "plexus::json: unsupported type (describe it with Boost.Describe, or specialize "
                  "plexus::json::adapter<T>)");
  }
}

// The members of a described struct from the properties of `o`.
template <class T>
bool read_members(const object& o, T& out, conversion_error& err) {
  for (const auto& kv : o) {
    bool known = false;
    boost::mp11::mp_for_each<members_of<T>>(
        [&](auto d) { known = known || name_policy<T>::json_name(d.name) == kv.key(); });
    if (!known) {
      err = unknown_property(kv.key());
      return false;
    }
  }
  bool ok = true;
  boost::mp11::mp_for_each<members_of<T>>([&](auto d) {
    if (!ok) return;
    auto& m = out.*d.pointer;
    const std::string_view key = name_policy<T>::json_name(d.name);
    const auto it = o.find(key);
    if (it == o.end()) {
      if constexpr (is_optional<std::remove_cvref_t<decltype(m)>>::value) {
        m.reset();
      } else {
        err = missing_property(key);
        ok = false;
      }
    } else if (!detail::read(it->value(), m, err)) {
      prepend(err, key);
      ok = false;
    }
  });
  return ok;
}

}  // namespace detail

// The JSON form of `v`.
template <class T>
value to_json(const T& v) {
  return detail::write(v);
}

// `v` converted to T, or the first error found (see the header comment for the rules).
template <class T>
plexus::expected<T, conversion_error> from_json(const value& v) {
  static_assert(std::is_default_constructible_v<T>, "plexus::json::from_json: T needs T{}");
  T out{};
  conversion_error err;
  if (detail::read(v, out, err)) return plexus::expected<T, conversion_error>(std::move(out));
  return plexus::unexpected{std::move(err)};
}

// The same for a described struct read from an object's properties (a tool's arguments)
// in place: going through from_json(const value&) copied the object, large texts and all.
template <class T>
requires detail::described_struct<T> plexus::expected<T, conversion_error> from_json(
    const object& o) {
  static_assert(std::is_default_constructible_v<T>, "plexus::json::from_json: T needs T{}");
  T out{};
  conversion_error err;
  if (detail::read_members(o, out, err))
    return plexus::expected<T, conversion_error>(std::move(out));
  return plexus::unexpected{std::move(err)};
}

}  // namespace plexus::json
