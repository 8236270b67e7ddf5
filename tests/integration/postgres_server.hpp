// A throwaway PostgreSQL server for tests: initdb in a fresh temporary directory, the server
// listening only on 127.0.0.1 (a free port) and on a unix socket inside that directory, trust
// authentication for one superuser, one database created, everything stopped (pg_ctl stop -m
// immediate) and removed in the destructor. Uses Debian's binaries under /usr/lib/postgresql/
// (installed by scripts/install-deps.sh --test); when running as root, the server binaries run as
// the `postgres` system user (initdb and postgres refuse root).
//
// Usage (per test suite, since starting takes about a second):
//   auto pg = plexus::testing::postgres_server::start();   // never throws
//   if (!pg->available()) GTEST_SKIP() << pg->skip_reason();
//   ASSERT_TRUE(pg->ok()) << pg->error();
//   pg->exec("CREATE TABLE ...");  conninfo: pg->conninfo()
//
// Thread-safety: start and destroy from one thread; conninfo() and exec() may be called from any.
#pragma once

#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace plexus::testing {

class postgres_server {
 public:
  static constexpr const char* user = "plexus_test";
  static constexpr const char* database = "plexus_test";

  // Never throws: check available() (binaries installed) and ok() (started).
  static std::unique_ptr<postgres_server> start() {
    std::unique_ptr<postgres_server> s(new postgres_server());
    s->bin_ = find_bin_dir();
    if (s->bin_.empty()) {
      s->skip_ =
          "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
          "(install them with scripts/install-deps.sh --test)";
      return s;
    }
    try {
      s->boot();
    } catch (const std::exception& e) {
      s->error_ = e.what();
      s->error_ += "\n--- server log ---\n" + s->log_text();
    }
    return s;
  }

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  ~postgres_server() {
    if (started_) run({pg_ctl(), "-D", data_dir(), "-m", "immediate", "-w", "stop"});
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  bool available() const { return !bin_.empty(); }
  const std::string& skip_reason() const { return skip_; }
  bool ok() const { return started_ && error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  const std::string& bin_dir() const { return bin_; }

  // A libpq connection string for the test database over TCP on 127.0.0.1.
  std::string conninfo(const std::string& db = database) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + db;
  }

  // Runs SQL (several statements allowed) in `db`; throws std::runtime_error on failure.
  void exec(const std::string& sql, const std::string& db = database) const {
    PGconn* c = PQconnectdb(conninfo(db).c_str());
    std::string err;
    if (PQstatus(c) != CONNECTION_OK) {
      err = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      auto st = PQresultStatus(r);
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = PQresultErrorMessage(r);
      PQclear(r);
    }
    PQfinish(c);
    if (!err.empty()) throw std::runtime_error("postgres: " + err + " in: " + sql);
  }

  // Stops the server abruptly (tests of reconnection); start_again() brings it back on the same
  // port and data.
  void kill_server() {
    if (started_) run({pg_ctl(), "-D", data_dir(), "-m", "immediate", "-w", "stop"});
    started_ = false;
  }
  void start_again() { start_server(port_); }

  std::string log_text() const {
    std::ifstream in(dir_ + "/server.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  postgres_server() = default;

  static std::string find_bin_dir() {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
      if (fs::exists(e.path() / "bin" / "initdb") && fs::exists(e.path() / "bin" / "pg_ctl"))
        dirs.push_back(e.path() / "bin");
    if (dirs.empty()) return {};
    // The highest major version ("15" < "16"; numeric compare since "9.6" < "15").
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
      return std::atof(a.parent_path().filename().c_str()) <
             std::atof(b.parent_path().filename().c_str());
    });
    return dirs.back().string();
  }

  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    if (port == 0) throw std::runtime_error("no free TCP port on 127.0.0.1");
    return port;
  }

  std::string pg_ctl() const { return bin_ + "/pg_ctl"; }
  std::string data_dir() const { return dir_ + "/data"; }

  // Runs argv (as the postgres user when we are root) with output appended to DIR/commands.log;
  // returns the exit status.
  int run(std::vector<std::string> argv) const {
    if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    std::string log = dir_ + "/commands.log";
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    // Run from the temp dir: the postgres user may not be allowed into the test's cwd.
    posix_spawn_file_actions_addchdir_np(&fa, dir_.c_str());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error(argv[0] + ": " + std::strerror(rc));
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string commands_log() const {
    std::ifstream in(dir_ + "/commands.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void boot() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "plexus-pg-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = tmpl;
    if (::geteuid() == 0) {
      passwd* pw = ::getpwnam("postgres");
      if (!pw) throw std::runtime_error("running as root but there is no postgres system user");
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::runtime_error("chown " + dir_ + ": " + std::strerror(errno));
    }
    if (run({bin_ + "/initdb", "-D", data_dir(), "-U", user, "-A", "trust", "-E", "UTF8",
             "--locale=C", "--no-sync", "--no-instructions"}) != 0)
      throw std::runtime_error("initdb failed:\n" + commands_log());
    start_server();
    exec(std::string("CREATE DATABASE ") + database, "postgres");
  }

  // On `port`, or on a free one when 0.
  void start_server(int port = 0) {
    // The port may be taken between free_port() and the server's bind: try a few.
    for (int attempt = 0;; ++attempt) {
      port_ = port ? port : free_port();
      std::string opts = "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_) +
                         " -c unix_socket_directories=" + dir_ +
                         " -c fsync=off -c full_page_writes=off"
                         " -c max_connections=40 -c shared_buffers=16MB";
      int rc = run({pg_ctl(), "-D", data_dir(), "-l", dir_ + "/server.log", "-o", opts, "-w", "-t",
                    "60", "start"});
      if (rc == 0) {
        started_ = true;
        return;
      }
      if (attempt >= 2) throw std::runtime_error("pg_ctl start failed:\n" + commands_log());
    }
  }

  std::string bin_, skip_, error_, dir_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace plexus::testing
