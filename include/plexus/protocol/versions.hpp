// Protocol versions, eras and reserved `_meta` keys of MCP.
// Thread-safety: constants and pure functions.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace plexus::protocol {

// Modern = 2026-07-28 and later (stateless, per-request `_meta`);
// legacy = 2025-11-25 and earlier (`initialize` handshake, sessions).
enum class era { legacy, modern };

inline constexpr std::string_view latest_modern_version = "2026-07-28";
inline constexpr std::string_view latest_legacy_version = "2025-11-25";
inline constexpr std::array<std::string_view, 1> modern_versions{"2026-07-28"};
// Newest first: the order a server prefers when negotiating.
inline constexpr std::array<std::string_view, 4> legacy_versions{"2025-11-25", "2025-06-18",
                                                                 "2025-03-26", "2024-11-05"};

constexpr bool is_modern_version(std::string_view v) {
  for (auto m : modern_versions)
    if (m == v) return true;
  return false;
}
constexpr bool is_legacy_version(std::string_view v) {
  for (auto l : legacy_versions)
    if (l == v) return true;
  return false;
}
// JSON-RPC batches exist only in 2025-03-26.
constexpr bool allows_batch(std::string_view v) {
  return v == "2025-03-26";
}
// Structured tool output (structuredContent/outputSchema) exists since 2025-06-18.
constexpr bool has_structured_output(std::string_view v) {
  return v != "2024-11-05" && v != "2025-03-26";
}

namespace meta {
inline constexpr std::string_view protocol_version = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view client_info = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view client_capabilities =
    "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view log_level = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view subscription_id = "io.modelcontextprotocol/subscriptionId";
inline constexpr std::string_view server_info = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view related_task = "io.modelcontextprotocol/related-task";
inline constexpr std::string_view progress_token = "progressToken";
}  // namespace meta

// RFC 5424 severities used by MCP logging, lowest first.
enum class logging_level { debug, info, notice, warning, error, critical, alert, emergency };
std::optional<logging_level> parse_logging_level(std::string_view s);
std::string_view to_string(logging_level l);

}  // namespace plexus::protocol
