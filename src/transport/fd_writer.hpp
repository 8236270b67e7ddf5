// Writes whole newline-terminated messages to a file descriptor; one lock per
// message keeps lines intact when many handlers answer at once.
#pragma once

#include "plexus/server/connection.hpp"

#include <mutex>

namespace plexus::transport {

class fd_writer : public server::outbound {
 public:
  explicit fd_writer(int fd) : fd_(fd) {}
  void send(std::string text) override;
  bool broken() const;

 private:
  int fd_;
  mutable std::mutex mu_;
  bool broken_ = false;
};

}  // namespace plexus::transport
