// Bench peer: official TypeScript SDK v1 (@modelcontextprotocol/sdk) over Streamable HTTP on
// 127.0.0.1 only, in one of the two documented modes:
//   node bench/peers/v1_http.mjs stateless PORT   sessionIdGenerator undefined, JSON responses,
//                                                 a fresh server + transport per request (the
//                                                 SDK's stateless example)
//   node bench/peers/v1_http.mjs stateful PORT    sessions (randomUUID), SSE responses
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { registerTools } from './tools.mjs';

const mode = process.argv[2] ?? 'stateless';
const port = Number(process.argv[3] ?? 8931);

function makeServer() {
  const server = new McpServer({ name: `bench-v1-${mode}`, version: '1.0.0' });
  registerTools(server, z);
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try { resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined); }
      catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
}

const sessions = new Map();  // stateful: session id -> transport

async function handle(req, res) {
  if (!req.url.startsWith('/mcp')) { res.writeHead(404).end(); return; }
  const body = req.method === 'POST' ? await readBody(req) : undefined;
  if (mode === 'stateless') {
    if (req.method !== 'POST') { res.writeHead(405).end(); return; }
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    return;
  }
  const sid = req.headers['mcp-session-id'];
  let transport = sid ? sessions.get(sid) : undefined;
  if (!transport) {
    if (sid || req.method !== 'POST' || !isInitializeRequest(body)) {
      res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null,
          error: { code: -32000, message: 'Bad Request: no valid session' } }));
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
    await makeServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
}

http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) res.writeHead(500).end(String(e));
  });
}).listen(port, '127.0.0.1', () => console.error(`v1 ${mode} listening on 127.0.0.1:${port}`));
