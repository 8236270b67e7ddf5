#include "plexus/protocol/types.hpp"

namespace plexus::protocol {
namespace {

void put(json::object& o, std::string_view key, const std::optional<std::string>& v) {
  if (v) o[key] = *v;
}
void put(json::object& o, std::string_view key, const std::optional<bool>& v) {
  if (v) o[key] = *v;
}
void put_icons(json::object& o, const std::vector<icon>& icons) {
  if (icons.empty()) return;
  json::array a;
  for (const auto& i : icons) a.push_back(i.to_json());
  o["icons"] = std::move(a);
}
void put_annotations(json::object& o, const content_annotations& a) {
  if (!a.empty()) o["annotations"] = a.to_json();
}
std::optional<std::string> opt_string(const json::object& o, std::string_view key) {
  if (auto s = json::find_string(o, key)) return std::string(*s);
  return std::nullopt;
}

}  // namespace

json::object icon::to_json() const {
  json::object o{{"src", src}};
  put(o, "mimeType", mime_type);
  if (!sizes.empty()) {
    json::array a;
    for (const auto& s : sizes) a.push_back(json::value(s));
    o["sizes"] = std::move(a);
  }
  put(o, "theme", theme);
  return o;
}

json::object implementation::to_json() const {
  json::object o{{"name", name}, {"version", version}};
  put(o, "title", title);
  put(o, "description", description);
  put(o, "websiteUrl", website_url);
  put_icons(o, icons);
  return o;
}

implementation implementation::from_json(const json::object& o) {
  implementation i;
  i.name = opt_string(o, "name").value_or("");
  i.version = opt_string(o, "version").value_or("");
  i.title = opt_string(o, "title");
  i.description = opt_string(o, "description");
  i.website_url = opt_string(o, "websiteUrl");
  return i;
}

json::object content_annotations::to_json() const {
  json::object o;
  if (!audience.empty()) {
    json::array a;
    for (const auto& s : audience) a.push_back(json::value(s));
    o["audience"] = std::move(a);
  }
  if (priority) o["priority"] = *priority;
  put(o, "lastModified", last_modified);
  return o;
}

json::object tool_annotations::to_json() const {
  json::object o;
  put(o, "title", title);
  put(o, "readOnlyHint", read_only);
  put(o, "destructiveHint", destructive);
  put(o, "idempotentHint", idempotent);
  put(o, "openWorldHint", open_world);
  return o;
}

namespace content {

json::object text(std::string text, const content_annotations& a) {
  json::object o{{"type", "text"}, {"text", std::move(text)}};
  put_annotations(o, a);
  return o;
}

json::object image(std::string data, std::string mime, const content_annotations& a) {
  json::object o{{"type", "image"}, {"data", std::move(data)}, {"mimeType", std::move(mime)}};
  put_annotations(o, a);
  return o;
}

json::object audio(std::string data, std::string mime, const content_annotations& a) {
  json::object o{{"type", "audio"}, {"data", std::move(data)}, {"mimeType", std::move(mime)}};
  put_annotations(o, a);
  return o;
}

json::object resource_link(std::string uri, std::string name, std::optional<std::string> mime,
                           std::optional<std::string> description) {
  json::object o{{"type", "resource_link"}, {"uri", std::move(uri)}, {"name", std::move(name)}};
  put(o, "mimeType", mime);
  put(o, "description", description);
  return o;
}

json::object embedded_text(std::string uri, std::string text, std::optional<std::string> mime) {
  return {{"type", "resource"},
          {"resource",
           resource_contents::of_text(std::move(uri), std::move(text), std::move(mime)).to_json()}};
}

json::object embedded_blob(std::string uri, std::string blob, std::optional<std::string> mime) {
  return {{"type", "resource"},
          {"resource",
           resource_contents::of_blob(std::move(uri), std::move(blob), std::move(mime)).to_json()}};
}

}  // namespace content

json::object tool::to_json() const {
  json::object o{{"name", name}};
  put(o, "title", title);
  put(o, "description", description);
  o["inputSchema"] = input_schema;
  if (output_schema) o["outputSchema"] = *output_schema;
  if (annotations) o["annotations"] = annotations->to_json();
  put_icons(o, icons);
  if (task_support) o["execution"] = json::object{{"taskSupport", *task_support}};
  if (!meta.empty()) o["_meta"] = meta;
  return o;
}

json::object resource::to_json() const {
  json::object o{{"uri", uri}, {"name", name}};
  put(o, "title", title);
  put(o, "description", description);
  put(o, "mimeType", mime_type);
  if (size) o["size"] = *size;
  put_annotations(o, annotations);
  put_icons(o, icons);
  if (!meta.empty()) o["_meta"] = meta;
  return o;
}

json::object resource_template::to_json() const {
  json::object o{{"uriTemplate", uri_template}, {"name", name}};
  put(o, "title", title);
  put(o, "description", description);
  put(o, "mimeType", mime_type);
  put_annotations(o, annotations);
  put_icons(o, icons);
  return o;
}

json::object resource_contents::to_json() const {
  json::object o{{"uri", uri}};
  put(o, "mimeType", mime_type);
  if (text)
    o["text"] = *text;
  else
    o["blob"] = blob.value_or("");
  return o;
}

resource_contents resource_contents::of_text(std::string uri, std::string text,
                                             std::optional<std::string> mime) {
  return {std::move(uri), std::move(mime), std::move(text), std::nullopt};
}

resource_contents resource_contents::of_blob(std::string uri, std::string base64,
                                             std::optional<std::string> mime) {
  return {std::move(uri), std::move(mime), std::nullopt, std::move(base64)};
}

json::object prompt_argument::to_json() const {
  json::object o{{"name", name}};
  put(o, "title", title);
  put(o, "description", description);
  if (required) o["required"] = true;
  return o;
}

json::object prompt::to_json() const {
  json::object o{{"name", name}};
  put(o, "title", title);
  put(o, "description", description);
  if (!arguments.empty()) {
    json::array a;
    for (const auto& arg : arguments) a.push_back(arg.to_json());
    o["arguments"] = std::move(a);
  }
  put_icons(o, icons);
  return o;
}

json::object prompt_message::to_json() const {
  return {{"role", role}, {"content", content}};
}

}  // namespace plexus::protocol
