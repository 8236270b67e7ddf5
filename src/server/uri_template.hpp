// RFC 6570 URI templates, for matching concrete URIs against resource
// templates: simple ({var}), reserved ({+var}), fragment ({#var}), label
// ({.var}), path ({/var}) and query ({?a,b} / {&a}) expressions.
#pragma once

#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::server {

class uri_template {
 public:
  explicit uri_template(std::string tmpl);

  const std::string& text() const { return text_; }
  const std::vector<std::string>& variables() const { return variables_; }
  // The variables of `uri` (percent-decoded) when it matches, else nullopt.
  std::optional<std::map<std::string, std::string>> match(std::string_view uri) const;

 private:
  std::string text_;
  std::vector<std::string> variables_;
  std::vector<std::string> capture_vars_;  // variable of each regex group ("" = query block)
  std::vector<std::vector<std::string>> query_vars_;
  std::regex pattern_;
};

std::string percent_decode(std::string_view s);

}  // namespace plexus::server
