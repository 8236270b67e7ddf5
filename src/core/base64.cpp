#include "plexus/core/base64.hpp"

#include <array>
#include <cstdint>

namespace plexus::base64 {
namespace {

constexpr char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode_with(std::string_view in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t n =
        (std::uint8_t(in[i]) << 16) | (std::uint8_t(in[i + 1]) << 8) | std::uint8_t(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (std::size_t rest = in.size() - i; rest) {
    std::uint32_t n = std::uint8_t(in[i]) << 16;
    if (rest == 2) n |= std::uint8_t(in[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (rest == 2)
      out += alphabet[(n >> 6) & 63];
    else if (pad)
      out += '=';
    if (pad) out += '=';
  }
  return out;
}

std::array<int, 256> table_for(const char* alphabet) {
  std::array<int, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 64; ++i) t[std::uint8_t(alphabet[i])] = i;
  return t;
}

std::optional<std::string> decode_with(std::string_view in, const std::array<int, 256>& t,
                                       bool padded) {
  std::size_t pad = 0;
  if (padded) {
    if (in.size() % 4 != 0) return std::nullopt;
    while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
    in.remove_suffix(pad);
  } else if (in.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = t[std::uint8_t(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  // Canonical form: the unused low bits of the last symbol must be zero.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  if (padded && in.size() % 4 + pad != 4 && pad != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string encode(std::string_view bytes) {
  return encode_with(bytes, std_alphabet, true);
}
std::string encode_url(std::string_view bytes) {
  return encode_with(bytes, url_alphabet, false);
}

std::optional<std::string> decode(std::string_view text) {
  static const auto t = table_for(std_alphabet);
  return decode_with(text, t, true);
}

std::optional<std::string> decode_url(std::string_view text) {
  static const auto t = table_for(url_alphabet);
  return decode_with(text, t, false);
}

}  // namespace plexus::base64
