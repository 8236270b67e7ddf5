#include "init_command.hpp"

#include "plexus/gateway/config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

namespace plexus::cli {

struct init_command {
  CLI::App* app = nullptr;
  std::string config = "plexus.yaml";
  std::string data_dir = "plexus-data";
  bool force = false;
};

init_command* add_init_command(CLI::App& app) {
  static init_command cmd;
  cmd.app = app.add_subcommand(
      "init", "Write a default plexus.yaml mounting every built-in server (for `plexus gateway`)");
  cmd.app->add_option("--config", cmd.config, "The file to write")->capture_default_str();
  cmd.app->add_option("--data-dir", cmd.data_dir, "Where the built-in servers keep their data")
      ->capture_default_str();
  cmd.app->add_flag("--force", cmd.force, "Overwrite the file if it exists");
  return &cmd;
}

bool parsed(const init_command& cmd) {
  return cmd.app && cmd.app->parsed();
}

int run_init_command(init_command& cmd) {
  namespace fs = std::filesystem;
  const std::string text = gateway::default_config_yaml(cmd.data_dir);
  // What we write must load: a bad --data-dir is reported here, not by the gateway.
  try {
    gateway::parse_config(text, cmd.config);
  } catch (const gateway::config_error& e) {
    std::cerr << "plexus init: " << e.what() << std::endl;
    return 1;
  }
  // "x": fail if it exists, atomically, so two runs never clobber each other.
  std::FILE* f = std::fopen(cmd.config.c_str(), cmd.force ? "w" : "wx");
  if (!f) {
    if (errno == EEXIST)
      std::cerr << "plexus init: " << cmd.config << " already exists; use --force to overwrite it"
                << std::endl;
    else
      std::cerr << "plexus init: cannot write " << cmd.config << ": " << std::strerror(errno)
                << std::endl;
    return 1;
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::cerr << "plexus init: cannot write " << cmd.config << std::endl;
    return 1;
  }
  // The filesystem server's root must exist; the other servers create their files.
  std::error_code ec;
  fs::create_directories(fs::path(cmd.data_dir) / "files", ec);
  if (ec) {
    std::cerr << "plexus init: wrote " << cmd.config << " but cannot create " << cmd.data_dir
              << "/files: " << ec.message() << std::endl;
    return 1;
  }
  std::cout << "wrote " << cmd.config << " (data in " << cmd.data_dir << "/)\n"
            << "next: plexus gateway --config " << cmd.config << " --http 127.0.0.1:8080"
            << std::endl;
  return 0;
}

}  // namespace plexus::cli
