// Boost.JSON compiled into the fuzz build once (header-only mode), instrumented
// like the code that uses it.
#include <boost/json/src.hpp>
