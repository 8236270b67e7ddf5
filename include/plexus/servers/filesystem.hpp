// The filesystem server: read, write, edit, list and search files under a set
// of allowed root directories, with the tool names and shapes of
// @modelcontextprotocol/server-filesystem, and every file readable as a
// `file://{+path}` resource.
//
// Confinement: every path is walked one component at a time from an open file
// descriptor of its root (openat with O_NOFOLLOW), so `..` above a root,
// absolute paths elsewhere, and symbolic links whose target leaves the roots
// are rejected ("path escapes the allowed roots: …"). Symbolic links whose
// target stays inside the roots are followed (at most 40 per path; more is a
// loop). The final open is again O_NOFOLLOW relative to the directory
// descriptor found by the walk, so a file or directory swapped for a symlink
// after validation is refused instead of followed. Writes replace the file
// atomically (temporary file + rename in the same directory) and refuse files
// with more than one hard link (another link may live outside the roots).
// Thread-safety: as plexus::server::server; handlers share no mutable state.
#pragma once

#include "plexus/server/server.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::servers {

struct filesystem_config {
  // Allowed root directories; each must exist. They are canonicalized (realpath) at start.
  std::vector<std::string> roots;
  std::size_t max_read_bytes = 10 * 1024 * 1024;   // larger files are refused by reads
  std::size_t max_write_bytes = 10 * 1024 * 1024;  // larger contents are refused by writes
  // When set, the tools that change files (write_file, edit_file, create_directory,
  // move_file) are not registered at all.
  bool read_only = false;
  // Testing hook: called with the absolute path after a path has been validated and
  // before the file is opened (lets tests simulate a concurrent symlink swap).
  std::function<void(const std::string& path)> after_resolve;
};

// Registers the filesystem tools and the file:// template on `srv`.
// Throws std::invalid_argument when a root is missing or not a directory.
void register_filesystem(server::server& srv, filesystem_config config);

std::unique_ptr<server::server> make_filesystem_server(filesystem_config config,
                                                       server::server_options options = {});

}  // namespace plexus::servers
