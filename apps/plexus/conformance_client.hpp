// `plexus conformance-client URL`: the client the official MCP conformance
// runner drives (it reads MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_PROTOCOL_VERSION
// and MCP_CONFORMANCE_CONTEXT from the environment).
#pragma once

#include <CLI/CLI.hpp>

namespace plexus::cli {

// Adds the subcommand; when parsed, it runs the scenario and exits the process
// with its status (0 when the scenario's work succeeded).
void add_conformance_client_command(CLI::App& app);

// Runs one scenario against `url`; the exit status.
int run_conformance_client(const std::string& url);

}  // namespace plexus::cli
