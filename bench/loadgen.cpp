// bench/loadgen: stdio load generator for bench/run. Standard library + POSIX only.
//
//   loadgen [--window W] [--duration S] [--warmup S] [--text T] -- COMMAND ARGS...
//
// Spawns COMMAND (stdin/stdout pipes, stderr inherited), opens a legacy session (initialize +
// notifications/initialized, 2025-11-25), then keeps W `tools/call echo` requests in flight
// (closed loop: each answer releases the next request). The warm-up is discarded; the measured
// phase records every request's latency. Prints one line of key=value pairs:
//   requests errors seconds throughput p50_us p90_us p99_us p999_us rss_kb cpu_s
// rss_kb is the server's VmHWM (peak RSS) and cpu_s its user+system CPU during the measured
// phase, both read from /proc/PID. Exit status 0 on success, 1 when the server misbehaved.
#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using clk = std::chrono::steady_clock;

namespace {

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

long proc_hwm_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
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

// The numeric "id" of a response line; -1 for notifications/requests or no numeric id.
long long response_id(const char* b, size_t n, bool* is_error) {
  std::string_view line(b, n);
  if (line.find("\"method\"") != std::string_view::npos) return -1;
  auto p = line.find("\"id\"");
  if (p == std::string_view::npos) return -1;
  p += 4;
  while (p < n && (line[p] == ' ' || line[p] == ':')) ++p;
  if (p >= n || line[p] < '0' || line[p] > '9') return -1;
  *is_error = line.find("\"error\"") != std::string_view::npos ||
              line.find("\"isError\":true") != std::string_view::npos;
  return std::atoll(line.data() + p);
}

}  // namespace

int main(int argc, char** argv) {
  int window = 1;
  double duration = 5, warmup = 1;
  std::string text = "hello";
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
    if (a == "--window")
      window = std::max(1, std::atoi(argv[++i]));
    else if (a == "--duration")
      duration = std::atof(argv[++i]);
    else if (a == "--warmup")
      warmup = std::atof(argv[++i]);
    else if (a == "--text")
      text = argv[++i];
    else {
      std::fprintf(stderr, "loadgen: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr,
                 "usage: loadgen [--window W] [--duration S] [--warmup S] -- CMD ARGS...\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) || pipe(out_pipe)) {
    std::perror("pipe");
    return 1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    close(in_pipe[0]);
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(out_pipe[1]);
    execvp(argv[i], argv + i);
    std::perror("exec");
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  int to = in_pipe[1], from = out_pipe[0];

  auto request = [&](long long id) {
    return "{\"jsonrpc\":\"2.0\",\"id\":" + std::to_string(id) +
           ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" +
           text + "\"}}}\n";
  };
  const size_t ring = 1 << 16;  // window is far smaller: ids in flight never collide
  std::vector<clk::time_point> sent(ring);
  std::vector<double> lat;  // microseconds, measured phase only
  lat.reserve(1 << 20);
  long long next_id = 1, errors = 0, in_flight = 0;
  std::string rbuf;
  char chunk[1 << 16];
  bool failed = false;

  // Reads until `want` answers arrived; calls on_answer(id, is_error) for each.
  auto pump = [&](auto&& on_answer, int timeout_ms) -> bool {
    pollfd p{from, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0) return errno == EINTR;
    if (r == 0) return false;
    ssize_t n = ::read(from, chunk, sizeof chunk);
    if (n <= 0) return false;
    rbuf.append(chunk, size_t(n));
    size_t start = 0;
    for (;;) {
      auto nl = rbuf.find('\n', start);
      if (nl == std::string::npos) break;
      bool err = false;
      long long id = response_id(rbuf.data() + start, nl - start, &err);
      if (id >= 0) on_answer(id, err);
      start = nl + 1;
    }
    rbuf.erase(0, start);
    return true;
  };

  // Session opening (legacy era: every peer speaks it on stdio).
  write_all(
      to,
      "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
      "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"plexus-bench\","
      "\"version\":\"1\"}}}\n");
  bool inited = false;
  auto deadline = clk::now() + std::chrono::seconds(30);
  while (!inited && clk::now() < deadline)
    if (!pump(
            [&](long long id, bool) {
              if (id == 0) inited = true;
            },
            1000) &&
        clk::now() >= deadline)
      break;
  if (!inited) {
    std::fprintf(stderr, "loadgen: no initialize answer\n");
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return 1;
  }
  write_all(to, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");

  auto t0 = clk::now();
  auto measure_from =
      t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(warmup));
  auto stop_at = measure_from +
                 std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(duration));
  bool measuring = false;
  double cpu0 = 0;
  long long measured = 0;
  clk::time_point m_start;

  std::string out;
  auto send_more = [&](bool open) {
    out.clear();
    while (open && in_flight < window) {
      long long id = next_id++;
      sent[size_t(id) & (ring - 1)] = clk::now();
      out += request(id);
      ++in_flight;
    }
    if (!out.empty() && !write_all(to, out)) failed = true;
  };
  send_more(true);
  while (!failed) {
    auto now = clk::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      m_start = now;
      cpu0 = proc_cpu_seconds(pid);
    }
    bool open = now < stop_at;
    if (!open && in_flight == 0) break;
    bool ok = pump(
        [&](long long id, bool err) {
          if (id == 0) return;
          --in_flight;
          auto done = clk::now();
          if (measuring && done < stop_at) {
            if (err) ++errors;
            ++measured;
            lat.push_back(
                std::chrono::duration<double, std::micro>(done - sent[size_t(id) & (ring - 1)])
                    .count());
          }
        },
        5000);
    if (!ok) {
      failed = true;
      break;
    }
    send_more(clk::now() < stop_at);
  }
  auto m_end = std::min(clk::now(), stop_at);
  double cpu1 = proc_cpu_seconds(pid);
  long hwm = proc_hwm_kb(pid);
  close(to);
  int status = 0;
  for (int k = 0; k < 40; ++k) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      break;
    }
    usleep(50000);
  }
  if (pid > 0) {
    kill(pid, SIGTERM);
    usleep(200000);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }

  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    if (lat.empty()) return 0.0;
    size_t k = std::min(lat.size() - 1, size_t(q * double(lat.size())));
    return lat[k];
  };
  double secs = measuring ? std::chrono::duration<double>(m_end - m_start).count() : 0;
  std::printf(
      "requests=%lld errors=%lld seconds=%.3f throughput=%.1f p50_us=%.1f p90_us=%.1f "
      "p99_us=%.1f p999_us=%.1f rss_kb=%ld cpu_s=%.2f\n",
      measured, errors, secs, secs > 0 ? double(measured) / secs : 0.0, pct(0.50), pct(0.90),
      pct(0.99), pct(0.999), hwm, measuring ? cpu1 - cpu0 : 0.0);
  if (failed) std::fprintf(stderr, "loadgen: the server stopped answering\n");
  return failed || measured == 0 ? 1 : 0;
}
