// `plexus init [--config plexus.yaml] [--data-dir DIR] [--force]`: writes the
// default gateway configuration (gateway::default_config_yaml) and creates the data
// folders it refers to. Refuses to overwrite an existing file without --force.
#pragma once

#include <CLI/CLI.hpp>

namespace plexus::cli {

struct init_command;
// Adds the `init` subcommand to `app`.
init_command* add_init_command(CLI::App& app);
// Whether the command line chose it.
bool parsed(const init_command& cmd);
// Runs the parsed command; returns the exit code (0 written, 1 refused or failed).
int run_init_command(init_command& cmd);

}  // namespace plexus::cli
