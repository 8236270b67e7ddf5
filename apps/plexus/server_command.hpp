// `plexus server NAME …`: one built-in server (see plexus/servers/builtin.hpp) on
// any transport.
#pragma once

#include "plexus/servers/builtin.hpp"

#include <CLI/CLI.hpp>

namespace plexus::cli {

struct server_command;
// Adds the `server` subcommand to `app`.
server_command* add_server_command(CLI::App& app);
// Adds the flags of every built-in server's settings (--data-dir, --root, ...) to `app`.
void add_builtin_options(CLI::App& app, servers::builtin_settings& settings);
// Whether the command line chose it.
bool parsed(const server_command& cmd);
// Runs the parsed command; returns the exit code.
int run_server_command(server_command& cmd);

}  // namespace plexus::cli
