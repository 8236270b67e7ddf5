// `plexus server NAME …`: one built-in server (filesystem, memory, weather,
// database, everything) on any transport.
#pragma once

#include <CLI/CLI.hpp>

namespace plexus::cli {

struct server_command;
// Adds the `server` subcommand to `app`.
server_command* add_server_command(CLI::App& app);
// Whether the command line chose it.
bool parsed(const server_command& cmd);
// Runs the parsed command; returns the exit code.
int run_server_command(server_command& cmd);

}  // namespace plexus::cli
