// Shared by the network interop scripts: `plexus everything --http 127.0.0.1:PORT` on a free
// loopback port, its shutdown, and a fetch that records every HTTP exchange.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { withTimeout } from './harness.mjs';

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.listen(0, '127.0.0.1', resolve).on('error', reject));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// Spawns `plexus everything --http 127.0.0.1:PORT` on a free port and waits for its ready line.
export async function startServer(bin) {
  const port = await freePort();
  const proc = spawn(bin, ['everything', '--http', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const server = { port, proc, stderr: '', exit: null };
  server.exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    server.exit = { code, signal };
    resolve(server.exit);
  }));
  const ready = `plexus: serving MCP on http://127.0.0.1:${port}/mcp`;
  await withTimeout(new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      server.stderr += d;
      if (server.stderr.includes(ready)) resolve();
    });
    proc.on('error', reject);
    server.exited.then((e) => reject(new Error(`server exited early (${JSON.stringify(e)}):\n${server.stderr}`)));
  }), 10000, 'the server ready line');
  return server;
}

// SIGTERM, then the exit status; SIGKILL if it does not stop within 5 s.
export async function stopServer(server) {
  if (!server.exit) server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 5000);
  const e = await server.exited;
  clearTimeout(timer);
  return e;
}

// A fetch that records every HTTP exchange the SDK makes (method, url, request headers, status).
// The request body is kept as the string sent, or parsed as JSON when `parseBody` is set.
export function tappedFetch(log, { parseBody = false } = {}) {
  return async (url, init = {}) => {
    const body = typeof init.body === 'string' ? (parseBody ? JSON.parse(init.body) : init.body)
      : undefined;
    const entry = { t: Date.now(), method: init.method ?? 'GET', url: String(url),
      headers: Object.fromEntries(new Headers(init.headers ?? {}).entries()),
      body, status: undefined };
    log.push(entry);
    const res = await fetch(url, init);
    entry.status = res.status;
    entry.responseHeaders = Object.fromEntries(res.headers.entries());
    return res;
  };
}
