#include "plexus/core/blocking.hpp"

namespace plexus {

namespace {
thread_local blocking_observer* observer = nullptr;
thread_local int depth = 0;
}  // namespace

void set_thread_blocking_observer(blocking_observer* o) {
  observer = o;
}

blocking_region::blocking_region() : observer_(depth++ == 0 ? observer : nullptr) {
  if (observer_) observer_->enter_blocking();
}

blocking_region::~blocking_region() {
  --depth;
  if (observer_) observer_->leave_blocking();
}

}  // namespace plexus
