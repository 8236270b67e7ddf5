// Whether this system lets an unprivileged process have pipes of `bytes` (stdio transports
// ask for 256 KiB; pipe-max-size or a user's pipe budget may refuse).
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <cstddef>

namespace plexus::testing {

inline bool pipes_can_grow_to(std::size_t bytes) {
  int probe[2];
  if (::pipe(probe) != 0) return false;
  bool can = ::fcntl(probe[0], F_SETPIPE_SZ, static_cast<int>(bytes)) >= static_cast<int>(bytes);
  ::close(probe[0]);
  ::close(probe[1]);
  return can;
}

}  // namespace plexus::testing
