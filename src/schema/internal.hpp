// Internal helpers of the schema module shared between its translation units (not installed).
// Thread-safety: pure functions; the compiled regex type is immutable after construction.
#pragma once

#include <boost/regex.hpp>

#include <string>
#include <string_view>

namespace plexus::schema::detail {

// Checks `s` against the named `format` (date-time, email, ipv4, ...). Sets `known` to false
// (and returns true) for formats this implementation does not assert.
bool check_format(std::string_view format, std::string_view s, bool& known);

// Compiles an ECMA-262 `pattern` for Boost.Regex over UTF-32: \d \w \s get their ECMAScript
// meaning, \uXXXX / \u{X} become code points, and \p{Letter}-style property escapes map to
// locale character classes (approximations). Throws std::exception on invalid patterns.
boost::wregex compile_ecma_regex(std::string_view pattern);

// UTF-8 to UTF-32 (as wchar_t, 32-bit on the supported platforms); invalid bytes become U+FFFD.
std::wstring utf8_to_wide(std::string_view s);

}  // namespace plexus::schema::detail
