// Random bytes and identifiers from the kernel (getrandom(2)): session ids, task ids,
// request-state keys. Not OpenSSL's RAND: initialising its DRBG and providers touches
// about 3 MB of libcrypto, which an idle server otherwise never needs.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>

namespace plexus::random {

// Fills `out` with `n` cryptographically secure bytes; aborts if the kernel cannot.
void bytes(void* out, std::size_t n);
// `n` random bytes as 2n lower-case hex digits.
std::string hex(std::size_t n);

}  // namespace plexus::random
