// `plexus gateway --config FILE` (federate the upstreams of a config file),
// `plexus gateway --check FILE` (validate it and print the federated tools) and
// `plexus run` (the gateway with every built-in server mounted, data under one
// directory: the main job).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

namespace plexus::cli {

class gateway_commands {
 public:
  explicit gateway_commands(CLI::App& app);
  ~gateway_commands();
  bool parsed() const;
  int run();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

}  // namespace plexus::cli
