// Base64 (RFC 4648) encoding and strict decoding, standard and URL alphabets.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plexus::base64 {

std::string encode(std::string_view bytes);
std::string encode_url(std::string_view bytes);  // URL alphabet, no padding
// Strict: canonical padding required, no whitespace, no foreign characters.
std::optional<std::string> decode(std::string_view text);
std::optional<std::string> decode_url(std::string_view text);  // URL alphabet, unpadded

}  // namespace plexus::base64
