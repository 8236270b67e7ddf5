// Interop: the official MCP TypeScript SDK v1 client (@modelcontextprotocol/sdk, pinned in
// node/package-lock.json) drives `plexus everything --http 127.0.0.1:PORT` over its three network
// transports, with the same complete feature walk as v1_stdio.mjs on each:
//   streamable  StreamableHTTPClientTransport  http://127.0.0.1:PORT/mcp  (sessions, resumption)
//   sse         SSEClientTransport             http://127.0.0.1:PORT/sse  (legacy HTTP+SSE)
//   websocket   WebSocketClientTransport       ws://127.0.0.1:PORT/ws     (subprotocol "mcp")
// Every run starts its own server on a free loopback port and stops it with SIGTERM at the end.
//
//   node v1_http.mjs [path/to/plexus]         (or PLEXUS_BINARY=...; run from tests/interop/node)
//   INTEROP_RUNS=streamable@2025-11-25,sse@2024-11-05 node v1_http.mjs ...   (a subset)
//
// Exit status: 0 every check passed, 1 a check failed, 77 the npm packages are not installed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---- locating the pinned packages ----------------------------------------------------------
// ESM resolves bare specifiers from the importing file, not from the working directory, so the
// packages are looked up in ./node_modules of the working directory (ctest runs in
// tests/interop/node), then in the node/ folder next to this script.
function nodeModulesDir() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const base of [process.cwd(), path.join(here, 'node')]) {
    const dir = path.join(base, 'node_modules');
    if (existsSync(path.join(dir, '@modelcontextprotocol'))) return dir;
  }
  return null;
}

function resolveExport(pkgDir, sub) {
  const pkg = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const pick = (t) =>
    typeof t === 'string' ? t : t && (pick(t.import) ?? pick(t.node) ?? pick(t.default));
  const ex = pkg.exports;
  if (!ex) return path.join(pkgDir, sub === '.' ? (pkg.module ?? pkg.main ?? 'index.js') : sub);
  if (ex[sub]) return path.join(pkgDir, pick(ex[sub]));
  for (const [key, target] of Object.entries(ex)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const pre = key.slice(0, star);
    const post = key.slice(star + 1);
    if (sub.startsWith(pre) && sub.endsWith(post) && sub.length >= pre.length + post.length)
      return path.join(pkgDir, pick(target).replaceAll('*', sub.slice(pre.length, sub.length - post.length)));
  }
  throw new Error(`${sub} is not exported by ${pkgDir}`);
}

async function load(nm, spec) {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const sub = '.' + spec.slice(name.length);
  return import(pathToFileURL(resolveExport(path.join(nm, name), sub)).href);
}

const NM = nodeModulesDir();
if (!NM) {
  console.log('SKIP: node_modules missing; run `npm ci` in tests/interop/node');
  process.exit(77);
}
const BIN = process.argv[2] ?? process.env.PLEXUS_BINARY;
if (!BIN || !existsSync(BIN)) {
  console.error(`usage: node v1_http.mjs <plexus binary> (got ${BIN ?? 'nothing'})`);
  process.exit(2);
}

const { Client } = await load(NM, '@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } =
  await load(NM, '@modelcontextprotocol/sdk/client/streamableHttp.js');
const { SSEClientTransport } = await load(NM, '@modelcontextprotocol/sdk/client/sse.js');
const { WebSocketClientTransport } = await load(NM, '@modelcontextprotocol/sdk/client/websocket.js');
// The SDK's WebSocketClientTransport uses the global WebSocket, which Node 20 lacks: the pinned
// `ws` package stands in (its EventTarget interface is what the transport uses). Every socket
// opened is recorded so that the negotiated subprotocol can be checked.
if (!existsSync(path.join(NM, 'ws', 'package.json'))) {
  console.log('SKIP: the pinned `ws` package is missing; run `npm ci` in tests/interop/node');
  process.exit(77);
}
const { WebSocket: WsWebSocket } = await load(NM, 'ws');
const sockets = [];
globalThis.WebSocket = class extends WsWebSocket {
  constructor(...args) {
    super(...args);
    sockets.push(this);
  }
};
const T = await load(NM, '@modelcontextprotocol/sdk/types.js');
const SDK_VERSION = JSON.parse(
  readFileSync(path.join(NM, '@modelcontextprotocol/sdk/package.json'), 'utf8')).version;

// ---- check harness ---------------------------------------------------------------------------
let passed = 0;
const failures = [];
let prefix = '';
const SCRIPT = path.basename(fileURLToPath(import.meta.url));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function check(name, fn, ms = 20000) {
  const label = `${prefix}${name}`;
  try {
    await withTimeout(Promise.resolve().then(fn), ms, label);
    passed++;
    console.log(`ok   ${label}`);
  } catch (e) {
    failures.push(label);
    const where = String(e?.stack ?? '').split('\n').find((l) => l.includes(SCRIPT)) ?? '';
    const msg = String(e?.message ?? e).split('\n').slice(0, 40).join('\n     ');
    console.log(`FAIL ${label}\n     ${msg}${where ? `\n     ${where.trim()}` : ''}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, ms, what) {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`not seen within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

function onlyText(result) {
  assert.equal(result.content?.length, 1, `one content block expected: ${JSON.stringify(result)}`);
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

// Text like "<prefix><json>": checks the prefix and returns the parsed JSON tail.
function jsonAfter(text, head) {
  assert.ok(text.startsWith(head), `expected ${JSON.stringify(head)}… got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(head.length));
}

async function rejectsWithCode(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `expected error code ${code}, got ${e.code}: ${e.message}`);
    return true;
  });
}

async function listAll(fn, field) {
  const out = [];
  let cursor;
  for (let page = 0; page < 50; page++) {
    const r = await fn(cursor ? { cursor } : undefined);
    out.push(...r[field]);
    if (!r.nextCursor) return out;
    cursor = r.nextCursor;
  }
  throw new Error(`${field}: pagination did not end`);
}

// ---- fixtures (src/servers/everything.cpp) ---------------------------------------------------
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV_MIN = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
const INSTRUCTIONS =
  'The Plexus everything server: every MCP feature, for testing clients and gateways.';
const TOOLS = [
  'echo', 'test_x_mcp_header', 'add', 'stats', 'long_running_operation', 'test_simple_text',
  'test_image_content', 'test_audio_content', 'test_embedded_resource',
  'test_multiple_content_types', 'test_tool_with_logging', 'test_logging_tool',
  'test_tool_with_progress', 'test_error_handling', 'test_reconnection', 'test_sampling',
  'test_elicitation', 'test_elicitation_sep1034_defaults', 'test_elicitation_sep1330_enums',
  'json_schema_2020_12_tool', 'test_missing_capability', 'test_streaming_elicitation',
  'test_trigger_tool_change', 'test_trigger_prompt_change', 'test_trigger_resource_update',
  'test_input_required_result_elicitation', 'test_input_required_result_sampling',
  'test_input_required_result_list_roots', 'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs', 'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state', 'test_input_required_result_capabilities',
];
const PROMPTS = [
  'test_simple_prompt', 'test_prompt_with_arguments', 'test_prompt_with_embedded_resource',
  'test_prompt_with_image', 'test_input_required_result_prompt',
];
const ROOTS = [
  { uri: 'file:///interop/one', name: 'one' },
  { uri: 'file:///interop/two', name: 'two' },
];
// What the elicitation handler answers, per requested property.
const ANSWERS = {
  name: 'Ada', username: 'ada', email: 'ada@example.com', ok: true, color: 'teal',
  context: 'interop-context',
};
const ENUM_ANSWER = {
  untitledSingle: 'option2', titledSingle: 'value3', legacyEnum: 'opt1',
  untitledMulti: ['option1', 'option3'], titledMulti: ['value2'],
};
const DEFAULTS = { name: 'John Doe', age: 30, score: 95.5, status: 'active', verified: true };
const sampled = (prompt) => `sampled[${prompt}]`;

// ---- the server under test ------------------------------------------------------------------
async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.listen(0, '127.0.0.1', resolve).on('error', reject));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// Spawns `plexus everything --http 127.0.0.1:PORT` on a free port and waits for its ready line.
async function startServer() {
  const port = await freePort();
  const proc = spawn(BIN, ['everything', '--http', `127.0.0.1:${port}`],
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
async function stopServer(server) {
  if (!server.exit) server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 5000);
  const e = await server.exited;
  clearTimeout(timer);
  return e;
}

// A fetch that records every HTTP exchange the SDK makes (method, url, request headers, status).
function tappedFetch(log) {
  return async (url, init = {}) => {
    const entry = { t: Date.now(), method: init.method ?? 'GET', url: String(url),
      headers: Object.fromEntries(new Headers(init.headers ?? {}).entries()),
      body: typeof init.body === 'string' ? init.body : undefined, status: undefined };
    log.push(entry);
    const res = await fetch(url, init);
    entry.status = res.status;
    entry.responseHeaders = Object.fromEntries(res.headers.entries());
    return res;
  };
}

// ---- one full run against a fresh server process ---------------------------------------------
// `kind`: streamable | sse | websocket. `version`: the protocolVersion the initialize request
// carries. The v1 SDK always offers its LATEST_PROTOCOL_VERSION; older ones are selected by
// rewriting the outgoing initialize request on the transport (the SDK accepts any version in its
// SUPPORTED_PROTOCOL_VERSIONS back).
async function runSuite(kind, version) {
  prefix = `[v1 ${kind} ${version}] `;
  const structured = version >= '2025-06-18';
  let server;
  await check('server starts on a free loopback port', async () => { server = await startServer(); });
  if (!server) return;
  const base = `http://127.0.0.1:${server.port}`;
  const http = [];
  const socketsBefore = sockets.length;
  let transport;
  if (kind === 'streamable')
    transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { fetch: tappedFetch(http) });
  else if (kind === 'sse')
    transport = new SSEClientTransport(new URL(`${base}/sse`), { fetch: tappedFetch(http) });
  else transport = new WebSocketClientTransport(new URL(`ws://127.0.0.1:${server.port}/ws`));
  // Wire tap: Protocol.connect() chains a pre-set onmessage; send is wrapped on the instance.
  const wireIn = [];
  const wireOut = [];
  const errors = [];
  transport.onmessage = (m) => wireIn.push({ t: Date.now(), m });
  transport.onerror = (e) => errors.push({ t: Date.now(), e });
  const send = transport.send.bind(transport);
  transport.send = async (m, opts) => {
    if (m.method === 'initialize') m = { ...m, params: { ...m.params, protocolVersion: version } };
    wireOut.push({ t: Date.now(), m });
    return send(m, opts);
  };

  const client = new Client(
    { name: 'plexus-interop-v1', version: SDK_VERSION },
    { capabilities: { sampling: {}, elicitation: { form: { applyDefaults: true } }, roots: {} } },
  );
  const elicitations = [];
  const samplings = [];
  let rootsAsked = 0;
  const logs = [];
  const updated = [];
  const listChanged = { tools: 0, prompts: 0 };
  client.setRequestHandler(T.ElicitRequestSchema, async (req) => {
    elicitations.push(req.params);
    const props = req.params.requestedSchema?.properties ?? {};
    if ('untitledSingle' in props) return { action: 'accept', content: { ...ENUM_ANSWER } };
    if ('verified' in props) return { action: 'accept', content: {} };  // client applies defaults
    const content = {};
    for (const k of Object.keys(props)) if (k in ANSWERS) content[k] = ANSWERS[k];
    return { action: 'accept', content };
  });
  client.setRequestHandler(T.CreateMessageRequestSchema, async (req) => {
    samplings.push(req.params);
    const last = req.params.messages.at(-1);
    return { model: 'interop-model', role: 'assistant',
      content: { type: 'text', text: sampled(last.content.text) } };
  });
  client.setRequestHandler(T.ListRootsRequestSchema, async () => {
    rootsAsked++;
    return { roots: ROOTS };
  });
  client.setNotificationHandler(T.LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  client.setNotificationHandler(T.ResourceUpdatedNotificationSchema, (n) => updated.push(n.params));
  client.setNotificationHandler(T.ToolListChangedNotificationSchema, () => listChanged.tools++);
  client.setNotificationHandler(T.PromptListChangedNotificationSchema, () => listChanged.prompts++);

  // Progress is checked on the wire: every notification for the call's token, in order, before
  // its response. The v1 SDK itself drops a progress notification that arrives in the same read
  // as the response (Protocol._onnotification defers handlers to a microtask while _onresponse
  // synchronously removes the progress handler), so onprogress must only see a prefix of them.
  const checkProgress = (tool, seen, want) => {
    const req = wireOut.findLast((w) => w.m.method === 'tools/call' && w.m.params.name === tool);
    const token = req.m.params._meta?.progressToken;
    assert.notEqual(token, undefined, 'the SDK sent a progressToken');
    const respAt = wireIn.findIndex((w) => w.m.id === req.m.id && 'result' in w.m);
    const onWire = wireIn.map((w, i) => ({ ...w, i }))
      .filter((w) => w.m.method === 'notifications/progress' && w.m.params.progressToken === token);
    assert.deepEqual(onWire.map((w) => [w.m.params.progress, w.m.params.total, w.m.params.message]),
      want, 'notifications/progress on the wire');
    assert.ok(onWire.every((w) => w.i < respAt), 'every progress notification precedes the result');
    const got = seen.map((p) => [p.progress, p.total, p.message]);
    assert.ok(got.length >= want.length - 1, `onprogress saw ${got.length} of ${want.length}`);
    assert.deepEqual(got, want.slice(0, got.length), 'onprogress saw the notifications in order');
  };

  const called = new Set();
  const call = (name, args = {}, opts) => {
    called.add(name);
    return client.callTool({ name, arguments: args }, undefined, opts);
  };
  const callText = async (name, args) => {
    const r = await call(name, args);
    assert.equal(r.isError ?? false, false, `${name} failed: ${JSON.stringify(r)}`);
    return onlyText(r);
  };

  let connected = false;
  await check('connect (initialize handshake)', async () => {
    await client.connect(transport);
    connected = true;
    const init = wireIn.find((w) => w.m.id !== undefined && w.m.result?.protocolVersion);
    assert.equal(init?.m.result.protocolVersion, version, 'negotiated version');
    assert.equal(client.getServerVersion()?.name, 'plexus-everything');
    assert.equal(client.getInstructions(), INSTRUCTIONS);
    const caps = client.getServerCapabilities();
    assert.deepEqual(caps.tools, { listChanged: true });
    assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
    assert.deepEqual(caps.prompts, { listChanged: true });
    assert.ok(caps.logging && caps.completions, 'logging and completions capabilities');
    const sent = wireOut.map((w) => w.m.method);
    assert.deepEqual(sent.slice(0, 2), ['initialize', 'notifications/initialized']);
  });
  if (!connected) {
    await client.close().catch(() => {});
    await stopServer(server);
    console.log(`     server stderr:\n${server.stderr}`);
    return;
  }

  // ---- the transport itself ----
  if (kind === 'streamable') {
    await check('Streamable HTTP: session id assigned on initialize and sent on every later request', async () => {
      const sid = transport.sessionId;
      assert.match(sid ?? '', /^[\x21-\x7e]+$/, `a visible-ASCII Mcp-Session-Id, got ${sid}`);
      const [init, ...rest] = http.filter((h) => h.method === 'POST');
      assert.equal(JSON.parse(init.body).method, 'initialize');
      assert.equal(init.status, 200);
      assert.equal(init.responseHeaders['mcp-session-id'], sid);
      assert.equal(init.headers['mcp-session-id'], undefined, 'initialize carries no session id');
      assert.ok(rest.length >= 1, 'requests after initialize');
      for (const h of rest) {
        assert.equal(h.headers['mcp-session-id'], sid, `${h.body} carries the session id`);
        assert.equal(h.headers['mcp-protocol-version'], version, `${h.body} carries MCP-Protocol-Version`);
      }
      const initialized = rest.find((h) => JSON.parse(h.body).method === 'notifications/initialized');
      assert.equal(initialized?.status, 202, 'notifications/initialized → 202 Accepted');
    });
    await check('Streamable HTTP: standalone GET SSE stream opened after initialized', async () => {
      await waitFor(() => http.some((h) => h.method === 'GET' && h.status !== undefined), 2000,
        'the GET stream');
      const get = http.find((h) => h.method === 'GET');
      assert.equal(get.status, 200);
      assert.equal(get.responseHeaders['content-type']?.split(';')[0], 'text/event-stream');
      assert.equal(get.headers['mcp-session-id'], transport.sessionId);
      assert.equal(get.headers.accept, 'text/event-stream');
    });
  } else if (kind === 'sse') {
    await check('HTTP+SSE: GET /sse stream, endpoint event, POSTs to /messages?sessionId=… → 202', async () => {
      const [get, ...posts] = http;
      assert.equal(get.method, 'GET');
      assert.equal(get.url, `${base}/sse`);
      assert.equal(get.status, 200);
      assert.equal(get.responseHeaders['content-type']?.split(';')[0], 'text/event-stream');
      assert.ok(posts.length >= 2, 'initialize and initialized were POSTed');
      const u = new URL(posts[0].url);
      assert.equal(`${u.origin}${u.pathname}`, `${base}/messages`);
      assert.match(u.searchParams.get('sessionId') ?? '', /^[\x21-\x7e]+$/);
      for (const h of posts) {
        assert.equal(h.method, 'POST');
        assert.equal(h.url, posts[0].url, 'every message goes to the one endpoint');
        assert.equal(h.status, 202, `${h.body} → 202 Accepted`);
      }
    });
  } else {
    await check('WebSocket: /ws upgrade negotiated subprotocol "mcp"', async () => {
      assert.equal(sockets.length, socketsBefore + 1, 'one socket opened');
      const ws = sockets.at(-1);
      assert.equal(ws.url, `ws://127.0.0.1:${server.port}/ws`);
      assert.equal(ws.protocol, 'mcp');
      assert.equal(ws.readyState, WsWebSocket.OPEN);
    });
  }

  await check('ping', async () => assert.deepEqual(await client.ping(), {}));

  let tools = [];
  await check('tools/list', async () => {
    tools = await listAll((p) => client.listTools(p), 'tools');
    assert.deepEqual(tools.map((t) => t.name).sort(), [...TOOLS].sort());
    for (const t of tools) assert.equal(t.inputSchema.type, 'object', `${t.name} inputSchema`);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.echo.annotations?.readOnlyHint, true);
    assert.deepEqual(byName.add.inputSchema.required, ['a', 'b']);
    if (structured) assert.equal(byName.stats.outputSchema?.type, 'object', 'stats outputSchema');
    else assert.equal(byName.stats.outputSchema, undefined, `no outputSchema in ${version}`);
  });
  await check('resources/list', async () => {
    const rs = await listAll((p) => client.listResources(p), 'resources');
    assert.deepEqual(rs.map((r) => [r.uri, r.name, r.mimeType]).sort(), [
      ['test://static-binary', 'static-binary', 'image/png'],
      ['test://static-text', 'static-text', 'text/plain'],
      ['test://watched-resource', 'watched-resource', 'text/plain'],
    ]);
  });
  await check('resources/templates/list', async () => {
    const ts = await listAll((p) => client.listResourceTemplates(p), 'resourceTemplates');
    assert.deepEqual(ts.map((t) => [t.uriTemplate, t.name, t.mimeType]),
      [['test://template/{id}/data', 'template', 'application/json']]);
  });
  await check('prompts/list', async () => {
    const ps = await listAll((p) => client.listPrompts(p), 'prompts');
    assert.deepEqual(ps.map((p) => p.name).sort(), [...PROMPTS].sort());
    const withArgs = ps.find((p) => p.name === 'test_prompt_with_arguments');
    assert.deepEqual(withArgs.arguments.map((a) => [a.name, a.required]),
      [['arg1', true], ['arg2', true]]);
  });

  // ---- tools ----
  await check('tools/call echo', async () =>
    assert.equal(await callText('echo', { text: 'héllo ✓ "quoted"' }), 'héllo ✓ "quoted"'));
  await check('tools/call echo without arguments → isError', async () => {
    const r = await call('echo', {});
    assert.equal(r.isError, true);
  });
  await check('tools/call test_x_mcp_header', async () => {
    assert.equal(await callText('test_x_mcp_header', { region: 'eu-west', level: 3 }), 'region=eu-west');
    assert.equal(await callText('test_x_mcp_header', {}), 'region=unset');
  });
  await check('tools/call add', async () => {
    assert.equal(await callText('add', { a: 2, b: 3 }), '5');
    assert.equal(await callText('add', { a: -7, b: 2 }), '-5');
  });
  // number_text() in everything.cpp falls back to Boost.JSON's serializer for non-integers,
  // which writes 3.75 as "3.75E0" and 0.5 as "5E-1"; the texts should read as plain decimals.
  await check('tools/call add: a non-integer sum reads as a plain decimal ("3.75")', async () =>
    assert.equal(await callText('add', { a: 1.5, b: 2.25 }), '3.75'));
  await check('long_running_operation text: a fractional duration reads "0.5 s"', async () =>
    assert.equal(await callText('long_running_operation', { duration: 0.5, steps: 1 }),
      'Long running operation completed: 1 steps in 0.5 s'));
  await check('tools/call add with a string → isError', async () => {
    const r = await call('add', { a: 'x', b: 1 });
    assert.equal(r.isError, true);
  });
  await check('tools/call stats (structured output)', async () => {
    const r = await call('stats', { numbers: [1, 2, 3, 4] });
    const want = { count: 4, sum: 10, mean: 2.5, min: 1, max: 4 };
    assert.equal(r.isError ?? false, false);
    assert.deepEqual(JSON.parse(onlyText(r)), want, 'text mirror');
    if (structured) assert.deepEqual(r.structuredContent, want);
    else assert.equal(r.structuredContent, undefined, `no structuredContent in ${version}`);
  });
  await check('tools/call stats with no numbers → isError', async () => {
    const r = await call('stats', { numbers: [] });
    assert.equal(r.isError, true);
  });
  await check('tools/call long_running_operation with progress', async () => {
    const progress = [];
    const r = await call('long_running_operation', { duration: 1, steps: 4 },
      { onprogress: (p) => progress.push(p) });
    assert.equal(onlyText(r), 'Long running operation completed: 4 steps in 1 s');
    checkProgress('long_running_operation', progress, [
      [1, 4, 'step 1 of 4'], [2, 4, 'step 2 of 4'], [3, 4, 'step 3 of 4'], [4, 4, 'step 4 of 4'],
    ]);
  });
  await check('tools/call test_simple_text', async () =>
    assert.equal(await callText('test_simple_text'), 'This is a simple text response for testing.'));
  await check('tools/call test_image_content', async () => {
    const r = await call('test_image_content');
    assert.deepEqual(r.content, [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }]);
  });
  await check('tools/call test_audio_content', async () => {
    const r = await call('test_audio_content');
    assert.deepEqual(r.content, [{ type: 'audio', data: WAV_MIN, mimeType: 'audio/wav' }]);
  });
  await check('tools/call test_embedded_resource', async () => {
    const r = await call('test_embedded_resource');
    assert.deepEqual(r.content, [{ type: 'resource', resource: {
      uri: 'test://embedded-resource', text: 'This is an embedded resource content.',
      mimeType: 'text/plain' } }]);
  });
  await check('tools/call test_multiple_content_types', async () => {
    const r = await call('test_multiple_content_types');
    assert.deepEqual(r.content, [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource',
        text: '{"test":"data","value":123}', mimeType: 'application/json' } },
    ]);
  });
  const LOG_LINES = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
  await check('logging/setLevel info + test_tool_with_logging → 3 log messages', async () => {
    assert.deepEqual(await client.setLoggingLevel('info'), {});
    logs.length = 0;
    assert.equal(await callText('test_tool_with_logging'), 'Tool with logging executed successfully');
    await waitFor(() => logs.length >= 3, 2000, 'three notifications/message');
    assert.deepEqual(logs.map((l) => [l.level, l.data]), LOG_LINES.map((d) => ['info', d]));
  });
  await check('logging/setLevel warning silences info (test_logging_tool)', async () => {
    await client.setLoggingLevel('warning');
    logs.length = 0;
    assert.equal(await callText('test_logging_tool'), 'Tool with logging executed successfully');
    await sleep(150);
    assert.deepEqual(logs, []);
  });
  await check('logging/setLevel debug + test_logging_tool → 3 log messages', async () => {
    await client.setLoggingLevel('debug');
    logs.length = 0;
    assert.equal(await callText('test_logging_tool'), 'Tool with logging executed successfully');
    await waitFor(() => logs.length >= 3, 2000, 'three notifications/message');
    assert.deepEqual(logs.map((l) => [l.level, l.data]), LOG_LINES.map((d) => ['info', d]));
  });
  await check('logging/setLevel with an unknown level → -32602', async () =>
    rejectsWithCode(client.setLoggingLevel('verbose'), -32602));
  await check('tools/call test_tool_with_progress', async () => {
    const progress = [];
    const r = await call('test_tool_with_progress', {}, { onprogress: (p) => progress.push(p) });
    assert.equal(onlyText(r), 'Tool with progress completed');
    checkProgress('test_tool_with_progress', progress, [
      [0, 100, 'Completed step 1 of 3'], [50, 100, 'Completed step 2 of 3'],
      [100, 100, 'Completed step 3 of 3'],
    ]);
  });
  await check('tools/call test_error_handling → isError', async () => {
    const r = await call('test_error_handling');
    assert.equal(r.isError, true);
    assert.equal(onlyText(r), 'This tool intentionally returns an error for testing');
  });
  // The server decides when to close the stream on a worker thread, so the call is made three
  // times: every one must behave.
  await check('tools/call test_reconnection (3 times)', async () => {
    for (let round = 1; round <= 3; round++) {
      const before = http.length;
      const r = await call('test_reconnection', {}, { timeout: 8000 });
      assert.equal(onlyText(r), 'Reconnection test completed successfully. The result was delivered.',
        `round ${round}`);
      if (kind !== 'streamable') continue;
      const req = wireOut.findLast((w) => w.m.method === 'tools/call' && w.m.params.name === 'test_reconnection');
      const mine = http.slice(before);
      const post = mine.find((h) => h.method === 'POST' && JSON.parse(h.body).id === req.m.id);
      assert.equal(post?.status, 200);
      const type = post.responseHeaders['content-type']?.split(';')[0];
      const resumes = mine.filter((h) => h.method === 'GET' && h.headers['last-event-id'] !== undefined);
      const seen = JSON.stringify(mine.map((h) => [h.method, h.status, h.headers['last-event-id'] ?? null]));
      const res = wireIn.filter((w) => w.m.id === req.m.id && 'result' in w.m);
      assert.equal(res.length, 1, 'exactly one result');
      if (version < '2025-11-25') {
        // No priming events before 2025-11-25 (SEP-1699): a stream closed before the result
        // could not be resumed, so the result comes on the POST stream itself.
        assert.equal(resumes.length, 0, `round ${round}: no resumption GET in ${version}, got ${seen}`);
        assert.ok(['application/json', 'text/event-stream'].includes(type), type);
        continue;
      }
      // SEP-1699: the server answered the POST with an SSE stream, sent a priming event (an id
      // and a retry hint, no data) and closed it before the result; the SDK resumed with GET +
      // Last-Event-ID and the result arrived on that stream.
      assert.equal(type, 'text/event-stream', `round ${round}: the POST is answered with a stream`);
      assert.equal(resumes.length, 1,
        `round ${round}: one resumption GET expected (HTTP exchanges of the call: ${seen})`);
      assert.equal(resumes[0].status, 200);
      assert.equal(resumes[0].headers['mcp-session-id'], transport.sessionId);
      assert.match(resumes[0].headers['last-event-id'], /^\S+$/);
      assert.ok(res[0].t >= resumes[0].t, 'the result arrived after the resumption');
    }
    assert.deepEqual(errors.filter((e) => /reconnect/i.test(e.e?.message)).map((e) => e.e.message), []);
  }, 40000);
  await check('tools/call test_sampling (sampling/createMessage answered)', async () => {
    samplings.length = 0;
    assert.equal(await callText('test_sampling', { prompt: 'Tell me a joke' }),
      `LLM response: ${sampled('Tell me a joke')}`);
    assert.equal(samplings.length, 1);
    assert.equal(samplings[0].maxTokens, 100);
    assert.deepEqual(samplings[0].messages,
      [{ role: 'user', content: { type: 'text', text: 'Tell me a joke' } }]);
  });
  await check('tools/call test_elicitation (elicitation/create answered)', async () => {
    elicitations.length = 0;
    const text = await callText('test_elicitation', { message: 'Who are you?' });
    assert.deepEqual(jsonAfter(text, 'User response: action=accept, content='),
      { username: 'ada', email: 'ada@example.com' });
    assert.equal(elicitations.length, 1);
    assert.equal(elicitations[0].message, 'Who are you?');
    assert.deepEqual(elicitations[0].requestedSchema.required, ['username', 'email']);
    // "mode" exists since 2025-11-25; the server leaves it out for older clients.
    if (version === '2025-11-25') assert.equal(elicitations[0].mode, 'form');
    else assert.equal(elicitations[0].mode, undefined, `no mode field in ${version}`);
  });
  await check('tools/call test_elicitation_sep1034_defaults (client applies defaults)', async () => {
    const text = await callText('test_elicitation_sep1034_defaults');
    assert.deepEqual(jsonAfter(text, 'Elicitation completed: action=accept, content='), DEFAULTS);
  });
  await check('tools/call test_elicitation_sep1330_enums', async () => {
    const text = await callText('test_elicitation_sep1330_enums');
    assert.deepEqual(jsonAfter(text, 'Elicitation completed: action=accept, content='), ENUM_ANSWER);
  });
  await check('tools/call json_schema_2020_12_tool', async () => {
    const args = { name: 'Ada', address: { street: '1 Main St', city: 'Paris' } };
    const text = await callText('json_schema_2020_12_tool', args);
    assert.deepEqual(jsonAfter(text, 'JSON Schema 2020-12 tool called with: '), args);
  });
  await check('tools/call test_missing_capability (sampling declared)', async () =>
    assert.equal(await callText('test_missing_capability'), `Sampled: "${sampled('Say hello')}"`));
  await check('tools/call test_streaming_elicitation', async () => {
    const text = await callText('test_streaming_elicitation');
    assert.deepEqual(jsonAfter(text, 'Elicitation: action=accept, content='), { name: 'Ada' });
  });
  await check('tools/call test_trigger_tool_change → notifications/tools/list_changed', async () => {
    listChanged.tools = 0;
    assert.equal(await callText('test_trigger_tool_change'), 'tools list_changed published');
    await waitFor(() => listChanged.tools === 1, 2000, 'notifications/tools/list_changed');
  });
  await check('tools/call test_trigger_prompt_change → notifications/prompts/list_changed', async () => {
    listChanged.prompts = 0;
    assert.equal(await callText('test_trigger_prompt_change'), 'prompts list_changed published');
    await waitFor(() => listChanged.prompts === 1, 2000, 'notifications/prompts/list_changed');
  });
  await check('resources/subscribe + test_trigger_resource_update → notifications/resources/updated', async () => {
    assert.deepEqual(await client.subscribeResource({ uri: 'test://watched-resource' }), {});
    updated.length = 0;
    assert.equal(await callText('test_trigger_resource_update'), 'resource update published');
    await waitFor(() => updated.length >= 1, 2000, 'notifications/resources/updated');
    assert.deepEqual(updated, [{ uri: 'test://watched-resource' }]);
  });
  await check('resources/unsubscribe stops notifications/resources/updated', async () => {
    assert.deepEqual(await client.unsubscribeResource({ uri: 'test://watched-resource' }), {});
    updated.length = 0;
    assert.equal(await callText('test_trigger_resource_update'), 'resource update published');
    await sleep(200);
    assert.deepEqual(updated, []);
  });

  // MRTR-style tools: in the legacy era the server asks through real server→client requests.
  await check('tools/call test_input_required_result_elicitation', async () =>
    assert.equal(await callText('test_input_required_result_elicitation'), 'Hello, Ada!'));
  await check('tools/call test_input_required_result_sampling', async () =>
    assert.equal(await callText('test_input_required_result_sampling'),
      `The model said: ${sampled('What is the capital of France?')}`));
  await check('tools/call test_input_required_result_list_roots', async () => {
    const before = rootsAsked;
    assert.equal(await callText('test_input_required_result_list_roots'),
      'Roots: file:///interop/one file:///interop/two');
    assert.equal(rootsAsked, before + 1);
  });
  await check('tools/call test_input_required_result_request_state (no requestState in legacy)', async () =>
    assert.equal(await callText('test_input_required_result_request_state'), 'state-missing'));
  await check('tools/call test_input_required_result_multiple_inputs', async () => {
    const got = jsonAfter(await callText('test_input_required_result_multiple_inputs'),
      'Received 3 inputs: ');
    assert.deepEqual(got.user_name, { action: 'accept', content: { name: 'Ada' } });
    assert.deepEqual(got.client_roots, { roots: ROOTS });
    assert.deepEqual([got.greeting.model, got.greeting.role, got.greeting.content],
      ['interop-model', 'assistant', { type: 'text', text: sampled('Write a greeting') }]);
  });
  await check('tools/call test_input_required_result_multi_round', async () =>
    assert.equal(await callText('test_input_required_result_multi_round'),
      'Done: {"name":"Ada"} {"color":"teal"}'));
  await check('tools/call test_input_required_result_tampered_state', async () =>
    assert.equal(await callText('test_input_required_result_tampered_state'),
      'confirmed: action=accept'));
  await check('tools/call test_input_required_result_capabilities', async () =>
    assert.equal(await callText('test_input_required_result_capabilities'), 'Received 3 inputs'));
  await check('server→client requests are JSON-RPC requests with ids', async () => {
    const asks = wireIn.filter((w) => w.m.method && w.m.id !== undefined).map((w) => w.m.method);
    for (const m of ['elicitation/create', 'sampling/createMessage', 'roots/list'])
      assert.ok(asks.includes(m), `${m} seen as a request`);
  });

  await check('concurrent calls with interleaved server→client requests', async () => {
    const got = await Promise.all([
      callText('test_input_required_result_elicitation'),
      callText('test_input_required_result_sampling'),
      callText('test_input_required_result_list_roots'),
      callText('test_input_required_result_multi_round'),
      callText('test_elicitation', { message: 'Concurrent?' }),
      callText('echo', { text: 'in between' }),
      callText('test_input_required_result_elicitation'),
    ]);
    assert.deepEqual(got, ['Hello, Ada!', `The model said: ${sampled('What is the capital of France?')}`,
      'Roots: file:///interop/one file:///interop/two', 'Done: {"name":"Ada"} {"color":"teal"}',
      'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
      'in between', 'Hello, Ada!']);
  });
  await check('tools/call of an unknown tool → -32602', async () =>
    rejectsWithCode(client.callTool({ name: 'no_such_tool', arguments: {} }), -32602));

  // ---- cancellation ----
  await check('cancel long_running_operation via AbortSignal', async () => {
    const ac = new AbortController();
    const progress = [];
    const started = Date.now();
    const pending = call('long_running_operation', { duration: 6, steps: 60 },
      { signal: ac.signal, onprogress: (p) => progress.push(p) });
    await waitFor(() => progress.length >= 2, 5000, 'two progress notifications');
    ac.abort('interop cancel');
    await assert.rejects(pending);
    const req = wireOut.findLast((w) => w.m.method === 'tools/call' &&
      w.m.params.name === 'long_running_operation');
    const token = req.m.params._meta?.progressToken;
    const cancel = wireOut.findLast((w) => w.m.method === 'notifications/cancelled');
    assert.equal(cancel?.m.params.requestId, req.m.id, 'notifications/cancelled names the call');
    // The server stops: a later call is answered promptly, no result for the cancelled id ever
    // arrives, and progress stops shortly after the cancellation.
    assert.equal(await callText('echo', { text: 'after cancel' }), 'after cancel');
    await sleep(800);
    const leaked = wireIn.filter((w) => w.m.id === req.m.id && ('result' in w.m || 'error' in w.m));
    assert.deepEqual(leaked.map((w) => w.m), [], 'no response for the cancelled request');
    const late = wireIn.filter((w) => w.m.method === 'notifications/progress' &&
      w.m.params.progressToken === token && w.t > cancel.t + 300);
    assert.equal(late.length, 0, `progress after cancellation: ${late.length}`);
    assert.ok(Date.now() - started < 5000, 'the whole exchange took less than the 6 s run');
  });
  await check('long_running_operation still completes after a cancellation', async () =>
    assert.equal(await callText('long_running_operation', { duration: 1, steps: 2 }),
      'Long running operation completed: 2 steps in 1 s'));

  // ---- resources ----
  await check('resources/read test://static-text', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://static-text' })).contents, [
      { uri: 'test://static-text', mimeType: 'text/plain',
        text: 'This is the content of the static text resource.' }]));
  await check('resources/read test://static-binary', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://static-binary' })).contents, [
      { uri: 'test://static-binary', mimeType: 'image/png', blob: PNG_1X1 }]));
  await check('resources/read test://watched-resource', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://watched-resource' })).contents, [
      { uri: 'test://watched-resource', mimeType: 'text/plain', text: 'Watched resource content' }]));
  await check('resources/read template test://template/42/data', async () => {
    const [c, ...rest] = (await client.readResource({ uri: 'test://template/42/data' })).contents;
    assert.equal(rest.length, 0);
    assert.equal(c.uri, 'test://template/42/data');
    assert.equal(c.mimeType, 'application/json');
    assert.deepEqual(JSON.parse(c.text), { id: '42', templateTest: true, data: 'Data for ID: 42' });
  });
  await check('resources/read of an unknown resource → -32002', async () =>
    rejectsWithCode(client.readResource({ uri: 'test://no-such-resource' }), -32002));

  // ---- prompts ----
  const userText = (text) => ({ role: 'user', content: { type: 'text', text } });
  await check('prompts/get test_simple_prompt', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_simple_prompt' })).messages,
      [userText('This is a simple prompt for testing.')]));
  await check('prompts/get test_prompt_with_arguments', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_arguments',
      arguments: { arg1: 'alpha', arg2: 'beta' } })).messages,
    [userText("Prompt with arguments: arg1='alpha', arg2='beta'")]));
  await check('prompts/get test_prompt_with_arguments without arguments → -32602', async () =>
    rejectsWithCode(client.getPrompt({ name: 'test_prompt_with_arguments', arguments: {} }), -32602));
  await check('prompts/get test_prompt_with_embedded_resource', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_embedded_resource',
      arguments: { resourceUri: 'test://static-text' } })).messages, [
      { role: 'user', content: { type: 'resource', resource: { uri: 'test://static-text',
        text: 'Embedded resource content for testing.', mimeType: 'text/plain' } } },
      userText('Please process the embedded resource above.'),
    ]));
  await check('prompts/get test_prompt_with_image', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_image' })).messages, [
      { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
      userText('Please analyze the image above.'),
    ]));
  await check('prompts/get test_input_required_result_prompt (elicitation)', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_input_required_result_prompt' })).messages,
      [userText('Context: interop-context')]));

  // ---- completion ----
  await check('completion/complete prompt argument', async () => {
    const ref = { type: 'ref/prompt', name: 'test_prompt_with_arguments' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg1', value: 'par' } }))
      .completion.values, ['paris', 'park', 'parade']);
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg2', value: 'r' } }))
      .completion.values, ['red']);
  });
  await check('completion/complete resource template variable', async () => {
    const ref = { type: 'ref/resource', uri: 'test://template/{id}/data' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'id', value: '1' } }))
      .completion.values, ['1', '123']);
  });

  await check('every listed tool was called', async () =>
    assert.deepEqual(tools.map((t) => t.name).filter((n) => !called.has(n)), []));

  // ---- ending the session ----
  if (kind === 'streamable') {
    await check('terminateSession → DELETE; the session id then answers 404', async () => {
      const sid = transport.sessionId;
      await transport.terminateSession();
      const del = http.findLast((h) => h.method === 'DELETE');
      assert.equal(del?.headers['mcp-session-id'], sid);
      assert.equal(del.status, 200, 'DELETE accepted');
      assert.equal(transport.sessionId, undefined, 'the SDK forgot the session');
      // The SDK's own transport, resuming the terminated session by id.
      const stale = new StreamableHTTPClientTransport(new URL(`${base}/mcp`),
        { sessionId: sid, fetch: tappedFetch(http) });
      stale.onerror = () => {};
      await stale.start();
      await assert.rejects(stale.send({ jsonrpc: '2.0', id: 'stale-1', method: 'ping' }), (e) => {
        assert.equal(e.code, 404, `${e.code}: ${e.message}`);
        return true;
      });
      await assert.rejects(stale.send({ jsonrpc: '2.0', id: 'stale-2', method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'x' } } }), (e) => e.code === 404);
      await stale.close();
      const staleGet = await fetch(`${base}/mcp`, { headers: { accept: 'text/event-stream',
        'mcp-session-id': sid, 'mcp-protocol-version': version } });
      await staleGet.body?.cancel();
      assert.equal(staleGet.status, 404, 'GET with the terminated session id');
      // The terminated client's next request has no session id at all: 400 Bad Request.
      await assert.rejects(client.ping(), (e) => {
        assert.equal(e.code, 400, `${e.code}: ${e.message}`);
        return true;
      });
    });
  }
  await client.close();
  if (kind === 'sse') {
    await check('HTTP+SSE: after the stream closes, its /messages endpoint answers 404', async () => {
      const url = http.find((h) => h.method === 'POST').url;
      await sleep(200);
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
      await r.body?.cancel();
      assert.equal(r.status, 404);
    });
  }
  if (kind === 'websocket') {
    await check('WebSocket: the client closed the socket', async () =>
      waitFor(() => sockets.at(-1).readyState === WsWebSocket.CLOSED, 2000, 'socket closed'));
    await check('WebSocket on /mcp too: a second client connects, pings and calls echo', async () => {
      const t = new WebSocketClientTransport(new URL(`ws://127.0.0.1:${server.port}/mcp`));
      const c = new Client({ name: 'plexus-interop-v1-ws-mcp', version: SDK_VERSION });
      await c.connect(t);
      try {
        assert.equal(sockets.at(-1).protocol, 'mcp');
        assert.equal(c.getServerVersion()?.name, 'plexus-everything');
        assert.deepEqual(await c.ping(), {});
        assert.deepEqual((await c.callTool({ name: 'echo', arguments: { text: 'over /mcp' } })).content,
          [{ type: 'text', text: 'over /mcp' }]);
      } finally {
        await c.close();
      }
    });
  }
  await check('server exits 0 on SIGTERM', async () =>
    assert.deepEqual(await stopServer(server), { code: 0, signal: null }));
  if (failures.some((f) => f.startsWith(prefix))) console.log(`     server stderr:\n${server.stderr}`);
}

// Streamable HTTP in the newest legacy revision and the first one that had it; HTTP+SSE in the
// revision that defined it and the newest; WebSocket in the newest.
const RUNS = (process.env.INTEROP_RUNS ??
  'streamable@2025-11-25,streamable@2025-03-26,sse@2024-11-05,sse@2025-11-25,websocket@2025-11-25')
  .split(',').map((r) => r.trim()).filter(Boolean).map((r) => r.split('@'));
try {
  for (const [kind, version] of RUNS) await runSuite(kind, version);
} catch (e) {
  failures.push(`${prefix}(aborted) ${e?.message ?? e}`);
  console.log(`FAIL ${prefix}aborted: ${e?.stack ?? e}`);
}

console.log(`\nv1_http (@modelcontextprotocol/sdk ${SDK_VERSION}): ${passed} passed, ${failures.length} failed` +
  ` (${RUNS.map((r) => r.join('@')).join(', ')})`);
for (const f of failures) console.log(`  failed: ${f}`);
process.exit(failures.length ? 1 : 0);
