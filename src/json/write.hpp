// Pieces of the JSON writer (json::dump) for other encoders inside the library: the
// JSON-RPC envelope is written around a result without building an object for it.
// Not a public header. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace plexus::json {

// Appends `s` as a JSON string (quoted, escaped as json::dump escapes it).
void write_string(std::string& out, std::string_view s);

}  // namespace plexus::json
