// A small MCP server written with the official TypeScript SDK v2 server package
// (@modelcontextprotocol/server, pinned in node/package-lock.json), served over stdio with
// serveStdio (modern era 2026-07-28; a 2025-era opening is served too). The Plexus client
// interop test (tests/integration/client_interop_test.cpp) lists and calls everything here.
//
//   node ../v2_server.mjs        (run from tests/interop/node so that node_modules resolve)
//
// Exit status 77 when the npm packages are not installed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ESM resolves bare specifiers from the importing file, not from the working directory: the
// packages are looked up in ./node_modules of the working directory, then in ./node next to
// this script.
function nodeModulesDir() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const base of [process.cwd(), path.join(here, 'node')]) {
    const dir = path.join(base, 'node_modules');
    if (existsSync(path.join(dir, '@modelcontextprotocol', 'server'))) return dir;
  }
  return null;
}

function entry(pkgDir, sub) {
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const pick = (t) =>
    typeof t === 'string' ? t : t && (pick(t.import) ?? pick(t.node) ?? pick(t.default));
  if (!pkg.exports) return path.join(pkgDir, pkg.module ?? pkg.main ?? 'index.js');
  return path.join(pkgDir, pick(pkg.exports[sub]));
}

const nm = nodeModulesDir();
if (!nm) {
  console.error('v2_server: node_modules with @modelcontextprotocol/server not found');
  process.exit(77);
}
const load = (name, sub = '.') => import(pathToFileURL(entry(path.join(nm, name), sub)).href);
const { McpServer, ResourceTemplate, inputRequired, acceptedContent } = await load(
  '@modelcontextprotocol/server');
const { serveStdio } = await load('@modelcontextprotocol/server', './stdio');
const { z } = await load('zod');

function makeServer() {
  const server = new McpServer(
    { name: 'interop-v2-server', version: '1.2.3' },
    { capabilities: { tools: {}, resources: {}, prompts: {} }, instructions: 'A v2 test server' });

  server.registerTool('greet', {
    title: 'Greeter',
    description: 'Greets someone by name',
    inputSchema: z.object({ name: z.string() }),
  }, async ({ name }) => ({ content: [{ type: 'text', text: `Hello, ${name}!` }] }));

  server.registerTool('add', {
    description: 'Adds two numbers (structured output)',
    inputSchema: z.object({ a: z.number(), b: z.number() }),
    outputSchema: z.object({ sum: z.number() }),
  }, async ({ a, b }) => ({
    content: [{ type: 'text', text: JSON.stringify({ sum: a + b }) }],
    structuredContent: { sum: a + b },
  }));

  server.registerTool('confirm', {
    description: 'Asks the user to confirm (input required), then reports the answer',
    inputSchema: z.object({ action: z.string() }),
  }, async ({ action }, ctx) => {
    const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm');
    if (answer === undefined && !ctx.mcpReq.inputResponses?.confirm) {
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: `Really ${action}?`,
            requestedSchema: {
              type: 'object',
              properties: { ok: { type: 'boolean' } },
              required: ['ok'],
            },
          }),
        },
      });
    }
    const ok = answer?.ok === true;
    return { content: [{ type: 'text', text: ok ? `${action}: done` : `${action}: skipped` }] };
  });

  server.registerTool('fail', {
    description: 'Always reports a tool error',
    inputSchema: z.object({}),
  }, async () => ({ content: [{ type: 'text', text: 'it failed on purpose' }], isError: true }));

  server.registerResource('config', 'config://app', {
    title: 'Application Config', mimeType: 'text/plain',
  }, async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'debug=true' }] }));

  server.registerResource('item', new ResourceTemplate('items://{id}', { list: undefined }), {
    title: 'Item', mimeType: 'application/json',
  }, async (uri, { id }) => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id }) }],
  }));

  server.registerPrompt('review', {
    title: 'Code Review',
    description: 'Review a piece of code',
    argsSchema: z.object({ code: z.string() }),
  }, ({ code }) => ({
    messages: [{ role: 'user', content: { type: 'text', text: `Please review: ${code}` } }],
  }));
  return server;
}

serveStdio(makeServer);
