/* Calibration responder for bench/run: the harness's ceiling.
 *
 *   calibration --http 127.0.0.1:PORT   answers every HTTP/1.1 request (keep-alive) with a fixed
 *                                       JSON-RPC tools/call result (application/json)
 *   calibration --stdio                 answers every line on stdin with the same result, echoing
 *                                       the request's "id" so that pipelined clients can match
 *
 * It parses nothing beyond the headers' Content-Length and the "id" member: whatever a real MCP
 * server does on top of this is its own cost. stdio: it asks for 256 KiB pipes, as any server
 * may (plexus does), so that the ceiling is not the default 64 KiB pipe's. HTTP: one epoll loop on one thread.
 * Built by bench/run with `cc -O2 -pthread`; standard C + POSIX only. Binds only where told
 * (bench/run passes 127.0.0.1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char k_result_head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
static const char k_result_tail[] =
    ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}";

/* Copies the JSON value of "id" (number or simple string) into out; "null" when absent. */
static size_t find_id(const char* msg, size_t len, char* out, size_t cap) {
  const char* p = memmem(msg, len, "\"id\"", 4);
  if (!p) { memcpy(out, "null", 4); return 4; }
  p += 4;
  const char* end = msg + len;
  while (p < end && (*p == ' ' || *p == ':' || *p == '\t')) ++p;
  const char* s = p;
  if (p < end && *p == '"') {
    ++p;
    while (p < end && *p != '"') p += (*p == '\\') ? 2 : 1;
    if (p < end) ++p;
  } else {
    while (p < end && *p != ',' && *p != '}' && *p != ' ') ++p;
  }
  size_t n = (size_t)(p - s);
  if (n == 0 || n >= cap) { memcpy(out, "null", 4); return 4; }
  memcpy(out, s, n);
  return n;
}

static int write_all(int fd, const char* b, size_t n) {
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w; n -= (size_t)w;
  }
  return 0;
}

static size_t build_body(const char* req, size_t len, char* out) {
  char id[128];
  size_t idn = find_id(req, len, id, sizeof id);
  size_t n = 0;
  memcpy(out + n, k_result_head, sizeof k_result_head - 1); n += sizeof k_result_head - 1;
  memcpy(out + n, id, idn); n += idn;
  memcpy(out + n, k_result_tail, sizeof k_result_tail - 1); n += sizeof k_result_tail - 1;
  return n;
}

static int run_stdio(void) {
  (void)fcntl(0, F_SETPIPE_SZ, 256 * 1024); /* fails harmlessly when not a pipe */
  (void)fcntl(1, F_SETPIPE_SZ, 256 * 1024);
  size_t cap = 1 << 16, have = 0;
  char* buf = malloc(cap);
  char out[512];
  char wbuf[1 << 16];
  size_t wn = 0;
  for (;;) {
    if (have == cap) { cap *= 2; buf = realloc(buf, cap); }
    ssize_t r = read(0, buf + have, cap - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    size_t start = 0;
    for (;;) {
      char* nl = memchr(buf + start, '\n', have - start);
      if (!nl) break;
      size_t len = (size_t)(nl - (buf + start));
      if (len > 0) {
        size_t n = build_body(buf + start, len, out);
        out[n++] = '\n';
        if (wn + n > sizeof wbuf) { if (write_all(1, wbuf, wn)) return 1; wn = 0; }
        memcpy(wbuf + wn, out, n); wn += n;
      }
      start += len + 1;
    }
    if (wn) { if (write_all(1, wbuf, wn)) return 1; wn = 0; }
    memmove(buf, buf + start, have - start);
    have -= start;
  }
  return 0;
}

/* HTTP: one epoll loop on one thread (level-triggered, non-blocking sockets), so that the
 * ceiling does not pay for thread switches when the server is pinned to one core. */
struct conn {
  int fd;
  char* in;
  size_t in_len, in_cap;
  char* out;
  size_t out_len, out_off, out_cap;
};

static void append_out(struct conn* c, const char* b, size_t n) {
  if (c->out_len + n > c->out_cap) {
    while (c->out_len + n > c->out_cap) c->out_cap = c->out_cap ? c->out_cap * 2 : 4096;
    c->out = realloc(c->out, c->out_cap);
  }
  memcpy(c->out + c->out_len, b, n);
  c->out_len += n;
}

/* Answers every complete request buffered in c->in. */
static void process(struct conn* c) {
  char body[512], head[256];
  size_t off = 0;
  for (;;) {
    char* base = c->in + off;
    size_t have = c->in_len - off;
    char* hend = memmem(base, have, "\r\n\r\n", 4);
    if (!hend) break;
    size_t hlen = (size_t)(hend - base) + 4, clen = 0;
    for (char* p = base; p < hend;) {
      char* eol = memmem(p, (size_t)(hend - p) + 2, "\r\n", 2);
      if (!eol) break;
      if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
        clen = strtoul(p + 15, NULL, 10);
      p = eol + 2;
    }
    if (have < hlen + clen) break;
    size_t bn = build_body(base + hlen, clen, body);
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n", bn);
    append_out(c, head, (size_t)hn);
    append_out(c, body, bn);
    off += hlen + clen;
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void close_conn(int ep, struct conn* c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

static int run_http(const char* addr) {
  char host[64] = "127.0.0.1";
  const char* colon = strrchr(addr, ':');
  if (!colon) { fprintf(stderr, "calibration: --http HOST:PORT\n"); return 2; }
  if (colon != addr) {
    size_t n = (size_t)(colon - addr);
    if (n >= sizeof host) return 2;
    memcpy(host, addr, n); host[n] = 0;
  }
  int port = atoi(colon + 1);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
  if (bind(s, (struct sockaddr*)&sa, sizeof sa) || listen(s, 1024)) { perror("bind"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
    for (int i = 0; i < n; ++i) {
      struct conn* c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(s, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn* nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          nc->in_cap = 1 << 14;
          nc->in = malloc(nc->in_cap);
          struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          if (c->in_len == c->in_cap) { c->in_cap *= 2; c->in = realloc(c->in, c->in_cap); }
          ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
          if (r > 0) { c->in_len += (size_t)r; continue; }
          if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
          close_conn(ep, c);
          c = NULL;
          break;
        }
        if (!c) continue;
        process(c);
      }
      while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w > 0) { c->out_off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        close_conn(ep, c);
        c = NULL;
        break;
      }
      if (!c) continue;
      if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
      struct epoll_event cev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c};
      epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
    }
  }
}

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && strcmp(argv[1], "--stdio") == 0) return run_stdio();
  if (argc >= 3 && strcmp(argv[1], "--http") == 0) return run_http(argv[2]);
  fprintf(stderr, "usage: calibration --stdio | --http HOST:PORT\n");
  return 2;
}
