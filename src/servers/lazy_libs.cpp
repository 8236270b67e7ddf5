#include "lazy_libs.hpp"

#include <dlfcn.h>
#include <cstdarg>
#include <mutex>
#include <stdexcept>
#include <string>

namespace plexus::servers::lazy {

namespace {

void* open_library(const char* const* names) {
  std::string errors;
  for (auto* n = names; *n; ++n) {
    if (void* h = ::dlopen(*n, RTLD_NOW | RTLD_LOCAL)) return h;
    if (const char* e = ::dlerror()) errors += std::string(errors.empty() ? "" : "; ") + e;
  }
  throw std::runtime_error("cannot load " + std::string(names[0]) + ": " + errors);
}

template <class F>
void bind(void* lib, F& slot, const char* name) {
  slot = reinterpret_cast<F>(::dlsym(lib, name));
  if (!slot) throw std::runtime_error(std::string("missing symbol ") + name);
}

// Loads once; a failure is remembered and reported to every caller.
template <class Api, class Load>
const Api& load_once(Load load) {
  static std::once_flag once;
  static Api api;
  static std::string error;
  std::call_once(once, [&] {
    try {
      load(api);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error(error);
  return api;
}

}  // namespace

#define PLEXUS_LAZY_BIND(f) bind(lib, api.f, #f);

const libpq& pq() {
  return load_once<libpq>([](libpq& api) {
    static const char* const names[] = {"libpq.so.5", "libpq.so", nullptr};
    void* lib = open_library(names);
    PLEXUS_LIBPQ_FUNCTIONS(PLEXUS_LAZY_BIND)
  });
}

const libhiredis& redis() {
  return load_once<libhiredis>([](libhiredis& api) {
    // Debian 12 ships hiredis 0.14 (soname libhiredis.so.0.14); newer ones use 1.1.0.
    static const char* const names[] = {"libhiredis.so.0.14", "libhiredis.so.1.1.0",
                                        "libhiredis.so", nullptr};
    void* lib = open_library(names);
    PLEXUS_HIREDIS_FUNCTIONS(PLEXUS_LAZY_BIND)
  });
}

#undef PLEXUS_LAZY_BIND

void* libhiredis::command(redisContext* c, const char* format, ...) const {
  va_list ap;
  va_start(ap, format);
  void* r = redisvCommand(c, format, ap);
  va_end(ap);
  return r;
}

}  // namespace plexus::servers::lazy
