#include "plexus/core/random.hpp"

#include <sys/random.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace plexus::random {

void bytes(void* out, std::size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    ssize_t got = ::getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // Ids and keys must never be predictable: there is no safe way to go on.
      std::perror("plexus: getrandom");
      std::abort();
    }
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

std::string hex(std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string raw(n, '\0');
  bytes(raw.data(), n);
  std::string s;
  s.reserve(2 * n);
  for (unsigned char c : raw) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

}  // namespace plexus::random
