// MCP data types shared by servers and clients: implementation info, icons,
// annotations, content blocks, tool/resource/prompt descriptions. Each type
// serializes to the exact wire shape of the schema (optional fields omitted).
// Thread-safety: plain value types.
#pragma once

#include "plexus/json/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace plexus::protocol {

struct icon {
  std::string src;  // https: or data: URI
  std::optional<std::string> mime_type;
  std::vector<std::string> sizes;
  std::optional<std::string> theme;  // "light" | "dark"
  json::object to_json() const;
};

struct implementation {
  std::string name;
  std::string version;
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> website_url;
  std::vector<icon> icons;
  json::object to_json() const;
  static implementation from_json(const json::object& o);
};

// Hints about who a content block is for and how important it is.
struct content_annotations {
  std::vector<std::string> audience;  // "user" | "assistant"
  std::optional<double> priority;     // 0..1
  std::optional<std::string> last_modified;
  bool empty() const { return audience.empty() && !priority && !last_modified; }
  json::object to_json() const;
};

// Tool behaviour hints. Set them truthfully: clients decide on confirmation with them.
struct tool_annotations {
  std::optional<std::string> title;
  std::optional<bool> read_only;
  std::optional<bool> destructive;
  std::optional<bool> idempotent;
  std::optional<bool> open_world;
  json::object to_json() const;
};

// Content blocks (ContentBlock of the schema), built as JSON objects.
namespace content {
json::object text(std::string text, const content_annotations& a = {});
json::object image(std::string base64_data, std::string mime_type,
                   const content_annotations& a = {});
json::object audio(std::string base64_data, std::string mime_type,
                   const content_annotations& a = {});
json::object resource_link(std::string uri, std::string name,
                           std::optional<std::string> mime_type = std::nullopt,
                           std::optional<std::string> description = std::nullopt);
json::object embedded_text(std::string uri, std::string text,
                           std::optional<std::string> mime_type = std::nullopt);
json::object embedded_blob(std::string uri, std::string base64_blob,
                           std::optional<std::string> mime_type = std::nullopt);
}  // namespace content

struct tool {
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  json::object input_schema{{"type", "object"}};
  std::optional<json::value> output_schema;
  std::optional<tool_annotations> annotations;
  std::vector<icon> icons;
  std::optional<std::string> task_support;  // "forbidden" | "optional" | "required" (tasks)
  json::object meta;
  json::object to_json() const;
};

struct resource {
  std::string uri;
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> mime_type;
  std::optional<std::uint64_t> size;
  content_annotations annotations;
  std::vector<icon> icons;
  json::object meta;
  json::object to_json() const;
};

struct resource_template {
  std::string uri_template;  // RFC 6570
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> mime_type;
  content_annotations annotations;
  std::vector<icon> icons;
  json::object to_json() const;
};

// One item of ReadResourceResult.contents: text or base64 blob.
struct resource_contents {
  std::string uri;
  std::optional<std::string> mime_type;
  std::optional<std::string> text;  // exactly one of text / blob
  std::optional<std::string> blob;
  json::object to_json() const;
  static resource_contents of_text(std::string uri, std::string text,
                                   std::optional<std::string> mime = std::nullopt);
  static resource_contents of_blob(std::string uri, std::string base64,
                                   std::optional<std::string> mime = std::nullopt);
};

struct prompt_argument {
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  bool required = false;
  json::object to_json() const;
};

struct prompt {
  std::string name;
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::vector<prompt_argument> arguments;
  std::vector<icon> icons;
  json::object to_json() const;
};

struct prompt_message {
  std::string role;  // "user" | "assistant"
  json::object content;
  json::object to_json() const;
};

struct root {
  std::string uri;  // file://
  std::optional<std::string> name;
};

}  // namespace plexus::protocol
