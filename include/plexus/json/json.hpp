// JSON values for Plexus: Boost.JSON, with a few lookups the protocol code
// uses everywhere. Thread-safety: free functions over caller-owned values.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::json {

using boost::json::array;
using boost::json::object;
using boost::json::string;
using boost::json::value;

// The member `key` of `o` if it is an object, else nullptr.
const object* find_object(const object& o, std::string_view key) noexcept;
// The member `key` of `o` if it is a string, else nullptr.
const string* find_string(const object& o, std::string_view key) noexcept;
// The member `key` of `o` if it is an array, else nullptr.
const array* find_array(const object& o, std::string_view key) noexcept;
// The member `key` of `o` if it is a boolean.
std::optional<bool> find_bool(const object& o, std::string_view key) noexcept;
// The member `key` of `o` if it is an integer (or a double with an integral value).
std::optional<std::int64_t> find_int(const object& o, std::string_view key) noexcept;
// The member `key` of `o` if it is any number.
std::optional<double> find_number(const object& o, std::string_view key) noexcept;

// Parses JSON text (errors in `ec`, and then null). Numbers with a fraction or an
// exponent become the nearest double exactly (Boost.JSON 1.81's own parse can be one
// ulp off), so what Plexus passes on keeps its value. Use it for everything read
// from a peer.
value parse(std::string_view text, boost::system::error_code& ec, std::size_t max_depth = 64);

// A short human name of a value's JSON type ("object", "string", "integer", ...).
std::string_view type_name(const value& v) noexcept;

// Compact serialization. Numbers are written in their shortest round-trip form
// ("20", "21.5", "1e+21"), not Boost.JSON's exponent form ("2E1").
std::string dump(const value& v);
// The same for an object: without it, an object converts to a value, a deep copy.
std::string dump(const object& o);
// Appends the serialization of `v` to `out`.
void write(std::string& out, const value& v);
void write(std::string& out, const object& o);

}  // namespace plexus::json
