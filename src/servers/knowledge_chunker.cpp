#include "knowledge_chunker.hpp"

#include <algorithm>
#include <cstdint>

namespace plexus::servers::detail {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::size_t utf8_ceil(std::string_view s, std::size_t pos) {
  while (pos < s.size() && continuation(s[pos])) ++pos;
  return pos;
}

struct section {
  std::size_t start, end;
  std::string heading;
};

// Leading spaces (at most 3, as CommonMark allows) of the line at `p`, or npos for more.
std::size_t indent_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i <= 3 ? i : std::string_view::npos;
}

// The level and text of an ATX heading line, or level 0.
std::pair<int, std::string> heading_of(std::string_view line) {
  std::size_t i = indent_of(line);
  if (i == std::string_view::npos) return {0, {}};
  int level = 0;
  while (i < line.size() && line[i] == '#' && level < 7) ++i, ++level;
  if (level == 0 || level > 6) return {0, {}};
  if (i < line.size() && line[i] != ' ' && line[i] != '\t') return {0, {}};
  std::string_view text = line.substr(i);
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  // A closing sequence of '#'s preceded by a space is not part of the heading.
  std::size_t k = text.size();
  while (k > 0 && text[k - 1] == '#') --k;
  if (k < text.size() && (k == 0 || text[k - 1] == ' ')) {
    text = text.substr(0, k);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  }
  return {level, std::string(text)};
}

// A fence opener/closer: ``` or ~~~ (3 or more) after at most 3 spaces.
std::string_view fence_of(std::string_view line) {
  std::size_t i = indent_of(line);
  if (i == std::string_view::npos || i >= line.size()) return {};
  char c = line[i];
  if (c != '`' && c != '~') return {};
  std::size_t n = 0;
  while (i + n < line.size() && line[i + n] == c) ++n;
  return n >= 3 ? line.substr(i, n) : std::string_view{};
}

std::vector<section> sections_of(std::string_view doc, bool markdown) {
  if (!markdown) return {{0, doc.size(), {}}};
  std::vector<section> out;
  std::vector<std::pair<int, std::string>> path;
  std::string fence;  // the open fence, empty outside code
  auto path_text = [&] {
    std::string s;
    for (const auto& [level, text] : path) {
      if (text.empty()) continue;
      if (!s.empty()) s += " > ";
      s += text;
    }
    return s;
  };
  section current{0, 0, {}};
  std::size_t p = 0;
  while (p < doc.size()) {
    std::size_t nl = doc.find('\n', p);
    std::size_t line_end = nl == std::string_view::npos ? doc.size() : nl;
    std::string_view line = doc.substr(p, line_end - p);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (auto f = fence_of(line); !f.empty()) {
      if (fence.empty())
        fence = std::string(f);
      else if (f.front() == fence.front() && f.size() >= fence.size())
        fence.clear();
    } else if (fence.empty()) {
      if (auto [level, text] = heading_of(line); level > 0) {
        current.end = p;
        if (current.end > current.start) out.push_back(current);
        while (!path.empty() && path.back().first >= level) path.pop_back();
        path.emplace_back(level, std::move(text));
        current = section{p, p, path_text()};
      }
    }
    p = nl == std::string_view::npos ? doc.size() : nl + 1;
  }
  current.end = doc.size();
  if (current.end > current.start) out.push_back(current);
  return out;
}

// Where to end a chunk that starts at `pos` and may not pass `limit`: the last natural break in
// the second half of the window, else `limit`.
std::size_t break_before(std::string_view doc, std::size_t pos, std::size_t limit) {
  std::size_t lo = pos + (limit - pos) / 2;
  auto at = [&](std::size_t c) { return doc[c - 1]; };
  // Candidates c are chunk ends (exclusive) in (lo, limit].
  for (std::size_t c = limit; c > lo + 1; --c)
    if (at(c) == '\n' &&
        (at(c - 1) == '\n' || (at(c - 1) == '\r' && c - 2 > lo && at(c - 2) == '\n')))
      return c;
  for (std::size_t c = limit; c > lo; --c)
    if (at(c) == '\n') return c;
  for (std::size_t c = limit; c > lo + 1; --c)
    if (is_space(at(c)) && (at(c - 1) == '.' || at(c - 1) == '!' || at(c - 1) == '?')) return c;
  for (std::size_t c = limit; c > lo; --c)
    if (is_space(at(c))) return c;
  return limit;
}

void emit(std::string_view doc, std::size_t s, std::size_t e, const std::string& heading,
          std::vector<text_chunk>& out) {
  while (s < e && is_space(doc[s])) ++s;
  while (e > s && is_space(doc[e - 1])) --e;
  if (s == e) return;
  out.push_back(text_chunk{s, e, heading, std::string(doc.substr(s, e - s))});
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

std::size_t utf8_floor(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return s.size();
  while (pos > 0 && continuation(s[pos])) --pos;
  return pos;
}

std::vector<text_chunk> chunk_document(std::string_view doc, const chunking_options& options) {
  const std::size_t target = std::max<std::size_t>(options.target, 16);
  const std::size_t overlap = std::min(options.overlap, target / 2);
  std::vector<text_chunk> out;
  for (const auto& sec : sections_of(doc, options.markdown)) {
    std::size_t pos = sec.start;
    while (pos < sec.end && is_space(doc[pos])) ++pos;
    while (pos < sec.end) {
      std::size_t end;
      if (sec.end - pos <= target) {
        end = sec.end;
      } else {
        std::size_t limit = utf8_floor(doc, pos + target);
        end = limit > pos ? break_before(doc, pos, limit) : utf8_ceil(doc, pos + 1);
        end = utf8_floor(doc, end);
        if (end <= pos) end = utf8_ceil(doc, pos + 1);
      }
      emit(doc, pos, end, sec.heading, out);
      if (end >= sec.end) break;
      // The next chunk repeats the tail of this one, from the start of a word.
      std::size_t next = end > pos + overlap ? end - overlap : pos + 1;
      next = utf8_ceil(doc, std::max(next, pos + 1));
      if (next > 0 && !is_space(doc[next - 1])) {
        std::size_t w = next;
        while (w < end && !is_space(doc[w])) ++w;
        next = w < end ? w : next;  // a single long word: keep the byte-wise overlap
      }
      while (next < end && is_space(doc[next])) ++next;
      if (next >= end || overlap == 0) next = end;
      while (next < sec.end && is_space(doc[next])) ++next;
      pos = next;
    }
  }
  return out;
}

}  // namespace plexus::servers::detail
