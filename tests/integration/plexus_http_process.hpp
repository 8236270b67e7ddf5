// `plexus everything --http 127.0.0.1:0 ...` as a child process; the port is the
// one the server reports having bound (race-free, unlike probing for a free
// port first).
#pragma once

#include "child_process.hpp"

#include <chrono>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus::testing {

class plexus_http_process {
 public:
  explicit plexus_http_process(std::vector<std::string> extra = {}) {
    using namespace std::chrono_literals;
    std::vector<std::string> argv{PLEXUS_BINARY, "everything", "--http", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<child_process>(std::move(argv));
    static const std::regex ready(R"(serving MCP on https?://127\.0\.0\.1:(\d+)/mcp)");
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      proc_->read_line(20ms);  // pumps stderr too
      std::smatch m;
      const std::string& err = proc_->stderr_text();
      if (std::regex_search(err, m, ready)) {
        port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
        if (port_ == 0) throw std::runtime_error("server reported port 0: " + err);
        return;
      }
      if (!proc_->alive()) throw std::runtime_error("server exited at startup: " + err);
    }
    throw std::runtime_error("server not ready within 10 s: " + proc_->stderr_text());
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/mcp") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  child_process& proc() { return *proc_; }
  bool alive() { return proc_->alive(); }

 private:
  std::unique_ptr<child_process> proc_;
  std::uint16_t port_ = 0;
};

}  // namespace plexus::testing
