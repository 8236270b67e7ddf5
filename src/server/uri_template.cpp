#include "server/uri_template.hpp"

#include <sstream>
#include <stdexcept>

namespace plexus::server {
namespace {

std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(".^$|()[]{}*+?\\/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> split_vars(std::string_view list) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : list) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '*') {  // explode modifier: matched like the plain form
      cur += c;
    }
  }
  out.push_back(cur);
  for (auto& v : out)
    if (auto colon = v.find(':'); colon != std::string::npos) v.resize(colon);  // prefix modifier
  return out;
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

uri_template::uri_template(std::string tmpl) : text_(std::move(tmpl)) {
  std::string re;
  std::size_t i = 0;
  while (i < text_.size()) {
    auto open = text_.find('{', i);
    if (open == std::string::npos) {
      re += regex_escape(std::string_view(text_).substr(i));
      break;
    }
    re += regex_escape(std::string_view(text_).substr(i, open - i));
    auto close = text_.find('}', open);
    if (close == std::string::npos)
      throw std::invalid_argument("uri template: unclosed '{' in " + text_);
    std::string_view expr = std::string_view(text_).substr(open + 1, close - open - 1);
    char op = expr.empty() ? 0 : expr[0];
    if (op == '+' || op == '#' || op == '/' || op == '.' || op == '?' || op == '&' || op == ';')
      expr.remove_prefix(1);
    else
      op = 0;
    auto vars = split_vars(expr);
    for (const auto& v : vars) variables_.push_back(v);
    switch (op) {
      case '?':
      case '&':
      case ';':
        re += "(?:[?&;]([^#]*))?";
        capture_vars_.push_back("");
        query_vars_.push_back(vars);
        break;
      default:
        for (std::size_t k = 0; k < vars.size(); ++k) {
          std::string group;
          if (op == '+')
            group = "(.*?)";
          else if (op == '#')
            group = (k == 0 ? "#?" : ",") + std::string("(.*?)");
          else if (op == '/')
            group = "/([^/?#]*?)";
          else if (op == '.')
            group = "\\.([^/?#.]*?)";
          else
            group = (k == 0 ? "" : ",") + std::string("([^/?#,]+?)");
          re += group;
          capture_vars_.push_back(vars[k]);
        }
    }
    i = close + 1;
  }
  pattern_ = std::regex(re, std::regex::ECMAScript | std::regex::optimize);
}

std::optional<std::map<std::string, std::string>> uri_template::match(std::string_view uri) const {
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(uri.begin(), uri.end(), m, pattern_)) return std::nullopt;
  std::map<std::string, std::string> out;
  std::size_t query_index = 0;
  for (std::size_t g = 0; g < capture_vars_.size(); ++g) {
    const auto& name = capture_vars_[g];
    if (!name.empty()) {
      out[name] = percent_decode(std::string_view(&*m[g + 1].first, m[g + 1].length()));
      continue;
    }
    // A query block: split into key=value pairs and keep the declared keys.
    const auto& wanted = query_vars_[query_index++];
    if (!m[g + 1].matched) continue;
    std::string q = m[g + 1].str();
    std::stringstream ss(q);
    std::string pair;
    while (std::getline(ss, pair, '&')) {
      auto eq = pair.find('=');
      std::string key = pair.substr(0, eq);
      for (const auto& w : wanted)
        if (w == key) out[key] = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    }
  }
  return out;
}

}  // namespace plexus::server
