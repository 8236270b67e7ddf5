// This process's child processes as /proc shows them, for tests that check what a spawned
// server was given (its pipes, its scheduling policy). Linux only.
#pragma once

#include <sys/types.h>
#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace plexus::testing {

// The fields of /proc/PID/stat after the command name, which may hold spaces: [0] is
// field 3 (the state), [1] the parent; empty when the process is gone.
inline std::vector<std::string> stat_fields(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close_paren = line.rfind(')');
  if (close_paren == std::string::npos) return {};
  std::istringstream fields(line.substr(close_paren + 1));
  return {std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
}

// The child of this process whose command line contains `marker`, or 0 when none shows up
// within a second.
inline pid_t child_with(const std::string& marker) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = static_cast<pid_t>(std::stol(name));
      auto f = stat_fields(pid);
      if (f.size() < 2 || f[1] != std::to_string(::getpid())) continue;
      std::ifstream cmd(e.path() / "cmdline");
      std::string args((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
      if (args.find(marker) != std::string::npos) return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

// The scheduling policy (SCHED_*) of `pid`: field 41 of its stat; -1 when it is gone.
inline int policy_of(pid_t pid) {
  auto f = stat_fields(pid);
  return f.size() > 38 ? std::stoi(f[38]) : -1;
}

}  // namespace plexus::testing
