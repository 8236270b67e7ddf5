// plexus::schema::validator — a compiled JSON Schema validator for MCP tool `inputSchema`,
// `outputSchema` and elicitation schemas. Supports the 2020-12 dialect (the MCP default) and
// draft-07 (selected by `$schema`). A schema is compiled once into an immutable tree of keyword
// evaluators; validation never re-parses the schema and never performs network I/O (external
// `$ref`s are resolved only through the built-in metaschemas or a caller-supplied callback).
//
// Thread-safety: a compiled `validator` is immutable; copies share the compiled form, and
// `is_valid` / `validate` may be called concurrently from any number of threads.
#pragma once

#include "plexus/core/expected.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::schema {

enum class dialect { draft7, draft2020_12 };

// Bounds that keep compilation and validation of hostile input finite.
struct limits {
  std::size_t max_depth = 64;          // max nesting of subschemas during compile AND max
                                       // instance depth during validate
  std::size_t max_subschemas = 10000;  // compile fails beyond this many subschemas
  std::size_t max_errors = 16;         // validate() stops collecting beyond this
  std::size_t max_steps = 1'000'000;   // per-validation evaluation budget; exceeding = invalid
};

struct compile_options {
  dialect default_dialect = dialect::draft2020_12;  // used when the schema has no $schema
  limits bounds{};
  // Resolves an absolute URI (no fragment) of an external document to its JSON; return nullptr
  // if unknown. The returned document is copied during compile(). Default: only the built-in
  // metaschemas are known. The validator itself never performs network I/O.
  std::function<const boost::json::value*(std::string_view uri)> resolve_remote;
  bool assert_format = false;  // format is an annotation unless enabled
};

struct validation_error {
  std::string instance_path;  // JSON Pointer into the instance, e.g. "/address/city" ("" = root)
  std::string keyword_path;   // JSON Pointer into the schema (evaluation path through $ref),
                              // e.g. "/properties/address/type"
  std::string message;        // human sentence, e.g. "expected integer, got string"
};

struct compiled_schema_impl;

class validator {
 public:
  // Compiles once. Errors: unsupported `$schema` ("unsupported dialect ..."), malformed keywords,
  // unresolvable `$ref` (external documents are never fetched), exceeded limits.
  static plexus::expected<validator, std::string> compile(const boost::json::value& schema,
                                                          const compile_options& options = {});

  // True when `instance` is valid. Stops at the first failure.
  bool is_valid(const boost::json::value& instance) const;
  // All errors (up to limits::max_errors); empty = valid.
  std::vector<validation_error> validate(const boost::json::value& instance) const;

  dialect schema_dialect() const;

 private:
  explicit validator(std::shared_ptr<const compiled_schema_impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const compiled_schema_impl> impl_;
};

}  // namespace plexus::schema
