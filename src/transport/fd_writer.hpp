// Newline-delimited JSON-RPC over file descriptors (stdio, Unix sockets): the writer
// and the read loop both transports share.
#pragma once

#include "plexus/server/connection.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace plexus::transport {

// Writes whole newline-terminated messages to a file descriptor; one lock per
// message keeps lines intact when many handlers answer at once.
//
// The reader batches: while it decodes one read(2)'s worth of lines, what its own
// thread sends (answers of directly dispatched tools, errors, lists) is gathered and
// written with one write(2) when the chunk is done. With 64 calls in flight that is
// one system call instead of 64. Other threads (the handler pool) write at once, so a
// reader blocked on backpressure never holds their answers back.
class fd_writer : public server::outbound {
 public:
  explicit fd_writer(int fd) : fd_(fd) {}
  void send(std::string text) override;
  bool broken() const;

  // Sends from the calling thread are gathered until end_batch().
  void begin_batch();
  void end_batch();

 private:
  // Writes all of `a`, `b` and `c`; marks the writer broken on failure. Called with mu_ held.
  void write_all(std::string_view a, std::string_view b, std::string_view c = {});

  int fd_;
  mutable std::mutex mu_;
  bool broken_ = false;
  std::thread::id batch_owner_;
  std::string batch_;
};

// Reads newline-delimited messages from `in_fd` into `conn` until EOF (returns 0) or
// a read error (returns its errno), batching the answers of each chunk through `out`;
// `read_bytes` at a time.
int pump_lines(int in_fd, server::connection& conn, fd_writer& out, std::size_t max_message_bytes,
               std::size_t read_bytes = 64 * 1024);

}  // namespace plexus::transport
