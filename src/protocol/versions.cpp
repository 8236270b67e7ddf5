#include "plexus/protocol/versions.hpp"

namespace plexus::protocol {
namespace {
constexpr std::array<std::string_view, 8> level_names{"debug", "info",     "notice", "warning",
                                                      "error", "critical", "alert",  "emergency"};
}

std::optional<logging_level> parse_logging_level(std::string_view s) {
  for (std::size_t i = 0; i < level_names.size(); ++i)
    if (level_names[i] == s) return static_cast<logging_level>(i);
  return std::nullopt;
}

std::string_view to_string(logging_level l) {
  return level_names[static_cast<std::size_t>(l)];
}

}  // namespace plexus::protocol
