// Bench peer: a TypeScript gateway built from the official SDK v1 (@modelcontextprotocol/sdk):
// a stateless Streamable HTTP server (as in v1_http.mjs stateless) on 127.0.0.1 whose `echo` and
// `add` tools forward every call through one SDK Client, connected over stdio to one upstream
// child process. What `plexus gateway` does for one stdio upstream, written the obvious way.
//   node bench/peers/ts_gateway.mjs PORT -- COMMAND ARGS...
//   e.g. node bench/peers/ts_gateway.mjs 8933 -- node bench/peers/v1_stdio.mjs
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const port = Number(process.argv[2] ?? 8933);
const sep = process.argv.indexOf('--');
if (sep < 0 || sep + 1 >= process.argv.length) {
  console.error('usage: ts_gateway.mjs PORT -- COMMAND ARGS...');
  process.exit(2);
}
const [command, ...args] = process.argv.slice(sep + 1);

const upstream = new Client({ name: 'bench-ts-gateway', version: '1.0.0' });
await upstream.connect(new StdioClientTransport({ command, args, stderr: 'inherit' }));

const forward = (name) => async (args) => upstream.callTool({ name, arguments: args });

function makeServer() {
  const server = new McpServer({ name: 'bench-ts-gateway', version: '1.0.0' });
  server.registerTool('echo', {
    description: 'Echoes the text back',
    inputSchema: { text: z.string().describe('The text to echo') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, forward('echo'));
  server.registerTool('add', {
    description: 'Adds two numbers',
    inputSchema: { a: z.number().describe('First addend'), b: z.number().describe('Second addend') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, forward('add'));
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

async function handle(req, res) {
  if (!req.url.startsWith('/mcp')) { res.writeHead(404).end(); return; }
  if (req.method !== 'POST') { res.writeHead(405).end(); return; }
  const body = await readBody(req);
  const server = makeServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

const shutdown = async () => { await upstream.close().catch(() => {}); process.exit(0); };
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (!res.headersSent) res.writeHead(500).end(String(e));
  });
}).listen(port, '127.0.0.1', () => console.error(`ts gateway listening on 127.0.0.1:${port}`));
