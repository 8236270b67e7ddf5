// Chunking for the knowledge server (internal): a document becomes overlapping chunks of about
// `target` bytes, cut where the text breaks naturally.
//
// Markdown: ATX headings (`#` .. `######`, outside fenced code) start sections; a chunk never
// spans two sections and carries the section's heading path ("Install > On Debian") so that a
// chunk deep inside a section still matches words of its headings. Plain text: one section.
// Inside a section a chunk ends, in order of preference, at a blank line, a line end, a sentence
// end or a space found in the last half of the window; failing all, at the window's end. The next
// chunk starts `overlap` bytes before the previous end (moved forward to the start of a word).
// Cuts are never made inside a UTF-8 sequence, and chunks are trimmed of surrounding whitespace.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers::detail {

struct text_chunk {
  std::size_t start = 0;  // byte offsets into the document: text == doc.substr(start, end - start)
  std::size_t end = 0;
  std::string heading;  // heading path, " > " separated; empty outside any heading
  std::string text;
};

struct chunking_options {
  std::size_t target = 800;   // bytes per chunk, at most (a longer word is cut anyway)
  std::size_t overlap = 120;  // bytes repeated from the previous chunk of the same section
  bool markdown = true;
};

std::vector<text_chunk> chunk_document(std::string_view doc, const chunking_options& options);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool valid_utf8(std::string_view s);

// The largest i <= pos that does not fall inside a UTF-8 sequence of `s`.
std::size_t utf8_floor(std::string_view s, std::size_t pos);

}  // namespace plexus::servers::detail
