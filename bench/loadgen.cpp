// bench/loadgen: load generator for bench/run (stdio, HTTP flows wrk cannot express, cold
// starts). Standard library + POSIX only; one file, compiled with `c++ -std=c++20 -O2`.
//
// stdio (spawns COMMAND, stdin/stdout pipes, stderr inherited):
//   loadgen [--window W] [--duration S] [--warmup S] [--text T | --text-bytes N] [--op echo|list]
//           -- COMMAND ARGS...
//     Opens a legacy session (initialize + notifications/initialized, 2025-11-25), then keeps W
//     operations in flight (closed loop: each answer releases the next). An operation is one
//     `tools/call echo`, or with --op list one *complete* `tools/list`: the pages are followed
//     through nextCursor, so a paginating server pays every page (pages= counts them).
//   loadgen --cold N [--text T] -- COMMAND ARGS...
//     N times: spawn, initialize, initialized, tools/call echo, wait for the answer, close stdin,
//     wait for the exit. Latencies (p50_us ...) are spawn -> first tool result; exit_p50_us ...
//     are spawn -> exit; rss_kb is the largest child peak RSS (wait4), cpu_s the mean CPU per
//     start.
//
// HTTP (a small blocking HTTP/1.1 client; connects to 127.0.0.1:PORT only):
//   loadgen --http PORT --conns C [--mode modern|stateless|legacy] [--op echo|list]
//           [--duration S] [--warmup S] [--text T | --text-bytes N] [--pid SERVER_PID]
//     C connections (a thread each), closed loop, for S seconds after a warm-up. legacy opens
//     one session per connection first.
//   loadgen --http PORT --sessions N [--pid PID]   N abandoned legacy sessions (initialize +
//     notifications/initialized each, never used again)
//   loadgen --http PORT --listen N [--pid PID]     N open modern `subscriptions/listen` streams
//     (each on its own connection, kept open until the RSS was read)
//   loadgen --http PORT --churn B --batch N [--pid PID]   B batches of N sessions each doing
//     initialize -> initialized -> tools/call echo -> DELETE, then one batch of N abandoned
//     sessions; one output line per batch (phase=churn1 ... phase=abandoned)
//     Memory flows warm the server up with a few items first (not counted), read VmRSS of PID
//     before (rss_before_kb) and after (rss_after_kb) a short settle pause, and print
//     per_item_b = (after - before) * 1024 / N.
//
// Every mode prints key=value lines: requests errors seconds throughput p50_us p90_us p99_us
// p999_us rss_kb cpu_s [...]. rss_kb / cpu_s come from /proc/PID (the spawned server, or --pid).
// Exit status 0 on success, 1 when the server misbehaved.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

using clk = std::chrono::steady_clock;

namespace {

// ---- options ---------------------------------------------------------------------------------

struct options {
  int window = 1;
  double duration = 5, warmup = 1;
  std::string text = "hello";
  std::string op = "echo";  // echo | list
  int cold = 0;
  int http_port = 0;
  int conns = 0;
  std::string mode = "modern";  // modern | stateless | legacy
  int sessions = 0, listen = 0, churn = 0, batch = 0;
  pid_t pid = 0;
  double settle = 1.0;
};

// ---- /proc -----------------------------------------------------------------------------------

double proc_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long proc_status_kb(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
  return -1;
}
long proc_hwm_kb(pid_t pid) {
  return pid > 0 ? proc_status_kb(pid, "VmHWM:") : -1;
}
long proc_rss_kb(pid_t pid) {
  return pid > 0 ? proc_status_kb(pid, "VmRSS:") : -1;
}

// ---- small helpers ---------------------------------------------------------------------------

double us_since(clk::time_point t0, clk::time_point t1) {
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}
clk::duration secs(double s) {
  return std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(s));
}

struct stats {
  std::vector<double> v;
  double pct(double q) {
    if (v.empty()) return 0;
    size_t k = std::min(v.size() - 1, size_t(q * double(v.size())));
    return v[k];
  }
  void sort() { std::sort(v.begin(), v.end()); }
  std::string line(const char* prefix = "") {
    sort();
    char b[256];
    std::snprintf(b, sizeof b, "%sp50_us=%.1f %sp90_us=%.1f %sp99_us=%.1f %sp999_us=%.1f", prefix,
                  pct(0.5), prefix, pct(0.9), prefix, pct(0.99), prefix, pct(0.999));
    return b;
  }
};

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
long raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : long(rl.rlim_cur);
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = ::write(fd, s.data() + off, s.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += size_t(w);
  }
  return true;
}

// JSON-escape-free text: the bench text is ASCII letters only.
std::string make_text(size_t bytes) {
  std::string t(bytes, 'x');
  for (size_t i = 0; i < bytes; i += 64) t[i] = char('a' + (i / 64) % 26);
  return t;
}

const char* k_modern_meta =
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
    "\"io.modelcontextprotocol/clientCapabilities\":{}}";

std::string echo_body(long long id, const std::string& text, bool modern) {
  return "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) +
         ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" +
         text + "\"}" + (modern ? std::string(",") + k_modern_meta : "") + "}}";
}
std::string list_body(long long id, const std::string& cursor, bool modern) {
  std::string p;
  if (!cursor.empty()) p = "\"cursor\":\"" + cursor + "\"";
  if (modern) p += (p.empty() ? "" : ",") + std::string(k_modern_meta);
  return "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) +
         ",\"method\":\"tools/list\",\"params\":{" + p + "}}";
}
const char* k_initialize =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"plexus-bench\","
    "\"version\":\"1\"}}}";
const char* k_initialized = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";

// The string value of "nextCursor" in a JSON text, or "" (cursors need no unescaping: they are
// opaque tokens the servers mint from base64/url-safe characters).
std::string next_cursor(std::string_view s) {
  auto p = s.rfind("\"nextCursor\"");
  if (p == std::string_view::npos) return {};
  p = s.find('"', p + 12);
  if (p == std::string_view::npos) return {};
  auto e = s.find('"', p + 1);
  if (e == std::string_view::npos) return {};
  return std::string(s.substr(p + 1, e - p - 1));
}

// A response line's numeric "id"; -1 for notifications, requests or no numeric id. Plexus writes
// "id" first; the TypeScript SDK writes {"result":...,"jsonrpc":"2.0","id":N}, so the last "id"
// of the line is taken when the line does not open with it.
long long response_id(std::string_view line, bool* is_error) {
  auto head = line.substr(0, 48);
  if (head.find("\"method\"") != std::string_view::npos &&
      head.find("\"result\"") == std::string_view::npos)
    return -1;
  size_t p = head.find("\"id\"");
  if (p == std::string_view::npos) p = line.rfind("\"id\"");
  if (p == std::string_view::npos) return -1;
  p += 4;
  while (p < line.size() && (line[p] == ' ' || line[p] == ':')) ++p;
  if (p >= line.size() || line[p] < '0' || line[p] > '9') return -1;
  *is_error = line.find("\"error\":{") != std::string_view::npos ||
              line.find("\"isError\":true") != std::string_view::npos;
  return std::atoll(line.data() + p);
}

// ---- child process over pipes ----------------------------------------------------------------

struct child {
  pid_t pid = -1;
  int to = -1, from = -1;
};

bool spawn(char** argv, child& c) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) || pipe(out_pipe)) return false;
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    close(in_pipe[0]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    execvp(argv[0], argv);
    std::perror("exec");
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  c.pid = pid;
  c.to = in_pipe[1];
  c.from = out_pipe[0];
  return true;
}

// Reads newline-delimited messages from a pipe; scans only new bytes for the newline.
struct line_reader {
  explicit line_reader(int f) : fd(f) {}
  int fd;
  std::string buf;
  size_t scanned = 0;
  // Reads once (waiting at most timeout_ms) and calls on_line for each complete line.
  template <class F>
  bool pump(F&& on_line, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0) return errno == EINTR;
    if (r == 0) return false;
    char chunk[1 << 16];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buf.append(chunk, size_t(n));
    size_t start = 0;
    for (;;) {
      auto nl = buf.find('\n', std::max(start, scanned));
      if (nl == std::string::npos) break;
      on_line(std::string_view(buf.data() + start, nl - start));
      start = nl + 1;
    }
    buf.erase(0, start);
    scanned = buf.size();
    return true;
  }
};

void reap(pid_t pid, int* status) {
  for (int k = 0; k < 40; ++k) {
    if (waitpid(pid, status, WNOHANG) == pid) return;
    usleep(50000);
  }
  kill(pid, SIGTERM);
  usleep(200000);
  kill(pid, SIGKILL);
  waitpid(pid, status, 0);
}

// ---- stdio load ------------------------------------------------------------------------------

int run_stdio(const options& o, char** cmd) {
  child c;
  if (!spawn(cmd, c)) {
    std::perror("spawn");
    return 1;
  }
  int to = c.to;
  line_reader rd{c.from};
  bool list = o.op == "list";

  // Session opening (legacy era: every peer speaks it on stdio).
  write_all(to, std::string(k_initialize) + "\n");
  bool inited = false;
  auto deadline = clk::now() + std::chrono::seconds(30);
  while (!inited && clk::now() < deadline)
    rd.pump(
        [&](std::string_view l) {
          bool e;
          if (response_id(l, &e) == 0) inited = true;
        },
        1000);
  if (!inited) {
    std::fprintf(stderr, "loadgen: no initialize answer\n");
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    return 1;
  }
  write_all(to, std::string(k_initialized) + "\n");
  // Non-blocking writes from here: with large messages a blocking write could wait for the
  // server, which waits for us to read its answers.
  fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);

  struct op_state {
    clk::time_point start;
  };
  std::unordered_map<long long, op_state> pending;  // request id -> operation it belongs to
  stats lat;
  lat.v.reserve(1 << 20);
  long long next_id = 1, errors = 0, measured = 0, pages = 0;
  int in_flight = 0;  // operations, not requests
  std::string out;
  size_t out_off = 0;
  bool failed = false;

  auto t0 = clk::now();
  auto measure_from = t0 + secs(o.warmup);
  auto stop_at = measure_from + secs(o.duration);
  bool measuring = false;
  double cpu0 = 0;
  clk::time_point m_start;

  auto queue = [&](long long id, const std::string& cursor) {
    out += list ? list_body(id, cursor, false) : echo_body(id, o.text, false);
    out += '\n';
  };
  auto send_more = [&](bool open) {
    while (open && in_flight < o.window) {
      long long id = next_id++;
      pending[id] = {clk::now()};
      queue(id, "");
      ++in_flight;
    }
  };
  auto flush = [&]() -> bool {
    while (out_off < out.size()) {
      ssize_t w = ::write(to, out.data() + out_off, out.size() - out_off);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          // Drop what was written: while the server never drains the pipe completely the
          // buffer would otherwise only grow (and every append move megabytes).
          if (out_off >= (1u << 20)) {
            out.erase(0, out_off);
            out_off = 0;
          }
          return true;
        }
        return false;
      }
      out_off += size_t(w);
    }
    out.clear();
    out_off = 0;
    return true;
  };

  send_more(true);
  while (!failed) {
    auto now = clk::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      m_start = now;
      cpu0 = proc_cpu_seconds(c.pid);
    }
    bool open = now < stop_at;
    if (!open && in_flight == 0) break;
    if (!flush()) {
      failed = true;
      break;
    }
    pollfd p[2] = {{c.from, POLLIN, 0}, {to, short(out_off < out.size() ? POLLOUT : 0), 0}};
    int r = ::poll(p, out_off < out.size() ? 2 : 1, 5000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      failed = true;
      break;
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    bool ok = rd.pump(
        [&](std::string_view l) {
          bool err = false;
          long long id = response_id(l, &err);
          if (id <= 0) return;
          auto it = pending.find(id);
          if (it == pending.end()) return;
          op_state st = it->second;
          pending.erase(it);
          if (list && !err) {
            ++pages;
            std::string cur = next_cursor(l);
            if (!cur.empty()) {
              long long nid = next_id++;
              pending[nid] = st;
              queue(nid, cur);
              return;
            }
          }
          --in_flight;
          auto done = clk::now();
          if (measuring && done < stop_at && st.start >= m_start) {
            if (err) ++errors;
            ++measured;
            lat.v.push_back(us_since(st.start, done));
          }
        },
        0);
    if (!ok) {
      failed = true;
      break;
    }
    send_more(clk::now() < stop_at);
  }
  auto m_end = std::min(clk::now(), stop_at);
  double cpu1 = proc_cpu_seconds(c.pid);
  long hwm = proc_hwm_kb(c.pid);
  close(to);
  int status = 0;
  reap(c.pid, &status);

  double s = measuring ? std::chrono::duration<double>(m_end - m_start).count() : 0;
  std::printf("requests=%lld errors=%lld seconds=%.3f throughput=%.1f %s rss_kb=%ld cpu_s=%.2f",
              measured, errors, s, s > 0 ? double(measured) / s : 0.0, lat.line().c_str(), hwm,
              measuring ? cpu1 - cpu0 : 0.0);
  if (list) std::printf(" pages=%lld", pages);
  std::printf("\n");
  if (failed) std::fprintf(stderr, "loadgen: the server stopped answering\n");
  return failed || measured == 0 ? 1 : 0;
}

// ---- cold start ------------------------------------------------------------------------------

int run_cold(const options& o, char** cmd) {
  stats first, exit_;
  long errors = 0, max_rss = 0;
  double cpu_total = 0;
  auto t_all = clk::now();
  for (int k = 0; k < o.cold; ++k) {
    auto t0 = clk::now();
    child c;
    if (!spawn(cmd, c)) {
      std::perror("spawn");
      return 1;
    }
    line_reader rd{c.from};
    write_all(c.to, std::string(k_initialize) + "\n");
    bool got_init = false, got_call = false, bad = false;
    auto deadline = t0 + std::chrono::seconds(20);
    while (!got_call && clk::now() < deadline) {
      bool alive = rd.pump(
          [&](std::string_view l) {
            bool err = false;
            long long id = response_id(l, &err);
            if (id == 0 && !got_init) {
              got_init = true;
              write_all(c.to,
                        std::string(k_initialized) + "\n" + echo_body(1, o.text, false) + "\n");
            } else if (id == 1) {
              got_call = true;
              bad = err || l.find(o.text) == std::string_view::npos;
            }
          },
          1000);
      if (!alive && !got_call) {
        pollfd p{c.from, POLLIN, 0};
        if (::poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) break;  // the child exited
      }
    }
    auto t1 = clk::now();
    close(c.to);
    // Drain until EOF so a child that writes on exit is not blocked.
    char sink[4096];
    while (::read(c.from, sink, sizeof sink) > 0) {
    }
    int status = 0;
    rusage ru{};
    pid_t w;
    do w = wait4(c.pid, &status, 0, &ru);
    while (w < 0 && errno == EINTR);
    auto t2 = clk::now();
    close(c.from);
    if (!got_call || bad) {
      ++errors;
      continue;
    }
    first.v.push_back(us_since(t0, t1));
    exit_.v.push_back(us_since(t0, t2));
    max_rss = std::max(max_rss, long(ru.ru_maxrss));
    cpu_total += double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  double s = std::chrono::duration<double>(clk::now() - t_all).count();
  size_t n = first.v.size();
  std::printf("requests=%zu errors=%ld seconds=%.3f throughput=%.1f %s %s rss_kb=%ld cpu_s=%.4f\n",
              n, errors, s, s > 0 ? double(n) / s : 0.0, first.line().c_str(),
              exit_.line("exit_").c_str(), max_rss, n ? cpu_total / double(n) : 0.0);
  return n == 0 ? 1 : 0;
}

// ---- HTTP/1.1 client -------------------------------------------------------------------------

struct http_response {
  int status = 0;
  std::string content_type, session_id, body;
  bool close = false;
};

class http_conn {
 public:
  explicit http_conn(int port) : port_(port) {}
  ~http_conn() { disconnect(); }
  http_conn(const http_conn&) = delete;
  http_conn& operator=(const http_conn&) = delete;

  bool connect() {
    disconnect();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only, always
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      disconnect();
      return false;
    }
    buf_.clear();
    return true;
  }
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return fd_ >= 0; }

  // Sends one request (reconnecting first when the previous answer closed the connection).
  bool send(const std::string& method, const std::string& body,
            const std::vector<std::pair<std::string, std::string>>& headers) {
    if (fd_ < 0 && !connect()) return false;
    std::string r = method + " /mcp HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                    "\r\nAccept: application/json, text/event-stream\r\n";
    if (!body.empty()) r += "Content-Type: application/json\r\n";
    for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    r += body;
    if (!write_all(fd_, r)) {
      disconnect();
      return false;
    }
    return true;
  }

  // Reads one complete response (Content-Length, chunked, or up to the close).
  bool read(http_response& res) {
    res = {};
    size_t hend;
    while ((hend = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return false;
    std::string_view head(buf_.data(), hend);
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return false;
    res.status = std::atoi(head.data() + 9);
    long long clen = -1;
    bool chunked = false;
    size_t p = head.find("\r\n");
    while (p != std::string_view::npos && p < head.size()) {
      size_t e = head.find("\r\n", p + 2);
      std::string_view h =
          head.substr(p + 2, (e == std::string_view::npos ? head.size() : e) - p - 2);
      p = e;
      auto c = h.find(':');
      if (c == std::string_view::npos) continue;
      std::string name(h.substr(0, c));
      for (auto& ch : name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
      std::string_view v = h.substr(c + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (name == "content-length")
        clen = std::atoll(std::string(v).c_str());
      else if (name == "transfer-encoding")
        chunked = v.find("chunked") != std::string_view::npos;
      else if (name == "content-type")
        res.content_type = v;
      else if (name == "mcp-session-id")
        res.session_id = v;
      else if (name == "connection")
        res.close = v.find("close") != std::string_view::npos;
    }
    buf_.erase(0, hend + 4);
    if (chunked) {
      for (;;) {
        size_t le;
        while ((le = buf_.find("\r\n")) == std::string::npos)
          if (!fill()) return false;
        size_t n = std::strtoul(buf_.c_str(), nullptr, 16);
        while (buf_.size() < le + 2 + n + 2)
          if (!fill()) return false;
        res.body.append(buf_, le + 2, n);
        buf_.erase(0, le + 2 + n + 2);
        if (n == 0) break;
      }
    } else if (clen >= 0) {
      while (buf_.size() < size_t(clen))
        if (!fill()) return false;
      res.body.assign(buf_, 0, size_t(clen));
      buf_.erase(0, size_t(clen));
    } else if (res.status != 204 && res.status != 304 && res.status >= 200) {
      while (fill()) {
      }
      res.body.swap(buf_);
      buf_.clear();
      res.close = true;
    }
    if (res.close) disconnect();
    return true;
  }

  bool request(const std::string& method, const std::string& body,
               const std::vector<std::pair<std::string, std::string>>& headers,
               http_response& res) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!send(method, body, headers)) continue;
      if (read(res)) return true;
      disconnect();  // a keep-alive connection the server closed meanwhile: retry once
    }
    return false;
  }

  // Reads raw bytes until `needle` appeared in what was received (headers included).
  bool read_until(std::string_view needle) {
    while (buf_.find(needle) == std::string::npos)
      if (!fill()) return false;
    buf_.clear();
    return true;
  }

 private:
  bool fill() {
    if (fd_ < 0) return false;
    char chunk[1 << 16];
    for (;;) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf_.append(chunk, size_t(n));
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }
  int port_;
  int fd_ = -1;
  std::string buf_;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

header_list modern_headers(const std::string& method, const std::string& name) {
  header_list h{{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", method}};
  if (!name.empty()) h.emplace_back("Mcp-Name", name);
  return h;
}
header_list legacy_headers(const std::string& sid) {
  header_list h{{"MCP-Protocol-Version", "2025-11-25"}};
  if (!sid.empty()) h.emplace_back("Mcp-Session-Id", sid);
  return h;
}

// Opens a legacy session on `c`: initialize + notifications/initialized. Returns its id or "".
std::string open_session(http_conn& c) {
  http_response r;
  if (!c.request("POST", k_initialize, {}, r) || r.status != 200 || r.session_id.empty()) return {};
  std::string sid = r.session_id;
  if (!c.request("POST", k_initialized, legacy_headers(sid), r) || r.status / 100 != 2) return {};
  return sid;
}

// ---- HTTP closed loop ------------------------------------------------------------------------

int run_http_load(const options& o) {
  bool list = o.op == "list";
  bool modern = o.mode == "modern";
  auto t0 = clk::now();
  auto measure_from = t0 + secs(o.warmup);
  auto stop_at = measure_from + secs(o.duration);
  std::mutex mu;
  stats lat;
  long long errors = 0, measured = 0, pages = 0;
  std::atomic<bool> broken{false};
  auto worker = [&]() {
    http_conn c(o.http_port);
    std::string sid;
    if (o.mode == "legacy" && (sid = open_session(c)).empty()) {
      broken = true;
      return;
    }
    std::vector<double> mine;
    long long errs = 0, done_n = 0, pg = 0, id = 1;
    http_response r;
    while (clk::now() < stop_at) {
      auto s = clk::now();
      bool err = false;
      std::string cursor;
      do {
        std::string body = list ? list_body(++id, cursor, modern) : echo_body(++id, o.text, modern);
        header_list h = modern
                            ? modern_headers(list ? "tools/list" : "tools/call", list ? "" : "echo")
                            : legacy_headers(sid);
        if (!c.request("POST", body, h, r)) {
          broken = true;
          return;
        }
        ++pg;
        cursor.clear();
        if (r.status != 200 || r.body.find("\"error\":{") != std::string::npos ||
            r.body.find("\"isError\":true") != std::string::npos) {
          err = true;
          break;
        }
        if (list) cursor = next_cursor(r.body);
      } while (!cursor.empty());
      auto e = clk::now();
      if (s >= measure_from && e < stop_at) {
        mine.push_back(us_since(s, e));
        ++done_n;
        if (err) ++errs;
      }
    }
    std::lock_guard lk(mu);
    lat.v.insert(lat.v.end(), mine.begin(), mine.end());
    errors += errs;
    measured += done_n;
    pages += pg;
  };
  // The workers start at t0 so that the warm-up also covers connection (and session) setup.
  std::vector<std::thread> th;
  th.reserve(size_t(o.conns));
  for (int i = 0; i < o.conns; ++i) th.emplace_back(worker);
  std::this_thread::sleep_until(measure_from);
  double cpu0 = o.pid > 0 ? proc_cpu_seconds(o.pid) : 0;
  for (auto& t : th) t.join();
  double cpu1 = o.pid > 0 ? proc_cpu_seconds(o.pid) : 0;
  double s = o.duration;
  std::printf("requests=%lld errors=%lld seconds=%.3f throughput=%.1f %s rss_kb=%ld cpu_s=%.2f",
              measured, errors, s, s > 0 ? double(measured) / s : 0.0, lat.line().c_str(),
              proc_hwm_kb(o.pid), cpu1 - cpu0);
  if (list) std::printf(" pages=%lld", pages);
  std::printf("\n");
  if (broken) std::fprintf(stderr, "loadgen: an HTTP exchange failed\n");
  return broken || measured == 0 ? 1 : 0;
}

// ---- memory flows ----------------------------------------------------------------------------

void settle(const options& o) {
  std::this_thread::sleep_for(secs(o.settle));
}

void print_phase(const char* phase, long n, long errors, double s, stats& lat, long before,
                 long after) {
  double per =
      n > 0 && before >= 0 && after >= 0 ? double(after - before) * 1024.0 / double(n) : 0.0;
  std::printf(
      "phase=%s requests=%ld errors=%ld seconds=%.3f throughput=%.1f %s rss_kb=%ld "
      "rss_before_kb=%ld rss_after_kb=%ld per_item_b=%.0f\n",
      phase, n, errors, s, s > 0 ? double(n) / s : 0.0, lat.line().c_str(), after, before, after,
      per);
  std::fflush(stdout);
}

// One abandoned session: initialize + initialized on a shared keep-alive connection.
bool abandoned_session(http_conn& c) {
  return !open_session(c).empty();
}

// One full session: initialize -> initialized -> tools/call echo -> DELETE.
bool full_session(http_conn& c, const std::string& text) {
  std::string sid = open_session(c);
  if (sid.empty()) return false;
  http_response r;
  if (!c.request("POST", echo_body(1, text, false), legacy_headers(sid), r) || r.status != 200 ||
      r.body.find(text) == std::string::npos)
    return false;
  return c.request("DELETE", "", legacy_headers(sid), r) && r.status / 100 == 2;
}

int run_sessions(const options& o) {
  http_conn c(o.http_port);
  stats lat;
  int warm = std::min(100, std::max(1, o.sessions / 10));
  for (int i = 0; i < warm; ++i) abandoned_session(c);
  settle(o);
  long before = proc_rss_kb(o.pid);
  long errors = 0;
  auto t0 = clk::now();
  for (int i = 0; i < o.sessions; ++i) {
    auto s = clk::now();
    if (!abandoned_session(c)) ++errors;
    lat.v.push_back(us_since(s, clk::now()));
  }
  double secs_ = std::chrono::duration<double>(clk::now() - t0).count();
  settle(o);
  print_phase("sessions", o.sessions, errors, secs_, lat, before, proc_rss_kb(o.pid));
  return errors ? 1 : 0;
}

int run_churn(const options& o) {
  http_conn c(o.http_port);
  for (int i = 0; i < std::min(100, o.batch); ++i) full_session(c, "hello");
  settle(o);
  long before = proc_rss_kb(o.pid);
  long total_errors = 0;
  {
    stats none;
    print_phase("start", 0, 0, 0, none, before, before);
  }
  for (int b = 0; b <= o.churn; ++b) {
    bool abandoned = b == o.churn;
    stats lat;
    long errors = 0;
    auto t0 = clk::now();
    for (int i = 0; i < o.batch; ++i) {
      auto s = clk::now();
      bool ok = abandoned ? abandoned_session(c) : full_session(c, "hello");
      if (!ok) ++errors;
      lat.v.push_back(us_since(s, clk::now()));
    }
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    settle(o);
    long after = proc_rss_kb(o.pid);
    std::string name = abandoned ? "abandoned" : "churn" + std::to_string(b + 1);
    print_phase(name.c_str(), o.batch, errors, s, lat, before, after);
    before = after;
    total_errors += errors;
  }
  return total_errors ? 1 : 0;
}

bool open_listen(http_conn& c, long long id) {
  std::string body =
      "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) +
      ",\"method\":\"subscriptions/listen\",\"params\":{\"notifications\":{\"toolsListChanged\":"
      "true,\"resourcesListChanged\":true,\"promptsListChanged\":true}," +
      k_modern_meta + "}}";
  return c.send("POST", body, modern_headers("subscriptions/listen", "")) &&
         c.read_until("notifications/subscriptions/acknowledged");
}

int run_listen(const options& o) {
  long limit = raise_fd_limit();
  if (limit < o.listen + 64) {
    std::fprintf(stderr,
                 "loadgen: RLIMIT_NOFILE is %ld (hard limit), too low for %d streams; raise the "
                 "hard limit (ulimit -Hn, /etc/security/limits.conf)\n",
                 limit, o.listen);
    return 1;
  }
  {  // warm-up: a few streams, then closed
    std::vector<std::unique_ptr<http_conn>> warm;
    for (int i = 0; i < std::min(100, std::max(1, o.listen / 10)); ++i) {
      warm.push_back(std::make_unique<http_conn>(o.http_port));
      open_listen(*warm.back(), i + 1);
    }
  }
  settle(o);
  long before = proc_rss_kb(o.pid);
  std::vector<std::unique_ptr<http_conn>> conns;
  conns.reserve(size_t(o.listen));
  stats lat;
  long errors = 0, failed_in_a_row = 0;
  auto t0 = clk::now();
  for (int i = 0; i < o.listen; ++i) {
    auto s = clk::now();
    auto c = std::make_unique<http_conn>(o.http_port);
    if (!open_listen(*c, i + 1)) {
      ++errors;
      if (++failed_in_a_row >= 5) {  // each failure may have waited 10 s: the server's limit
        std::fprintf(stderr, "loadgen: listen streams refused or unanswered after %zu open\n",
                     conns.size());
        break;
      }
      continue;
    }
    failed_in_a_row = 0;
    lat.v.push_back(us_since(s, clk::now()));
    conns.push_back(std::move(c));
  }
  double s = std::chrono::duration<double>(clk::now() - t0).count();
  settle(o);
  long after = proc_rss_kb(o.pid);
  long open = long(conns.size());
  // per stream: divide by the streams actually open
  double per = open > 0 && before >= 0 ? double(after - before) * 1024.0 / double(open) : 0;
  conns.clear();
  settle(o);
  long closed = proc_rss_kb(o.pid);
  std::printf(
      "phase=listen requests=%ld errors=%ld seconds=%.3f throughput=%.1f %s rss_kb=%ld "
      "rss_before_kb=%ld rss_after_kb=%ld per_item_b=%.0f rss_closed_kb=%ld fd_limit=%ld\n",
      open, errors, s, s > 0 ? double(open) / s : 0.0, lat.line().c_str(), after, before, after,
      per, closed, limit);
  return errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "loadgen: %s needs a value\n", a.c_str());
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--window")
      o.window = std::max(1, std::atoi(v.c_str()));
    else if (a == "--duration")
      o.duration = std::atof(v.c_str());
    else if (a == "--warmup")
      o.warmup = std::atof(v.c_str());
    else if (a == "--text")
      o.text = v;
    else if (a == "--text-bytes")
      o.text = make_text(size_t(std::atol(v.c_str())));
    else if (a == "--op")
      o.op = v;
    else if (a == "--cold")
      o.cold = std::atoi(v.c_str());
    else if (a == "--http")
      o.http_port = std::atoi(v.c_str());
    else if (a == "--conns")
      o.conns = std::atoi(v.c_str());
    else if (a == "--mode")
      o.mode = v;
    else if (a == "--sessions")
      o.sessions = std::atoi(v.c_str());
    else if (a == "--listen")
      o.listen = std::atoi(v.c_str());
    else if (a == "--churn")
      o.churn = std::atoi(v.c_str());
    else if (a == "--batch")
      o.batch = std::atoi(v.c_str());
    else if (a == "--pid")
      o.pid = pid_t(std::atoi(v.c_str()));
    else if (a == "--settle")
      o.settle = std::atof(v.c_str());
    else {
      std::fprintf(stderr, "loadgen: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (o.op != "echo" && o.op != "list") {
    std::fprintf(stderr, "loadgen: --op echo|list\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  if (o.http_port > 0) {
    raise_fd_limit();
    if (o.listen > 0) return run_listen(o);
    if (o.sessions > 0) return run_sessions(o);
    if (o.churn > 0 && o.batch > 0) return run_churn(o);
    if (o.conns > 0) return run_http_load(o);
    std::fprintf(stderr, "loadgen: --http needs --conns, --sessions, --listen or --churn\n");
    return 2;
  }
  if (i >= argc) {
    std::fprintf(stderr,
                 "usage: loadgen [--window W] [--duration S] [--warmup S] [--op echo|list] "
                 "-- CMD ARGS...\n       loadgen --cold N -- CMD ARGS...\n"
                 "       loadgen --http PORT (--conns C | --sessions N | --listen N | --churn B "
                 "--batch N) [--pid PID]\n");
    return 2;
  }
  if (o.cold > 0) return run_cold(o, argv + i);
  return run_stdio(o, argv + i);
}
