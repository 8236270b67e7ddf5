#include "plexus/servers/filesystem.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/server/typed_tool.hpp"

#include <boost/describe.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <optional>
#include <stdexcept>

namespace plexus::servers {

namespace {

using namespace plexus::server;
namespace content = protocol::content;

// ---- file descriptors --------------------------------------------------------------

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~unique_fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string errno_text(int e) {
  return std::strerror(e);
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    auto c = p.substr(i, j - i);
    if (!c.empty() && c != ".") out.emplace_back(c);
    i = j + 1;
  }
  return out;
}

struct root_dir {
  std::string path;                     // canonical absolute path
  std::vector<std::string> components;  // of `path`
  unique_fd fd;                         // O_PATH | O_DIRECTORY
};

// Where a path leads: the directory holding its final component, and that component.
struct resolved {
  unique_fd parent;
  std::string name;     // final component; "." when the path is a root itself
  std::string display;  // absolute path (for messages and results)
  bool is_root = false;
};

constexpr int max_symlinks = 40;

// ---- glob ---------------------------------------------------------------------------

bool glob_match(std::string_view p, std::string_view s) {
  if (p.empty()) return s.empty();
  if (p.starts_with("**")) {
    auto rest = p.substr(2);
    if (rest.starts_with("/")) {
      // "**/" matches zero or more whole directories.
      if (glob_match(rest.substr(1), s)) return true;
    }
    for (std::size_t i = 0; i <= s.size(); ++i)
      if (glob_match(rest, s.substr(i))) return true;
    return false;
  }
  if (p[0] == '*') {
    for (std::size_t i = 0; i <= s.size(); ++i) {
      if (glob_match(p.substr(1), s.substr(i))) return true;
      if (i < s.size() && s[i] == '/') break;
    }
    return false;
  }
  if (s.empty()) return false;
  if (p[0] == '?') return s[0] != '/' && glob_match(p.substr(1), s.substr(1));
  if (p[0] == '[') {
    auto close = p.find(']', 2);
    if (close != std::string_view::npos) {
      auto set = p.substr(1, close - 1);
      bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
      if (negate) set.remove_prefix(1);
      bool hit = false;
      for (std::size_t i = 0; i < set.size(); ++i) {
        if (i + 2 < set.size() && set[i + 1] == '-') {
          if (s[0] >= set[i] && s[0] <= set[i + 2]) hit = true;
          i += 2;
        } else if (set[i] == s[0]) {
          hit = true;
        }
      }
      if (hit == negate || s[0] == '/') return false;
      return glob_match(p.substr(close + 1), s.substr(1));
    }
  }
  if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);
  return p[0] == s[0] && glob_match(p.substr(1), s.substr(1));
}

// A pattern without '/' matches the base name; otherwise the path relative to the search root.
bool pattern_matches(const std::string& pattern, const std::string& relative,
                     const std::string& base) {
  if (pattern.find('/') == std::string::npos) return glob_match(pattern, base);
  return glob_match(pattern, relative);
}

// ---- mime types ---------------------------------------------------------------------

std::string extension_of(const std::string& name) {
  auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return {};
  std::string ext = name.substr(dot + 1);
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

std::string mime_of(const std::string& name) {
  static const std::vector<std::pair<std::string, std::string>> table{
      {"png", "image/png"},        {"jpg", "image/jpeg"},     {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},        {"webp", "image/webp"},    {"bmp", "image/bmp"},
      {"svg", "image/svg+xml"},    {"mp3", "audio/mpeg"},     {"wav", "audio/wav"},
      {"ogg", "audio/ogg"},        {"flac", "audio/flac"},    {"m4a", "audio/mp4"},
      {"txt", "text/plain"},       {"md", "text/markdown"},   {"html", "text/html"},
      {"css", "text/css"},         {"csv", "text/csv"},       {"json", "application/json"},
      {"xml", "application/xml"},  {"js", "text/javascript"}, {"pdf", "application/pdf"},
      {"yaml", "application/yaml"}};
  auto ext = extension_of(name);
  for (const auto& [e, m] : table)
    if (e == ext) return m;
  return "application/octet-stream";
}

bool valid_utf8_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    std::size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (n == 9 || i + n >= s.size() + (n == 0 ? 1 : 0)) return false;
    for (std::size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n + 1;
  }
  return true;
}

std::string iso_time(const struct statx_timestamp& t) {
  std::time_t secs = static_cast<std::time_t>(t.tv_sec);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t.tv_nsec / 1000000u);
  return buf;
}

// ---- unified diff ---------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto j = s.find('\n', i);
    if (j == std::string::npos) {
      out.push_back(s.substr(i));
      break;
    }
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// A unified diff (3 lines of context) of two texts, in the shape of jsdiff's createTwoFilesPatch.
std::string unified_diff(const std::string& path, const std::string& a_text,
                         const std::string& b_text) {
  auto a = lines_of(a_text), b = lines_of(b_text);
  // Edit script: ' ' keep, '-' delete, '+' insert.
  std::vector<std::pair<char, std::string>> ops;
  std::size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  std::size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre &&
         a[a.size() - 1 - suf] == b[b.size() - 1 - suf])
    ++suf;
  for (std::size_t i = 0; i < pre; ++i) ops.emplace_back(' ', a[i]);
  std::size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  if (n * m <= 4'000'000) {
    std::vector<std::vector<std::uint32_t>> L(n + 1, std::vector<std::uint32_t>(m + 1, 0));
    for (std::size_t i = n; i-- > 0;)
      for (std::size_t j = m; j-- > 0;)
        L[i][j] =
            a[pre + i] == b[pre + j] ? L[i + 1][j + 1] + 1 : std::max(L[i + 1][j], L[i][j + 1]);
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[pre + i] == b[pre + j]) {
        ops.emplace_back(' ', a[pre + i]);
        ++i, ++j;
      } else if (i < n && (j == m || L[i + 1][j] >= L[i][j + 1])) {
        ops.emplace_back('-', a[pre + i++]);
      } else {
        ops.emplace_back('+', b[pre + j++]);
      }
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) ops.emplace_back('-', a[pre + i]);
    for (std::size_t j = 0; j < m; ++j) ops.emplace_back('+', b[pre + j]);
  }
  for (std::size_t i = a.size() - suf; i < a.size(); ++i) ops.emplace_back(' ', a[i]);

  std::string out = "Index: " + path + "\n" + std::string(67, '=') + "\n--- " + path +
                    "\toriginal\n+++ " + path + "\tmodified\n";
  constexpr std::size_t ctx = 3;
  std::size_t k = 0;
  while (k < ops.size()) {
    while (k < ops.size() && ops[k].first == ' ') ++k;
    if (k == ops.size()) break;
    std::size_t start = k >= ctx ? k - ctx : 0;
    // Extend the hunk while changes are within 2*ctx lines of each other.
    std::size_t end = k;
    while (true) {
      while (end < ops.size() && ops[end].first != ' ') ++end;
      std::size_t gap = end;
      while (gap < ops.size() && ops[gap].first == ' ') ++gap;
      if (gap < ops.size() && gap - end <= 2 * ctx) {
        end = gap;
        continue;
      }
      end = std::min(ops.size(), end + ctx);
      break;
    }
    // Line numbers of the hunk start.
    std::size_t a_line = 1, b_line = 1;
    for (std::size_t x = 0; x < start; ++x) {
      if (ops[x].first != '+') ++a_line;
      if (ops[x].first != '-') ++b_line;
    }
    std::size_t a_count = 0, b_count = 0;
    std::string body;
    for (std::size_t x = start; x < end; ++x) {
      if (ops[x].first != '+') ++a_count;
      if (ops[x].first != '-') ++b_count;
      body += ops[x].first;
      body += ops[x].second;
      body += '\n';
    }
    if (a_count == 0) --a_line;
    if (b_count == 0) --b_line;
    out += "@@ -" + std::to_string(a_line) + "," + std::to_string(a_count) + " +" +
           std::to_string(b_line) + "," + std::to_string(b_count) + " @@\n" + body;
    k = end;
  }
  return out;
}

// ---- argument and result types ------------------------------------------------------

struct read_text_args {
  std::string path;
  std::optional<std::int64_t> head;
  std::optional<std::int64_t> tail;
};
BOOST_DESCRIBE_STRUCT(read_text_args, (), (path, head, tail))

struct path_args {
  std::string path;
};
BOOST_DESCRIBE_STRUCT(path_args, (), (path))

struct paths_args {
  std::vector<std::string> paths;
};
BOOST_DESCRIBE_STRUCT(paths_args, (), (paths))

struct write_args {
  std::string path;
  std::string content;
};
BOOST_DESCRIBE_STRUCT(write_args, (), (path, content))

struct edit_operation {
  std::string oldText;
  std::string newText;
};
BOOST_DESCRIBE_STRUCT(edit_operation, (), (oldText, newText))

struct edit_args {
  std::string path;
  std::vector<edit_operation> edits;
  std::optional<bool> dryRun;
};
BOOST_DESCRIBE_STRUCT(edit_args, (), (path, edits, dryRun))

struct tree_args {
  std::string path;
  std::optional<std::vector<std::string>> excludePatterns;
};
BOOST_DESCRIBE_STRUCT(tree_args, (), (path, excludePatterns))

struct move_args {
  std::string source;
  std::string destination;
};
BOOST_DESCRIBE_STRUCT(move_args, (), (source, destination))

struct search_args {
  std::string path;
  std::string pattern;
  std::optional<std::vector<std::string>> excludePatterns;
};
BOOST_DESCRIBE_STRUCT(search_args, (), (path, pattern, excludePatterns))

struct health_result {
  std::string status;
  std::vector<std::string> roots;
  bool readOnly;
  std::uint64_t maxReadBytes;
  std::uint64_t maxWriteBytes;
};
BOOST_DESCRIBE_STRUCT(health_result, (), (status, roots, readOnly, maxReadBytes, maxWriteBytes))

// ---- the confined file system --------------------------------------------------------

class sandbox {
 public:
  explicit sandbox(filesystem_config cfg) : cfg_(std::move(cfg)) {
    if (cfg_.roots.empty()) throw std::invalid_argument("filesystem server: no roots configured");
    for (const auto& r : cfg_.roots) {
      char* real = ::realpath(r.c_str(), nullptr);
      if (!real)
        throw std::invalid_argument("filesystem server: root " + r + ": " + errno_text(errno));
      root_dir d;
      d.path = real;
      std::free(real);
      d.components = split_path(d.path);
      d.fd = unique_fd(::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!d.fd)
        throw std::invalid_argument("filesystem server: root " + r +
                                    " is not a directory: " + errno_text(errno));
      roots_.push_back(std::move(d));
    }
  }

  const filesystem_config& config() const { return cfg_; }
  std::vector<std::string> root_paths() const {
    std::vector<std::string> out;
    for (const auto& r : roots_) out.push_back(r.path);
    return out;
  }

  // Resolves `path` inside the roots. Symlinks in directories (and in the final component
  // when `follow_last`) are followed while their targets stay inside the roots.
  resolved resolve(std::string_view path, bool follow_last = true, bool make_dirs = false) const {
    if (path.empty()) throw tool_error("path must not be empty");
    if (path.find('\0') != std::string_view::npos) throw tool_error("path contains a NUL byte");
    std::string shown(path);
    if (make_dirs) check_lexically(path);
    std::size_t root = 0;
    std::deque<std::string> remaining;
    auto start_at = [&](std::string_view p) {
      remaining.clear();
      if (!p.starts_with('/')) {
        for (auto& c : split_path(p)) remaining.push_back(std::move(c));
        return;
      }
      auto comps = split_path(p);
      std::optional<std::size_t> best;
      for (std::size_t i = 0; i < roots_.size(); ++i) {
        const auto& rc = roots_[i].components;
        if (rc.size() <= comps.size() && std::equal(rc.begin(), rc.end(), comps.begin()) &&
            (!best || rc.size() > roots_[*best].components.size()))
          best = i;
      }
      if (!best) throw tool_error("path escapes the allowed roots: " + shown);
      root = *best;
      for (std::size_t i = roots_[root].components.size(); i < comps.size(); ++i)
        remaining.push_back(comps[i]);
    };
    start_at(path);

    std::vector<unique_fd> stack;  // directories below the root
    std::vector<std::string> names;
    auto current = [&] { return stack.empty() ? roots_[root].fd.get() : stack.back().get(); };
    auto display = [&](const std::string& last) {
      std::string d = roots_[root].path;
      for (const auto& n : names) d += (d == "/" ? "" : "/") + n;
      if (!last.empty() && last != ".") d += (d == "/" ? "" : "/") + last;
      return d;
    };
    int links = 0;
    auto follow = [&](const std::string& target) {
      if (++links > max_symlinks) throw tool_error("too many levels of symbolic links: " + shown);
      if (target.starts_with('/')) {
        std::deque<std::string> rest = std::move(remaining);
        start_at(target);
        stack.clear();
        names.clear();
        for (auto& r : rest) remaining.push_back(std::move(r));
      } else {
        auto comps = split_path(target);
        for (auto it = comps.rbegin(); it != comps.rend(); ++it) remaining.push_front(*it);
      }
    };

    while (!remaining.empty()) {
      std::string c = std::move(remaining.front());
      remaining.pop_front();
      if (c == "..") {
        if (stack.empty()) throw tool_error("path escapes the allowed roots: " + shown);
        stack.pop_back();
        names.pop_back();
        continue;
      }
      bool last = remaining.empty();
      if (last) {
        struct stat st {};
        if (::fstatat(current(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
            follow_last) {
          follow(read_link(current(), c, shown));
          continue;
        }
        resolved r;
        r.name = c;
        r.display = display(c);
        r.parent = unique_fd(::fcntl(current(), F_DUPFD_CLOEXEC, 0));
        if (cfg_.after_resolve) cfg_.after_resolve(r.display);
        return r;
      }
      unique_fd fd(::openat(current(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!fd && errno == ENOENT && make_dirs) {
        if (::mkdirat(current(), c.c_str(), 0755) != 0 && errno != EEXIST)
          throw tool_error(errno_text(errno) + ": " + display(c));
        fd = unique_fd(::openat(current(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      }
      if (!fd) {
        int e = errno;
        throw tool_error((e == ENOENT ? "no such file or directory: " : errno_text(e) + ": ") +
                         display(c));
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) throw tool_error(errno_text(errno) + ": " + display(c));
      if (S_ISLNK(st.st_mode)) {
        follow(read_link(fd.get(), "", shown));
        continue;
      }
      if (!S_ISDIR(st.st_mode)) throw tool_error("not a directory: " + display(c));
      stack.push_back(std::move(fd));
      names.push_back(c);
    }
    // The path names a directory reached by the walk (or a root).
    resolved r;
    r.display = display("");
    if (stack.empty()) {
      r.name = ".";
      r.is_root = true;
      r.parent = unique_fd(::fcntl(roots_[root].fd.get(), F_DUPFD_CLOEXEC, 0));
    } else {
      r.name = names.back();
      stack.pop_back();
      names.pop_back();
      r.parent = unique_fd(::fcntl(current(), F_DUPFD_CLOEXEC, 0));
    }
    if (cfg_.after_resolve) cfg_.after_resolve(r.display);
    return r;
  }

  // Opens a resolved path (final component not followed: a symlink now is a swap).
  unique_fd open(const resolved& r, int flags) const {
    unique_fd fd(::openat(r.parent.get(), r.name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      int e = errno;
      if (e == ENOENT) throw tool_error("no such file or directory: " + r.display);
      if (e == ENOTDIR) throw tool_error("not a directory: " + r.display);
      if (e == ELOOP)
        throw tool_error("refusing to follow a symbolic link (it changed during the operation): " +
                         r.display);
      throw tool_error(errno_text(e) + ": " + r.display);
    }
    return fd;
  }

  std::string read_file(const resolved& r) const {
    auto fd = open(r, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw tool_error(errno_text(errno) + ": " + r.display);
    if (S_ISDIR(st.st_mode)) throw tool_error("is a directory: " + r.display);
    if (!S_ISREG(st.st_mode)) throw tool_error("not a regular file: " + r.display);
    if (static_cast<std::uint64_t>(st.st_size) > cfg_.max_read_bytes)
      throw tool_error("file too large: " + r.display + " is " + std::to_string(st.st_size) +
                       " bytes; the read limit is " + std::to_string(cfg_.max_read_bytes) +
                       " bytes");
    std::string data;
    char buf[65536];
    while (true) {
      auto n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw tool_error(errno_text(errno) + ": " + r.display);
      }
      if (n == 0) break;
      data.append(buf, static_cast<std::size_t>(n));
      if (data.size() > cfg_.max_read_bytes)
        throw tool_error("file too large: " + r.display + " grew beyond the read limit of " +
                         std::to_string(cfg_.max_read_bytes) + " bytes");
    }
    return data;
  }

  // Replaces the file atomically (temporary file + rename in the same directory).
  void write_file(const resolved& r, std::string_view data) const {
    if (data.size() > cfg_.max_write_bytes)
      throw tool_error("content too large: " + std::to_string(data.size()) +
                       " bytes; the write limit is " + std::to_string(cfg_.max_write_bytes) +
                       " bytes");
    if (r.is_root) throw tool_error("is a directory: " + r.display);
    mode_t mode = 0644;
    struct stat st {};
    if (::fstatat(r.parent.get(), r.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) throw tool_error("is a directory: " + r.display);
      if (S_ISLNK(st.st_mode))
        throw tool_error("refusing to follow a symbolic link (it changed during the operation): " +
                         r.display);
      if (!S_ISREG(st.st_mode)) throw tool_error("not a regular file: " + r.display);
      if (st.st_nlink > 1)
        throw tool_error(
            "refusing to write a file with " + std::to_string(st.st_nlink) +
            " hard links (another link may be outside the allowed roots): " + r.display);
      mode = st.st_mode & 07777;
    }
    static std::atomic<std::uint64_t> counter{0};
    std::string tmp = "." + r.name.substr(0, 100) + ".plexus-" + std::to_string(::getpid()) + "-" +
                      std::to_string(counter++) + ".tmp";
    unique_fd fd(::openat(r.parent.get(), tmp.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) throw tool_error(errno_text(errno) + ": " + r.display);
    auto fail = [&](int e) {
      ::unlinkat(r.parent.get(), tmp.c_str(), 0);
      throw tool_error(errno_text(e) + ": " + r.display);
    };
    std::size_t off = 0;
    while (off < data.size()) {
      auto n = ::write(fd.get(), data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(errno);
      }
      off += static_cast<std::size_t>(n);
    }
    ::fchmod(fd.get(), mode);
    if (::fsync(fd.get()) != 0) fail(errno);
    fd.reset();
    if (::renameat(r.parent.get(), tmp.c_str(), r.parent.get(), r.name.c_str()) != 0) fail(errno);
  }

  unique_fd open_directory(const resolved& r) const { return open(r, O_RDONLY | O_DIRECTORY); }

 private:
  // Refuses, before touching anything, a path whose `..` climb above its root as written.
  void check_lexically(std::string_view path) const {
    auto comps = split_path(path);
    std::size_t skip = 0;
    if (path.starts_with('/')) {
      bool inside = false;
      for (const auto& r : roots_)
        if (r.components.size() <= comps.size() &&
            std::equal(r.components.begin(), r.components.end(), comps.begin())) {
          inside = true;
          skip = std::max(skip, r.components.size());
        }
      if (!inside) throw tool_error("path escapes the allowed roots: " + std::string(path));
    }
    std::ptrdiff_t depth = 0;
    for (std::size_t i = skip; i < comps.size(); ++i)
      if ((depth += comps[i] == ".." ? -1 : 1) < 0)
        throw tool_error("path escapes the allowed roots: " + std::string(path));
  }

  static std::string read_link(int dirfd, const std::string& name, const std::string& shown) {
    char buf[4096];
    auto n = ::readlinkat(dirfd, name.c_str(), buf, sizeof buf);
    if (n < 0) throw tool_error(errno_text(errno) + ": " + shown);
    return std::string(buf, static_cast<std::size_t>(n));
  }

  filesystem_config cfg_;
  std::vector<root_dir> roots_;
};

struct dir_entry {
  std::string name;
  unsigned char type;  // DT_DIR, DT_REG, DT_LNK, ...
};

// The entries of an open directory (without . and ..), sorted by name.
std::vector<dir_entry> entries_of(int dirfd, const std::string& shown) {
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) throw tool_error(errno_text(errno) + ": " + shown);
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    throw tool_error(errno_text(errno) + ": " + shown);
  }
  std::vector<dir_entry> out;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    unsigned char t = e->d_type;
    if (t == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
    }
    out.push_back({std::move(n), t});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

constexpr std::size_t max_walk_entries = 100'000;

bool excluded(const std::vector<std::string>& patterns, const std::string& rel,
              const std::string& base) {
  for (const auto& p : patterns)
    if (pattern_matches(p, rel, base)) return true;
  return false;
}

// Recursion over real directories only (symlinks are reported, never followed).
json::array tree_of(int dirfd, const std::string& shown, const std::string& rel,
                    const std::vector<std::string>& exclude, std::size_t& budget) {
  json::array out;
  for (auto& e : entries_of(dirfd, shown)) {
    std::string r = rel.empty() ? e.name : rel + "/" + e.name;
    if (excluded(exclude, r, e.name)) continue;
    if (budget-- == 0) throw tool_error("directory tree too large (more than 100000 entries)");
    json::object node{{"name", e.name}, {"type", e.type == DT_DIR ? "directory" : "file"}};
    if (e.type == DT_DIR) {
      unique_fd sub(
          ::openat(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub)
        node["children"] = tree_of(sub.get(), shown + "/" + e.name, r, exclude, budget);
      else
        node["children"] = json::array{};
    }
    out.push_back(std::move(node));
  }
  return out;
}

void search_in(int dirfd, const std::string& shown, const std::string& rel,
               const std::string& pattern, const std::vector<std::string>& exclude,
               std::vector<std::string>& hits, std::size_t& budget) {
  for (auto& e : entries_of(dirfd, shown)) {
    std::string r = rel.empty() ? e.name : rel + "/" + e.name;
    if (excluded(exclude, r, e.name)) continue;
    if (budget-- == 0) throw tool_error("search visited more than 100000 entries; narrow it");
    std::string full = shown == "/" ? "/" + e.name : shown + "/" + e.name;
    if (pattern_matches(pattern, r, e.name)) hits.push_back(full);
    if (e.type == DT_DIR) {
      unique_fd sub(
          ::openat(dirfd, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) search_in(sub.get(), full, r, pattern, exclude, hits, budget);
    }
  }
}

std::string select_lines(const std::string& text, std::optional<std::int64_t> head,
                         std::optional<std::int64_t> tail) {
  if (head && tail) throw tool_error("Cannot specify both head and tail parameters simultaneously");
  auto lines = lines_of(text);
  std::int64_t n = head ? *head : *tail;
  if (n < 0) throw tool_error(std::string(head ? "head" : "tail") + " must not be negative");
  std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(n), lines.size());
  std::size_t from = head ? 0 : lines.size() - count;
  std::string out;
  for (std::size_t i = from; i < from + count; ++i) {
    if (i != from) out += '\n';
    out += lines[i];
  }
  return out;
}

std::size_t count_occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = hay.find(needle); pos != std::string::npos;
       pos = hay.find(needle, pos + needle.size()))
    ++n;
  return n;
}

protocol::tool_annotations reading() {
  return {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
}

void register_tools(server::server& srv, std::shared_ptr<const sandbox> box) {
  const auto& cfg = box->config();
  add_tool(
      srv, "read_text_file",
      "Read a file as text (UTF-8). head/tail return only the first/last N lines. Only works "
      "within the allowed directories.",
      [box](const read_text_args& a) {
        auto r = box->resolve(a.path);
        auto data = box->read_file(r);
        if (a.head || a.tail) return select_lines(data, a.head, a.tail);
        return data;
      },
      {.annotations = reading(),
       .fields = {{"path", {{"description", "Path of the file"}}},
                  {"head", {{"description", "Return only the first N lines"}, {"minimum", 0}}},
                  {"tail", {{"description", "Return only the last N lines"}, {"minimum", 0}}}}});

  add_tool(srv, "read_media_file",
           "Read an image or audio file; returns base64 data with the MIME type of its extension",
           [box](const path_args& a) {
             auto r = box->resolve(a.path);
             auto data = box->read_file(r);
             auto mime = mime_of(r.name);
             tool_result out;
             if (mime.starts_with("image/"))
               out.add(content::image(base64::encode(data), mime));
             else if (mime.starts_with("audio/"))
               out.add(content::audio(base64::encode(data), mime));
             else
               out.add(content::embedded_blob("file://" + r.display, base64::encode(data), mime));
             return out;
           },
           {.annotations = reading(), .fields = {{"path", {{"description", "Path of the file"}}}}});

  add_tool(srv, "read_multiple_files",
           "Read several files at once; each is shown as `path:` and its content, separated by "
           "`---`. A file that cannot be read shows its error without failing the others.",
           [box](const paths_args& a) {
             if (a.paths.empty()) throw tool_error("paths must not be empty");
             std::string out;
             for (std::size_t i = 0; i < a.paths.size(); ++i) {
               if (i) out += "\n---\n";
               try {
                 auto r = box->resolve(a.paths[i]);
                 out += a.paths[i] + ":\n" + box->read_file(r) + "\n";
               } catch (const tool_error& e) {
                 out += a.paths[i] + ": Error - " + e.what();
               }
             }
             return out;
           },
           {.annotations = reading(),
            .fields = {{"paths", {{"description", "Paths of the files"}, {"minItems", 1}}}}});

  if (!cfg.read_only) {
    add_tool(
        srv, "write_file",
        "Create a file or replace its content entirely (atomically). Files with several hard "
        "links are refused.",
        [box](const write_args& a) {
          auto r = box->resolve(a.path);
          box->write_file(r, a.content);
          return "Successfully wrote to " + a.path;
        },
        {.annotations =
             protocol::tool_annotations{
                 .read_only = false, .destructive = true, .idempotent = true, .open_world = false},
         .fields = {{"path", {{"description", "Path of the file"}}},
                    {"content", {{"description", "The new content"}}}}});

    add_tool(
        srv, "edit_file",
        "Replace exact text in a file: each oldText must occur exactly once. Edits apply in "
        "order; returns a unified diff. dryRun previews without writing.",
        [box](const edit_args& a) {
          if (a.edits.empty()) throw tool_error("edits must not be empty");
          auto r = box->resolve(a.path);
          auto original = box->read_file(r);
          std::string text = original;
          for (std::size_t i = 0; i < a.edits.size(); ++i) {
            const auto& e = a.edits[i];
            if (e.oldText.empty())
              throw tool_error("edit " + std::to_string(i + 1) + ": oldText must not be empty");
            auto n = count_occurrences(text, e.oldText);
            if (n == 0)
              throw tool_error("edit " + std::to_string(i + 1) + ": oldText not found in " +
                               a.path + ": " + e.oldText);
            if (n > 1)
              throw tool_error("edit " + std::to_string(i + 1) + ": oldText matches " +
                               std::to_string(n) + " times in " + a.path +
                               "; include more context to make it unique");
            text.replace(text.find(e.oldText), e.oldText.size(), e.newText);
          }
          auto diff = unified_diff(a.path, original, text);
          if (!a.dryRun.value_or(false)) box->write_file(r, text);
          return "```diff\n" + diff + "```\n\n";
        },
        {.annotations =
             protocol::tool_annotations{
                 .read_only = false, .destructive = true, .idempotent = false, .open_world = false},
         .fields = {{"path", {{"description", "Path of the file"}}},
                    {"edits", {{"description", "Replacements, applied in order"}}},
                    {"edits/*/oldText", {{"description", "Exact text to replace (unique)"}}},
                    {"edits/*/newText", {{"description", "Replacement text"}}},
                    {"dryRun", {{"description", "Preview the diff without writing"}}}}});

    add_tool(
        srv, "create_directory",
        "Create a directory and any missing parents; succeeds if it already exists",
        [box](const path_args& a) {
          // Missing parents are created by the walk itself (mkdirat + openat O_NOFOLLOW).
          auto r = box->resolve(a.path, true, true);
          if (!r.is_root) {
            if (::mkdirat(r.parent.get(), r.name.c_str(), 0755) != 0 && errno != EEXIST)
              throw tool_error(errno_text(errno) + ": " + r.display);
            struct stat st {};
            if (::fstatat(r.parent.get(), r.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISDIR(st.st_mode))
              throw tool_error("not a directory: " + r.display);
          }
          return "Successfully created directory " + a.path;
        },
        {.annotations =
             protocol::tool_annotations{
                 .read_only = false, .destructive = false, .idempotent = true, .open_world = false},
         .fields = {{"path", {{"description", "Path of the directory"}}}}});

    add_tool(
        srv, "move_file", "Move or rename a file or directory; fails if the destination exists",
        [box](const move_args& a) {
          auto from = box->resolve(a.source, false);
          auto to = box->resolve(a.destination, false);
          if (from.is_root) throw tool_error("cannot move an allowed root: " + from.display);
          if (to.is_root) throw tool_error("destination exists: " + to.display);
          if (::renameat2(from.parent.get(), from.name.c_str(), to.parent.get(), to.name.c_str(),
                          RENAME_NOREPLACE) != 0) {
            int e = errno;
            if (e == EEXIST) throw tool_error("destination exists: " + to.display);
            if (e == ENOENT) throw tool_error("no such file or directory: " + from.display);
            throw tool_error(errno_text(e) + ": " + from.display + " -> " + to.display);
          }
          return "Successfully moved " + a.source + " to " + a.destination;
        },
        {.annotations =
             protocol::tool_annotations{
                 .read_only = false, .destructive = true, .idempotent = false, .open_world = false},
         .fields = {{"source", {{"description", "Path to move"}}},
                    {"destination", {{"description", "New path (must not exist)"}}}}});
  }

  add_tool(
      srv, "list_directory",
      "List a directory: one line per entry, [DIR] or [FILE] then the name, sorted by name",
      [box](const path_args& a) {
        auto r = box->resolve(a.path);
        auto dir = box->open_directory(r);
        std::string out;
        for (auto& e : entries_of(dir.get(), r.display)) {
          if (!out.empty()) out += '\n';
          out += (e.type == DT_DIR ? "[DIR] " : "[FILE] ") + e.name;
        }
        return out;
      },
      {.annotations = reading(), .fields = {{"path", {{"description", "Path of the directory"}}}}});

  add_tool(
      srv, "directory_tree",
      "Recursive tree of a directory as JSON: [{name, type: file|directory, children}]. "
      "Symbolic links are listed as files and not followed.",
      [box](const tree_args& a) {
        auto r = box->resolve(a.path);
        auto dir = box->open_directory(r);
        std::size_t budget = max_walk_entries;
        return json::dump(tree_of(dir.get(), r.display, "",
                                  a.excludePatterns.value_or(std::vector<std::string>{}), budget));
      },
      {.annotations = reading(),
       .fields = {{"path", {{"description", "Path of the directory"}}},
                  {"excludePatterns", {{"description", "Glob patterns to leave out"}}}}});

  add_tool(srv, "search_files",
           "Find files and directories whose name (pattern without '/') or relative path (pattern "
           "with '/') matches a glob (*, **, ?, [..]); returns full paths, one a line",
           [box](const search_args& a) {
             if (a.pattern.empty()) throw tool_error("pattern must not be empty");
             auto r = box->resolve(a.path);
             auto dir = box->open_directory(r);
             std::vector<std::string> hits;
             std::size_t budget = max_walk_entries;
             search_in(dir.get(), r.display, "", a.pattern,
                       a.excludePatterns.value_or(std::vector<std::string>{}), hits, budget);
             if (hits.empty()) return std::string("No matches found");
             std::string out;
             for (auto& h : hits) out += (out.empty() ? "" : "\n") + h;
             return out;
           },
           {.annotations = reading(),
            .fields = {{"path", {{"description", "Directory to search in"}}},
                       {"pattern", {{"description", "Glob pattern"}}},
                       {"excludePatterns", {{"description", "Glob patterns to leave out"}}}}});

  add_tool(
      srv, "get_file_info", "Metadata of a file or directory: size, times, type and permissions",
      [box](const path_args& a) {
        auto r = box->resolve(a.path);
        auto fd = box->open(r, O_PATH);
        struct statx sx {};
        if (::statx(fd.get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
                    STATX_BASIC_STATS | STATX_BTIME, &sx) != 0)
          throw tool_error(errno_text(errno) + ": " + r.display);
        char perms[8];
        std::snprintf(perms, sizeof perms, "%03o", sx.stx_mode & 0777u);
        std::string out = "size: " + std::to_string(sx.stx_size) + "\n";
        out +=
            "created: " + ((sx.stx_mask & STATX_BTIME) ? iso_time(sx.stx_btime) : "unknown") + "\n";
        out += "modified: " + iso_time(sx.stx_mtime) + "\n";
        out += "accessed: " + iso_time(sx.stx_atime) + "\n";
        out += std::string("isDirectory: ") + (S_ISDIR(sx.stx_mode) ? "true" : "false") + "\n";
        out += std::string("isFile: ") + (S_ISREG(sx.stx_mode) ? "true" : "false") + "\n";
        out += "permissions: " + std::string(perms);
        return out;
      },
      {.annotations = reading(), .fields = {{"path", {{"description", "Path"}}}}});

  add_tool(srv, "list_allowed_directories", "The directories this server may access",
           [box]() {
             std::string out = "Allowed directories:";
             for (auto& p : box->root_paths()) out += "\n" + p;
             return out;
           },
           {.annotations = reading()});

  add_tool(srv, "health", "Liveness and configuration of the filesystem server",
           [box]() {
             const auto& c = box->config();
             bool ok = true;
             for (auto& p : box->root_paths()) {
               struct stat st {};
               if (::stat(p.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) ok = false;
             }
             return health_result{ok ? "ok" : "degraded", box->root_paths(), c.read_only,
                                  c.max_read_bytes, c.max_write_bytes};
           },
           {.annotations = reading()});
}

void register_template(server::server& srv, std::shared_ptr<const sandbox> box) {
  protocol::resource_template t;
  t.uri_template = "file://{+path}";
  t.name = "file";
  t.title = "Files";
  t.description = "Any file inside the allowed directories (text, or base64 blob when binary)";
  srv.add_resource_template(
      t,
      [box](context&, const std::string& uri, const std::map<std::string, std::string>& vars)
          -> std::optional<std::vector<protocol::resource_contents>> {
        auto it = vars.find("path");
        if (it == vars.end() || it->second.empty()) return std::nullopt;
        std::string data, name;
        try {
          auto r = box->resolve(it->second);
          data = box->read_file(r);
          name = r.name;
        } catch (const tool_error& e) {
          std::string_view m = e.what();
          if (m.starts_with("no such file") || m.starts_with("path escapes") ||
              m.starts_with("not a directory"))
            return std::nullopt;
          throw protocol_error(-32603, e.what(), json::object{{"uri", uri}});
        }
        auto mime = mime_of(name);
        bool textual = mime.starts_with("text/") || mime == "application/json" ||
                       mime == "application/xml" || mime == "application/yaml" ||
                       mime == "image/svg+xml";
        if (mime == "application/octet-stream" && valid_utf8_text(data)) {
          mime = "text/plain";
          textual = true;
        }
        if (textual && valid_utf8_text(data))
          return std::vector{protocol::resource_contents::of_text(uri, std::move(data), mime)};
        return std::vector{protocol::resource_contents::of_blob(uri, base64::encode(data), mime)};
      });
}

}  // namespace

void register_filesystem(server::server& srv, filesystem_config config) {
  auto box = std::make_shared<const sandbox>(std::move(config));
  register_tools(srv, box);
  register_template(srv, box);
}

std::unique_ptr<server::server> make_filesystem_server(filesystem_config config,
                                                       server::server_options options) {
  if (!options.instructions)
    options.instructions =
        "Files under the allowed directories (list_allowed_directories). Paths may be absolute "
        "or relative to the first allowed directory.";
  auto srv = std::make_unique<server::server>(
      protocol::implementation{.name = "plexus-filesystem",
                               .version = PLEXUS_VERSION,
                               .title = "Plexus Filesystem Server"},
      std::move(options));
  register_filesystem(*srv, std::move(config));
  return srv;
}

}  // namespace plexus::servers
