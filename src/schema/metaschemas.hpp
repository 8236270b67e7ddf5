// Built-in JSON Schema metaschemas (2020-12 and its vocabularies, draft-07), internal to the
// schema module. Thread-safety: returns pointers to immutable, process-lifetime documents.
#pragma once

#include <boost/json/value.hpp>

#include <string_view>

namespace plexus::schema::detail {

// The built-in document whose absolute URI (no fragment, no trailing '#') is `uri`, or nullptr.
const boost::json::value* builtin_document(std::string_view uri);

}  // namespace plexus::schema::detail
