// The client side of the `plexus` command: tools, call, resources, read,
// prompts and prompt against any MCP server, given as a URL (Streamable HTTP,
// either era) or as a command to spawn over stdio (everything after `--`).
//
// Exit codes: 0 ok, 1 the tool reported an error (isError), 2 usage,
// 3 connection or protocol error (the message says what the server did).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace plexus::cli {

// argv made ready for CLI11: when the subcommand is a client command, the
// server command after the first `--` is cut off (returned in `server_command`)
// and `call … --json '{…}'` (a JSON object right after --json) becomes
// `--args '{…}'`, so that a bare `--json` keeps meaning "machine output".
struct prepared_args {
  std::vector<std::string> args;  // argv[0] included
  std::vector<std::string> server_command;
  bool has_server_command = false;
  bool client_command = false;  // the subcommand is one of the client commands
};
prepared_args prepare_args(int argc, char** argv);

class client_commands {
 public:
  // Registers the client subcommands on `app`.
  explicit client_commands(CLI::App& app);
  ~client_commands();
  client_commands(const client_commands&) = delete;
  client_commands& operator=(const client_commands&) = delete;

  void set_server_command(std::vector<std::string> command, bool given);
  // Whether one of the client subcommands was chosen.
  bool parsed() const;
  // Runs the chosen subcommand; the process exit code.
  int run();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

}  // namespace plexus::cli
