// Bench peer: official TypeScript SDK v2 (@modelcontextprotocol/server, pinned in
// package-lock.json) serving the 2026-07-28 era over HTTP with createMcpHandler (its web-standard
// fetch handler; 2025-era requests fall back to stateless serving), bridged to node:http on
// 127.0.0.1 only.   node bench/peers/v2_http.mjs PORT
import http from 'node:http';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { registerTools } from './tools.mjs';

const port = Number(process.argv[2] ?? 8932);
const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'bench-v2', version: '1.0.0' }, { capabilities: { tools: {} } });
  registerTools(server, z);
  return server;
});

http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x); else if (v !== undefined) headers.set(k, v);
    }
    const init = { method: req.method, headers };
    if (req.method !== 'GET' && req.method !== 'HEAD' && chunks.length) init.body = Buffer.concat(chunks);
    const response = await handler.fetch(new Request(`http://${req.headers.host}${req.url}`, init));
    const out = {};
    response.headers.forEach((v, k) => { out[k] = v; });
    res.writeHead(response.status, out);
    if (response.body) {
      for await (const chunk of response.body) res.write(chunk);
    }
    res.end();
  } catch (e) {
    if (!res.headersSent) res.writeHead(500);
    res.end(String(e));
  }
}).listen(port, '127.0.0.1', () => console.error(`v2 listening on 127.0.0.1:${port}`));
