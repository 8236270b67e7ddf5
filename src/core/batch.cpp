#include "plexus/core/batch.hpp"

namespace plexus {

namespace {
thread_local batch_deferrer* deferrer = nullptr;
}  // namespace

void set_thread_batch_deferrer(batch_deferrer* d) {
  deferrer = d;
}

batch_deferrer* thread_batch_deferrer() {
  return deferrer;
}

}  // namespace plexus
