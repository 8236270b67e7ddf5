// Format assertions for the JSON Schema validator (used only when format assertion is enabled)
// and UTF-8 helpers. Thread-safety: pure functions.
#include "schema/internal.hpp"

#include <boost/regex.hpp>

#include <cctype>
#include <cwchar>
#include <locale>
#include <stdexcept>
#include <string>

namespace plexus::schema::detail {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int num(std::string_view s) {
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool check_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  auto y = s.substr(0, 4), m = s.substr(5, 2), d = s.substr(8, 2);
  if (!all_digits(y) || !all_digits(m) || !all_digits(d)) return false;
  int yy = num(y), mm = num(m), dd = num(d);
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mm < 1 || mm > 12 || dd < 1) return false;
  int max = days[mm - 1] + (mm == 2 && is_leap(yy) ? 1 : 0);
  return dd <= max;
}

bool check_time(std::string_view s) {
  // HH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (s.size() < 9 || s[2] != ':' || s[5] != ':') return false;
  auto h = s.substr(0, 2), m = s.substr(3, 2), sec = s.substr(6, 2);
  if (!all_digits(h) || !all_digits(m) || !all_digits(sec)) return false;
  int hh = num(h), mm = num(m), ss = num(sec);
  if (hh > 23 || mm > 59 || ss > 60) return false;
  std::size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    std::size_t j = i + 1;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i + 1) return false;
    i = j;
  }
  if (i >= s.size()) return false;
  int off_min = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    if (i + 1 != s.size()) return false;
  } else if (s[i] == '+' || s[i] == '-') {
    auto off = s.substr(i + 1);
    if (off.size() != 5 || off[2] != ':' || !all_digits(off.substr(0, 2)) ||
        !all_digits(off.substr(3, 2))) {
      return false;
    }
    int oh = num(off.substr(0, 2)), om = num(off.substr(3, 2));
    if (oh > 23 || om > 59) return false;
    off_min = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
  } else {
    return false;
  }
  if (ss == 60) {  // leap second: only at 23:59:60 UTC
    int utc = ((hh * 60 + mm - off_min) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return false;
  }
  return true;
}

bool check_date_time(std::string_view s) {
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't')) return false;
  return check_date(s.substr(0, 10)) && check_time(s.substr(11));
}

bool check_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    auto part = s.substr(i, j - i);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    if (num(part) > 255) return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

bool check_ipv6(std::string_view s) {
  if (s.empty()) return false;
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == s.size()) return true;
  } else if (s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j < s.size() && s[j] == '.') {  // embedded IPv4 tail
      if (!check_ipv4(s.substr(i))) return false;
      groups += 2;
      break;
    }
    if (j == i || j - i > 4) return false;
    ++groups;
    if (j == s.size()) break;
    if (s[j] != ':') return false;
    if (j + 1 < s.size() && s[j + 1] == ':') {
      if (compressed) return false;
      compressed = true;
      i = j + 2;
      if (i == s.size()) break;
    } else {
      i = j + 1;
      if (i == s.size()) return false;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool check_hostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t i = 0;
  while (true) {
    auto dot = s.find('.', i);
    auto label = s.substr(i, dot == std::string_view::npos ? s.npos : dot - i);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-' &&
        !(label.substr(0, 2) == "xn" || label.substr(0, 2) == "XN")) {
      return false;
    }
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return true;
}

bool check_email(std::string_view s) {
  auto at = s.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= s.size()) return false;
  auto local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.front() == '"' && local.back() == '"' && local.size() >= 2) {
    // quoted local part: accept
  } else {
    if (local.front() == '.' || local.back() == '.' || local.find("..") != local.npos) return false;
    for (char c : local) {
      if (std::isalnum(static_cast<unsigned char>(c))) continue;
      if (std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) == std::string_view::npos) return false;
    }
  }
  if (domain.front() == '[' && domain.back() == ']') {
    auto lit = domain.substr(1, domain.size() - 2);
    if (lit.substr(0, 5) == "IPv6:") return check_ipv6(lit.substr(5));
    return check_ipv4(lit);
  }
  return check_hostname(domain);
}

bool check_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

bool uri_chars_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view("<>\"{}|\\^`").find(static_cast<char>(c)) != std::string_view::npos) {
      return false;
    }
    if (c == '%' && (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
                     !std::isxdigit(static_cast<unsigned char>(s[i + 2])))) {
      return false;
    }
  }
  return true;
}

// Checks the authority (if any) and that '[' ']' appear only around an IP literal host.
bool authority_ok(std::string_view rest) {
  std::string_view path = rest;
  if (rest.substr(0, 2) == "//") {
    auto end = rest.find_first_of("/?#", 2);
    auto auth = rest.substr(2, end == std::string_view::npos ? rest.npos : end - 2);
    path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    auto at = auth.find('@');
    if (at != std::string_view::npos && auth.find('@', at + 1) != std::string_view::npos) {
      return false;
    }
    if (at != std::string_view::npos && auth.substr(0, at).find_first_of("[]") != auth.npos) {
      return false;
    }
    auto host = at == std::string_view::npos ? auth : auth.substr(at + 1);
    std::string_view port;
    if (!host.empty() && host.front() == '[') {
      auto close = host.find(']');
      if (close == std::string_view::npos) return false;
      auto lit = host.substr(1, close - 1);
      if (!lit.empty() && (lit[0] == 'v' || lit[0] == 'V')) {
        // IPvFuture: accepted
      } else if (!check_ipv6(lit)) {
        return false;
      }
      auto after = host.substr(close + 1);
      if (!after.empty() && after[0] != ':') return false;
      if (!after.empty()) port = after.substr(1);
    } else {
      if (host.find_first_of("[]") != std::string_view::npos) return false;
      auto pc = host.find(':');
      if (pc != std::string_view::npos) port = host.substr(pc + 1);
    }
    if (!port.empty() && !all_digits(port)) return false;
  }
  return path.find_first_of("[]") == std::string_view::npos;
}

bool check_uri(std::string_view s, bool require_scheme) {
  if (!uri_chars_ok(s)) return false;
  auto colon = s.find(':');
  auto first_delim = s.find_first_of("/?#");
  bool has_scheme = colon != std::string_view::npos && colon > 0 &&
                    (first_delim == std::string_view::npos || colon < first_delim);
  if (!has_scheme) return !require_scheme && authority_ok(s);
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return authority_ok(s.substr(colon + 1));
}

bool check_json_pointer(std::string_view s) {
  if (s.empty()) return true;
  if (s[0] != '/') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && (i + 1 >= s.size() || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
  }
  return true;
}

bool check_relative_json_pointer(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || (i > 1 && s[0] == '0')) return false;
  auto rest = s.substr(i);
  return rest == "#" || check_json_pointer(rest);
}

bool check_duration(std::string_view s) {
  static const boost::regex re(
      "^P(?:(?:\\d+D|\\d+M(?:\\d+D)?|\\d+Y(?:\\d+M(?:\\d+D)?)?)(?:T(?:\\d+H(?:\\d+M(?:\\d+S)?)?|"
      "\\d+M(?:\\d+S)?|\\d+S))?|T(?:\\d+H(?:\\d+M(?:\\d+S)?)?|\\d+M(?:\\d+S)?|\\d+S)|\\d+W)$");
  return boost::regex_match(s.begin(), s.end(), re);
}

bool check_regex(std::string_view s) {
  try {
    compile_ecma_regex(s);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

const std::locale& regex_locale() {
  static const std::locale loc = [] {
    try {
      return std::locale("C.UTF-8");
    } catch (const std::exception&) {
      return std::locale::classic();
    }
  }();
  return loc;
}

// ECMAScript WhiteSpace and LineTerminator code points.
constexpr std::wstring_view kEcmaSpace =
    L"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

int hex_value(wchar_t c) {
  if (c >= L'0' && c <= L'9') return c - L'0';
  if (c >= L'a' && c <= L'f') return c - L'a' + 10;
  if (c >= L'A' && c <= L'F') return c - L'A' + 10;
  return -1;
}

std::wstring hex_escape(unsigned long cp) {
  wchar_t buf[16];
  std::swprintf(buf, 16, L"\\x{%lX}", cp);
  return buf;
}

std::wstring property_class(std::wstring_view name) {
  if (name == L"L" || name == L"Letter" || name == L"Alphabetic" || name == L"Alpha") {
    return L"[:alpha:]";
  }
  if (name == L"Lu" || name == L"Uppercase_Letter" || name == L"Uppercase") return L"[:upper:]";
  if (name == L"Ll" || name == L"Lowercase_Letter" || name == L"Lowercase") return L"[:lower:]";
  if (name == L"N" || name == L"Nd" || name == L"Number" || name == L"Decimal_Number" ||
      name == L"digit") {
    // Unicode decimal digits (Nd), Basic Multilingual Plane blocks plus common astral ones.
    static const unsigned long starts[] = {
        0x30,    0x660,   0x6F0,   0x7C0,   0x966,   0x9E6,   0xA66,   0xAE6,   0xB66,
        0xBE6,   0xC66,   0xCE6,   0xD66,   0xDE6,   0xE50,   0xED0,   0xF20,   0x1040,
        0x1090,  0x17E0,  0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,
        0x1C40,  0x1C50,  0xA620,  0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,
        0xFF10,  0x104A0, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
        0x11650, 0x116C0, 0x11730, 0x118E0, 0x16A60, 0x16B50, 0x1E950};
    std::wstring cls;
    for (unsigned long st : starts) cls += hex_escape(st) + L"-" + hex_escape(st + 9);
    cls += hex_escape(0x1D7CE) + L"-" + hex_escape(0x1D7FF);
    return cls;
  }
  if (name == L"P" || name == L"Punctuation") return L"[:punct:]";
  if (name == L"White_Space" || name == L"space") return L"[:space:]";
  return {};
}

}  // namespace

boost::wregex compile_ecma_regex(std::string_view pattern) {
  std::wstring in = utf8_to_wide(pattern);
  std::wstring out;
  bool in_class = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    wchar_t c = in[i];
    if (c == L'[' && !in_class) {
      if (in.compare(i, 2, L"[]") == 0) {  // ECMAScript: empty class matches nothing
        out += L"(?!)";
        ++i;
        continue;
      }
      if (in.compare(i, 3, L"[^]") == 0) {  // ECMAScript: matches any code point
        out += L"[\\x{0}-\\x{10FFFF}]";
        i += 2;
        continue;
      }
      in_class = true;
      out += c;
      if (i + 1 < in.size() && in[i + 1] == L'^') out += in[++i];
      continue;
    }
    if (c == L'(' && !in_class && i + 1 < in.size() && in[i + 1] == L'?') {
      // ECMAScript groups: (?: (?= (?! (?<= (?<! (?<name>; not inline flags or comments.
      wchar_t k = i + 2 < in.size() ? in[i + 2] : L'\0';
      if (k != L':' && k != L'=' && k != L'!' && k != L'<') {
        throw std::runtime_error("group syntax (?" + std::string(1, static_cast<char>(k)) +
                                 " is not ECMA-262");
      }
      out += c;
      continue;
    }
    if (c == L']' && in_class) {
      in_class = false;
      out += c;
      continue;
    }
    if (c != L'\\' || i + 1 >= in.size()) {
      out += c;
      continue;
    }
    wchar_t e = in[++i];
    switch (e) {
      case L'd':
        out += in_class ? L"0-9" : L"[0-9]";
        break;
      case L'w':
        out += in_class ? L"A-Za-z0-9_" : L"[A-Za-z0-9_]";
        break;
      case L's':
        out += in_class ? std::wstring(kEcmaSpace) : L"[" + std::wstring(kEcmaSpace) + L"]";
        break;
      case L'D':
        out += in_class ? L"\\D" : L"[^0-9]";
        break;
      case L'W':
        out += in_class ? L"\\W" : L"[^A-Za-z0-9_]";
        break;
      case L'S':
        out += in_class ? L"\\S" : L"[^" + std::wstring(kEcmaSpace) + L"]";
        break;
      case L'p':
      case L'P': {
        auto close = in.find(L'}', i);
        std::wstring cls;
        if (i + 1 < in.size() && in[i + 1] == L'{' && close != std::wstring::npos) {
          cls = property_class(std::wstring_view(in).substr(i + 2, close - i - 2));
        }
        if (cls.empty()) {  // unknown property: let Boost report it
          out += L'\\';
          out += e;
          break;
        }
        i = close;
        if (in_class) {
          if (e == L'P') throw std::runtime_error("negated property escape inside a class");
          out += cls;
        } else {
          out += (e == L'P' ? L"[^" : L"[") + cls + L"]";
        }
        break;
      }
      case L'u': {
        unsigned long cp = 0;
        if (i + 1 < in.size() && in[i + 1] == L'{') {
          auto close = in.find(L'}', i);
          if (close == std::wstring::npos) throw std::runtime_error("bad \\u{...} escape");
          for (std::size_t k = i + 2; k < close; ++k) {
            int h = hex_value(in[k]);
            if (h < 0) throw std::runtime_error("bad \\u{...} escape");
            cp = cp * 16 + static_cast<unsigned long>(h);
          }
          i = close;
        } else {
          if (i + 4 >= in.size()) {
            throw std::runtime_error("bad \\uXXXX escape");
          }
          for (std::size_t k = i + 1; k <= i + 4; ++k) {
            int h = hex_value(in[k]);
            if (h < 0) throw std::runtime_error("bad \\uXXXX escape");
            cp = cp * 16 + static_cast<unsigned long>(h);
          }
          i += 4;
          // A surrogate pair written as two escapes is one code point.
          if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < in.size() && in[i + 1] == L'\\' &&
              in[i + 2] == L'u') {
            unsigned long lo = 0;
            bool ok = true;
            for (std::size_t k = i + 3; k <= i + 6 && ok; ++k) {
              int h = hex_value(in[k]);
              ok = h >= 0;
              lo = lo * 16 + static_cast<unsigned long>(h < 0 ? 0 : h);
            }
            if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              i += 6;
            }
          }
        }
        out += hex_escape(cp);
        break;
      }
      default:
        if (((e >= L'a' && e <= L'z') || (e >= L'A' && e <= L'Z')) &&
            std::wstring_view(L"bBfnrtvcxk").find(e) == std::wstring_view::npos) {
          throw std::runtime_error("escape \\" + std::string(1, static_cast<char>(e)) +
                                   " is not ECMA-262");
        }
        out += L'\\';
        out += e;
        break;
    }
  }
  boost::wregex re;
  re.imbue(regex_locale());
  re.assign(out, boost::regex_constants::ECMAScript);
  return re;
}

std::wstring utf8_to_wide(std::string_view s) {
  std::wstring out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      out.push_back(static_cast<wchar_t>(0xFFFD));
      ++i;
      continue;
    }
    if (i + len > s.size()) {
      out.push_back(static_cast<wchar_t>(0xFFFD));
      break;
    }
    bool ok = true;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(static_cast<wchar_t>(0xFFFD));
      ++i;
      continue;
    }
    out.push_back(static_cast<wchar_t>(cp));
    i += len;
  }
  return out;
}

bool check_format(std::string_view format, std::string_view s, bool& known) {
  known = true;
  if (format == "date-time") return check_date_time(s);
  if (format == "date") return check_date(s);
  if (format == "time") return check_time(s);
  if (format == "duration") return check_duration(s);
  if (format == "email" || format == "idn-email") return check_email(s);
  if (format == "hostname") return check_hostname(s);
  if (format == "ipv4") return check_ipv4(s);
  if (format == "ipv6") return check_ipv6(s);
  if (format == "uri") return check_uri(s, true);
  if (format == "uri-reference") return check_uri(s, false);
  if (format == "uuid") return check_uuid(s);
  if (format == "json-pointer") return check_json_pointer(s);
  if (format == "relative-json-pointer") return check_relative_json_pointer(s);
  if (format == "regex") return check_regex(s);
  known = false;
  return true;
}

}  // namespace plexus::schema::detail
