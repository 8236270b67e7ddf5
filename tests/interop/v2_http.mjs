// Interop: the official MCP TypeScript SDK v2 client (@modelcontextprotocol/client, pinned in
// node/package-lock.json) drives `plexus everything --http 127.0.0.1:PORT` over Streamable HTTP
// (http://127.0.0.1:PORT/mcp) in the modern era (2026-07-28: stateless POSTs, server/discover,
// per-request _meta, MCP-Protocol-Version / Mcp-Method / Mcp-Name / Mcp-Param-* headers,
// input_required/MRTR, subscriptions/listen streams), plus a short legacy-era pass (sessions).
// The script starts the server on a free loopback port and stops it with SIGTERM at the end.
//
//   node v2_http.mjs [path/to/plexus]         (or PLEXUS_BINARY=...; run from tests/interop/node)
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
  console.error(`usage: node v2_http.mjs <plexus binary> (got ${BIN ?? 'nothing'})`);
  process.exit(2);
}

const { Client, StreamableHTTPClientTransport } = await load(NM, '@modelcontextprotocol/client');
const SDK_VERSION = JSON.parse(
  readFileSync(path.join(NM, '@modelcontextprotocol/client/package.json'), 'utf8')).version;
const MODERN = '2026-07-28';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CAPS = 'io.modelcontextprotocol/clientCapabilities';
const META_INFO = 'io.modelcontextprotocol/clientInfo';
const META_LOG = 'io.modelcontextprotocol/logLevel';
const META_SERVER = 'io.modelcontextprotocol/serverInfo';

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
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined, status: undefined };
    log.push(entry);
    const res = await fetch(url, init);
    entry.status = res.status;
    entry.responseHeaders = Object.fromEntries(res.headers.entries());
    return res;
  };
}

let server;
let MCP_URL;

// ---- connections -----------------------------------------------------------------------------
const FULL_CAPS = { sampling: {}, elicitation: { form: { applyDefaults: true } }, roots: {} };
const conns = [];

// Connects a v2 client over the SDK's own StreamableHTTPClientTransport with the given
// capabilities and version negotiation. The JSON-RPC wire is tapped on the transport
// (Protocol.connect() chains a pre-set onmessage; send is wrapped on the instance) and the HTTP
// exchanges through the transport's fetch option.
async function open(capabilities, versionNegotiation) {
  const conn = { http: [], wireIn: [], wireOut: [], errors: [],
    elicitations: [], samplings: [], rootsAsked: 0, logs: [], updated: [],
    listChanged: { tools: 0, prompts: 0, resources: 0 }, called: new Set() };
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { fetch: tappedFetch(conn.http) });
  conn.transport = transport;
  transport.onmessage = (m) => conn.wireIn.push({ t: Date.now(), m });
  const send = transport.send.bind(transport);
  transport.send = async (m, opts) => {
    conn.wireOut.push({ t: Date.now(), m: structuredClone(m) });
    return send(m, opts);
  };
  const client = new Client({ name: 'plexus-interop-v2', version: SDK_VERSION },
    { capabilities, versionNegotiation });
  conn.client = client;
  client.onerror = (e) => conn.errors.push(e);
  if (capabilities.elicitation) {
    client.setRequestHandler('elicitation/create', async (req) => {
      conn.elicitations.push(req.params);
      const props = req.params.requestedSchema?.properties ?? {};
      if ('untitledSingle' in props) return { action: 'accept', content: { ...ENUM_ANSWER } };
      if ('verified' in props) return { action: 'accept', content: {} };  // client applies defaults
      const content = {};
      for (const k of Object.keys(props)) if (k in ANSWERS) content[k] = ANSWERS[k];
      return { action: 'accept', content };
    });
  }
  if (capabilities.sampling) {
    client.setRequestHandler('sampling/createMessage', async (req) => {
      conn.samplings.push(req.params);
      const last = req.params.messages.at(-1);
      return { model: 'interop-model', role: 'assistant',
        content: { type: 'text', text: sampled(last.content.text) } };
    });
  }
  if (capabilities.roots) {
    client.setRequestHandler('roots/list', async () => {
      conn.rootsAsked++;
      return { roots: ROOTS };
    });
  }
  client.setNotificationHandler('notifications/message', (n) => conn.logs.push(n.params));
  client.setNotificationHandler('notifications/resources/updated', (n) => conn.updated.push(n.params));
  client.setNotificationHandler('notifications/tools/list_changed', () => conn.listChanged.tools++);
  client.setNotificationHandler('notifications/prompts/list_changed', () => conn.listChanged.prompts++);
  client.setNotificationHandler('notifications/resources/list_changed', () => conn.listChanged.resources++);
  conns.push(conn);
  await client.connect(transport);
  return conn;
}

const call = (conn, name, args = {}, opts, extra = {}) => {
  conn.called.add(name);
  return conn.client.callTool({ name, arguments: args, ...extra }, opts);
};
const callText = async (conn, name, args, opts, extra) => {
  const r = await call(conn, name, args, opts, extra);
  assert.equal(r.isError ?? false, false, `${name} failed: ${JSON.stringify(r)}`);
  return onlyText(r);
};
// The tools/call requests the client put on the wire for `tool`, each with its answer.
function exchanges(conn, tool) {
  return conn.wireOut
    .filter((w) => w.m.method === 'tools/call' && w.m.params?.name === tool)
    .map((w) => ({ req: w.m, res: conn.wireIn.find((x) => x.m.id === w.m.id && !x.m.method)?.m }));
}
let rawId = 0;
// A modern-era POST made by hand (a request the SDK refuses to send, or headers it would not
// send): the _meta envelope and, unless overridden, the matching MCP-Protocol-Version,
// Mcp-Method and Mcp-Name headers. Returns the HTTP status and the parsed JSON-RPC answer.
async function raw(method, params = {}, headerOverrides = {}) {
  const id = `raw-${++rawId}`;
  const body = { jsonrpc: '2.0', id, method, params: { ...params, _meta: {
    [META_VERSION]: MODERN, [META_CAPS]: {}, [META_INFO]: { name: 'raw', version: '1' } } } };
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN, 'mcp-method': method };
  const name = method === 'resources/read' ? params.uri : params.name;
  if (name !== undefined) headers['mcp-name'] = name;
  for (const [k, v] of Object.entries(headerOverrides)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  const res = await fetch(MCP_URL, { method: 'POST', headers, body: JSON.stringify(body) });
  const type = res.headers.get('content-type')?.split(';')[0];
  const text = await res.text();
  let answer;
  if (type === 'application/json') answer = JSON.parse(text);
  else if (type === 'text/event-stream') {
    const datas = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
      .filter(Boolean).map((d) => JSON.parse(d));
    answer = datas.find((m) => m.id === id);
  }
  assert.equal(answer?.id, id, `an answer to ${method}: ${res.status} ${text.slice(0, 300)}`);
  return { status: res.status, type, answer };
}
const userText = (text) => ({ role: 'user', content: { type: 'text', text } });
const LOG_LINES = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];

// ---- modern era, full capabilities -----------------------------------------------------------
async function modernSuite() {
  prefix = `[v2 ${MODERN}] `;
  let c;
  await check("connect with versionNegotiation 'auto' → modern era", async () => {
    c = await open(FULL_CAPS, { mode: 'auto' });
    assert.equal(c.client.getProtocolEra(), 'modern');
    assert.equal(c.client.getNegotiatedProtocolVersion(), MODERN);
    assert.equal(c.client.getServerVersion()?.name, 'plexus-everything');
    assert.equal(c.client.getInstructions(), INSTRUCTIONS);
    assert.deepEqual(c.client.getDiscoverResult()?.supportedVersions, [MODERN]);
  });
  if (!c) return;
  const { client } = c;

  await check('server/discover', async () => {
    const d = await client.discover();
    assert.deepEqual(d.supportedVersions, [MODERN]);
    assert.deepEqual(d.capabilities.tools, { listChanged: true });
    assert.deepEqual(d.capabilities.resources, { subscribe: true, listChanged: true });
    assert.deepEqual(d.capabilities.prompts, { listChanged: true });
    assert.ok(d.capabilities.completions, 'completions capability');
    assert.equal(d.instructions, INSTRUCTIONS);
    const res = c.wireIn.findLast((w) => w.m.result?.supportedVersions).m.result;
    assert.equal(res.resultType, 'complete');
    assert.equal(res._meta?.[META_SERVER]?.name, 'plexus-everything');
  });

  let tools = [];
  await check('tools/list', async () => {
    ({ tools } = await client.listTools());
    assert.deepEqual(tools.map((t) => t.name).sort(), [...TOOLS].sort());
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.echo.annotations?.readOnlyHint, true);
    assert.equal(byName.stats.outputSchema?.type, 'object', 'stats outputSchema');
    const res = c.wireIn.findLast((w) => w.m.result?.tools).m.result;
    assert.equal(res.resultType, 'complete');
    assert.equal(typeof res.ttlMs, 'number', 'cacheable list carries ttlMs');
  });
  await check('resources/list', async () => {
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => [r.uri, r.name, r.mimeType]).sort(), [
      ['test://static-binary', 'static-binary', 'image/png'],
      ['test://static-text', 'static-text', 'text/plain'],
      ['test://watched-resource', 'watched-resource', 'text/plain'],
    ]);
  });
  await check('resources/templates/list', async () => {
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.deepEqual(resourceTemplates.map((t) => [t.uriTemplate, t.name, t.mimeType]),
      [['test://template/{id}/data', 'template', 'application/json']]);
  });
  await check('prompts/list', async () => {
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name).sort(), [...PROMPTS].sort());
  });

  // ---- tools ----
  await check('tools/call echo', async () =>
    assert.equal(await callText(c, 'echo', { text: 'héllo ✓ "quoted"' }), 'héllo ✓ "quoted"'));
  await check('tools/call echo without arguments → isError', async () =>
    assert.equal((await call(c, 'echo', {})).isError, true));
  // SEP-2243: the tool's inputSchema marks "region" with x-mcp-header "Region"; the SDK mirrors the
  // argument into Mcp-Param-Region (from the cached tools/list) and the server checks it.
  const lastPost = (tool) => c.http.findLast((h) => h.method === 'POST' &&
    h.body?.method === 'tools/call' && h.body.params?.name === tool);
  await check('tools/call test_x_mcp_header with region → Mcp-Param-Region header', async () => {
    assert.equal(await callText(c, 'test_x_mcp_header', { region: 'eu-west', level: 3 }), 'region=eu-west');
    const h = lastPost('test_x_mcp_header');
    assert.equal(h.status, 200);
    assert.equal(h.headers['mcp-param-region'], 'eu-west');
    assert.equal(h.headers['mcp-name'], 'test_x_mcp_header');
    assert.equal(h.headers['mcp-method'], 'tools/call');
    assert.deepEqual(Object.keys(h.headers).filter((k) => k.startsWith('mcp-param-')), ['mcp-param-region'],
      'only the declared argument is mirrored');
  });
  await check('tools/call test_x_mcp_header with a non-ASCII region (encoded header value)', async () => {
    assert.equal(await callText(c, 'test_x_mcp_header', { region: 'zürich ✓' }), 'region=zürich ✓');
    const v = lastPost('test_x_mcp_header').headers['mcp-param-region'];
    assert.match(v ?? '', /^[\x20-\x7e]+$/, `an ASCII header value, got ${v}`);
    assert.notEqual(v, 'zürich ✓');
  });
  await check('tools/call test_x_mcp_header without region → no Mcp-Param-Region header', async () => {
    assert.equal(await callText(c, 'test_x_mcp_header', {}), 'region=unset');
    assert.equal(lastPost('test_x_mcp_header').headers['mcp-param-region'], undefined);
  });
  await check('tools/call add', async () => {
    assert.equal(await callText(c, 'add', { a: 2, b: 3 }), '5');
    assert.equal(await callText(c, 'add', { a: -7, b: 2 }), '-5');
  });
  await check('tools/call add: a non-integer sum reads as a plain decimal ("3.75")', async () =>
    assert.equal(await callText(c, 'add', { a: 1.5, b: 2.25 }), '3.75'));
  await check('tools/call stats (structured output)', async () => {
    const r = await call(c, 'stats', { numbers: [1, 2, 3, 4] });
    const want = { count: 4, sum: 10, mean: 2.5, min: 1, max: 4 };
    assert.deepEqual(r.structuredContent, want);
    assert.deepEqual(JSON.parse(onlyText(r)), want, 'text mirror');
  });
  await check('tools/call stats with no numbers → isError', async () =>
    assert.equal((await call(c, 'stats', { numbers: [] })).isError, true));

  // Progress is checked on the wire: every notification for the call's token, in order,
  // before its result.
  const checkProgress = (tool, seen, want) => {
    const [{ req, res }] = exchanges(c, tool).slice(-1);
    const token = req.params._meta?.progressToken;
    assert.notEqual(token, undefined, 'the SDK sent a progressToken');
    assert.equal(res?.result?.resultType, 'complete');
    const respAt = c.wireIn.findIndex((w) => w.m === res);
    const onWire = c.wireIn.map((w, i) => ({ ...w, i }))
      .filter((w) => w.m.method === 'notifications/progress' && w.m.params.progressToken === token);
    assert.deepEqual(onWire.map((w) => [w.m.params.progress, w.m.params.total, w.m.params.message]),
      want, 'notifications/progress on the wire');
    assert.ok(onWire.every((w) => w.i < respAt), 'every progress notification precedes the result');
    // Like v1, the v2 SDK runs notification handlers in a microtask but settles a response
    // synchronously, so a progress notification read in the same chunk as the result is
    // dropped ("unknown token" on onerror): onprogress sees a prefix.
    const got = seen.map((p) => [p.progress, p.total, p.message]);
    assert.ok(got.length >= want.length - 1, `onprogress saw ${got.length} of ${want.length}`);
    assert.deepEqual(got, want.slice(0, got.length), 'onprogress saw the notifications in order');
  };
  await check('tools/call long_running_operation with progress', async () => {
    const seen = [];
    const r = await call(c, 'long_running_operation', { duration: 1, steps: 4 },
      { onprogress: (p) => seen.push(p) });
    assert.equal(onlyText(r), 'Long running operation completed: 4 steps in 1 s');
    checkProgress('long_running_operation', seen, [
      [1, 4, 'step 1 of 4'], [2, 4, 'step 2 of 4'], [3, 4, 'step 3 of 4'], [4, 4, 'step 4 of 4']]);
  });
  await check('tools/call test_tool_with_progress', async () => {
    const seen = [];
    const r = await call(c, 'test_tool_with_progress', {}, { onprogress: (p) => seen.push(p) });
    assert.equal(onlyText(r), 'Tool with progress completed');
    checkProgress('test_tool_with_progress', seen, [
      [0, 100, 'Completed step 1 of 3'], [50, 100, 'Completed step 2 of 3'],
      [100, 100, 'Completed step 3 of 3']]);
  });
  await check('tools/call test_simple_text', async () =>
    assert.equal(await callText(c, 'test_simple_text'), 'This is a simple text response for testing.'));
  await check('tools/call test_image_content', async () =>
    assert.deepEqual((await call(c, 'test_image_content')).content,
      [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }]));
  await check('tools/call test_audio_content', async () =>
    assert.deepEqual((await call(c, 'test_audio_content')).content,
      [{ type: 'audio', data: WAV_MIN, mimeType: 'audio/wav' }]));
  await check('tools/call test_embedded_resource', async () =>
    assert.deepEqual((await call(c, 'test_embedded_resource')).content, [{ type: 'resource',
      resource: { uri: 'test://embedded-resource', text: 'This is an embedded resource content.',
        mimeType: 'text/plain' } }]));
  await check('tools/call test_multiple_content_types', async () =>
    assert.deepEqual((await call(c, 'test_multiple_content_types')).content, [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource',
        text: '{"test":"data","value":123}', mimeType: 'application/json' } },
    ]));
  const logged = async (tool, level) => {
    c.logs.length = 0;
    const extra = level ? { _meta: { [META_LOG]: level } } : {};
    assert.equal(await callText(c, tool, {}, undefined, extra), 'Tool with logging executed successfully');
    await sleep(100);
    return c.logs.map((l) => [l.level, l.data]);
  };
  await check('test_tool_with_logging with _meta logLevel info → 3 log messages', async () =>
    assert.deepEqual(await logged('test_tool_with_logging', 'info'), LOG_LINES.map((d) => ['info', d])));
  await check('test_logging_tool with _meta logLevel debug → 3 log messages', async () =>
    assert.deepEqual(await logged('test_logging_tool', 'debug'), LOG_LINES.map((d) => ['info', d])));
  await check('test_logging_tool with _meta logLevel warning → no log messages', async () =>
    assert.deepEqual(await logged('test_logging_tool', 'warning'), []));
  await check('test_logging_tool without a logLevel → no log messages', async () =>
    assert.deepEqual(await logged('test_logging_tool', undefined), []));
  await check('tools/call test_error_handling → isError', async () => {
    const r = await call(c, 'test_error_handling');
    assert.equal(r.isError, true);
    assert.equal(onlyText(r), 'This tool intentionally returns an error for testing');
  });
  // In 2026-07-28 a response stream cannot be resumed (no GET, no Last-Event-ID), so the result
  // must come on the POST itself. The server decides on a worker thread, so the call is made ten
  // times with a short timeout: every one must deliver.
  await check('tools/call test_reconnection (10 times; the result comes on the POST)', async () => {
    const got = [];
    for (let round = 1; round <= 10; round++) {
      const before = c.http.length;
      got.push(await callText(c, 'test_reconnection', {}, { timeout: 3000 }).catch((e) => {
        const post = c.http.slice(before).find((h) => h.body?.params?.name === 'test_reconnection');
        return `round ${round}: ${e.message} (POST → ${post?.status} ${post?.responseHeaders?.['content-type']})`;
      }));
    }
    assert.deepEqual(got, Array(10).fill('Reconnection test completed successfully. The result was delivered.'));
  }, 45000);
  await check('tools/call json_schema_2020_12_tool', async () => {
    const args = { name: 'Ada', address: { street: '1 Main St', city: 'Paris' } };
    assert.deepEqual(jsonAfter(await callText(c, 'json_schema_2020_12_tool', args),
      'JSON Schema 2020-12 tool called with: '), args);
  });

  // ---- MRTR: input_required answered by the app's handlers, then retried ----
  // One round: the first answer is input_required; the retry has a new id, inputResponses with
  // the requested keys and the byte-exact requestState; the second answer is complete.
  const mrtr = (tool, rounds) => {
    const all = exchanges(c, tool);
    const ex = all.slice(all.findLastIndex((e) => e.req.params.requestState === undefined));
    assert.equal(ex.length, rounds + 1, `${rounds + 1} tools/call requests`);
    assert.equal(new Set(ex.map((e) => e.req.id)).size, ex.length, 'every retry has a new id');
    for (let i = 0; i < rounds; i++) {
      const res = ex[i].res?.result;
      assert.equal(res?.resultType, 'input_required', `round ${i + 1} answer`);
      assert.equal(typeof res.requestState, 'string');
      const retry = ex[i + 1].req.params;
      assert.equal(retry.requestState, res.requestState, 'requestState echoed byte-exact');
      assert.deepEqual(Object.keys(retry.inputResponses ?? {}).sort(),
        Object.keys(res.inputRequests).sort(), 'inputResponses answer the inputRequests keys');
      assert.deepEqual(retry.arguments, ex[0].req.params.arguments, 'same arguments');
    }
    assert.equal(ex[rounds].res?.result?.resultType, 'complete');
    return ex;
  };
  await check('tools/call test_sampling (MRTR sampling)', async () => {
    c.samplings.length = 0;
    assert.equal(await callText(c, 'test_sampling', { prompt: 'Tell me a joke' }),
      `LLM response: ${sampled('Tell me a joke')}`);
    assert.equal(c.samplings.length, 1);
    assert.equal(c.samplings[0].maxTokens, 100);
    const [first] = mrtr('test_sampling', 1);
    assert.deepEqual(Object.keys(first.res.result.inputRequests), ['llm_response']);
    assert.equal(first.res.result.inputRequests.llm_response.method, 'sampling/createMessage');
  });
  await check('tools/call test_elicitation (MRTR elicitation)', async () => {
    c.elicitations.length = 0;
    assert.deepEqual(jsonAfter(await callText(c, 'test_elicitation', { message: 'Who are you?' }),
      'User response: action=accept, content='), { username: 'ada', email: 'ada@example.com' });
    assert.equal(c.elicitations.length, 1);
    assert.equal(c.elicitations[0].message, 'Who are you?');
    assert.equal(c.elicitations[0].mode, 'form');
    mrtr('test_elicitation', 1);
  });
  await check('tools/call test_elicitation_sep1034_defaults (client applies defaults)', async () =>
    assert.deepEqual(jsonAfter(await callText(c, 'test_elicitation_sep1034_defaults'),
      'Elicitation completed: action=accept, content='), DEFAULTS));
  await check('tools/call test_elicitation_sep1330_enums', async () =>
    assert.deepEqual(jsonAfter(await callText(c, 'test_elicitation_sep1330_enums'),
      'Elicitation completed: action=accept, content='), ENUM_ANSWER));
  await check('tools/call test_missing_capability (sampling declared)', async () =>
    assert.equal(await callText(c, 'test_missing_capability'), `Sampled: "${sampled('Say hello')}"`));
  await check('tools/call test_streaming_elicitation (no JSON-RPC request to the client)', async () => {
    assert.deepEqual(jsonAfter(await callText(c, 'test_streaming_elicitation'),
      'Elicitation: action=accept, content='), { name: 'Ada' });
    mrtr('test_streaming_elicitation', 1);
  });
  await check('tools/call test_input_required_result_elicitation', async () => {
    assert.equal(await callText(c, 'test_input_required_result_elicitation'), 'Hello, Ada!');
    const [first, second] = mrtr('test_input_required_result_elicitation', 1);
    assert.deepEqual(first.res.result.inputRequests, { user_name: { method: 'elicitation/create',
      params: { mode: 'form', message: 'What is your name?', requestedSchema: { type: 'object',
        properties: { name: { type: 'string' } }, required: ['name'] } } } });
    assert.deepEqual(second.req.params.inputResponses,
      { user_name: { action: 'accept', content: { name: 'Ada' } } });
  });
  await check('tools/call test_input_required_result_sampling', async () => {
    assert.equal(await callText(c, 'test_input_required_result_sampling'),
      `The model said: ${sampled('What is the capital of France?')}`);
    mrtr('test_input_required_result_sampling', 1);
  });
  await check('tools/call test_input_required_result_list_roots', async () => {
    const before = c.rootsAsked;
    assert.equal(await callText(c, 'test_input_required_result_list_roots'),
      'Roots: file:///interop/one file:///interop/two');
    assert.equal(c.rootsAsked, before + 1);
    const [, second] = mrtr('test_input_required_result_list_roots', 1);
    assert.deepEqual(second.req.params.inputResponses.client_roots, { roots: ROOTS });
  });
  await check('tools/call test_input_required_result_request_state', async () => {
    assert.equal(await callText(c, 'test_input_required_result_request_state'), 'state-ok: action=accept');
    mrtr('test_input_required_result_request_state', 1);
  });
  await check('tools/call test_input_required_result_multiple_inputs (3 inputs, 1 round)', async () => {
    const got = jsonAfter(await callText(c, 'test_input_required_result_multiple_inputs'),
      'Received 3 inputs: ');
    assert.deepEqual(got.user_name, { action: 'accept', content: { name: 'Ada' } });
    assert.deepEqual(got.client_roots, { roots: ROOTS });
    assert.deepEqual([got.greeting.model, got.greeting.role, got.greeting.content],
      ['interop-model', 'assistant', { type: 'text', text: sampled('Write a greeting') }]);
    const [first] = mrtr('test_input_required_result_multiple_inputs', 1);
    assert.deepEqual(Object.fromEntries(Object.entries(first.res.result.inputRequests)
      .map(([k, v]) => [k, v.method])), {
      user_name: 'elicitation/create', greeting: 'sampling/createMessage', client_roots: 'roots/list' });
  });
  await check('tools/call test_input_required_result_multi_round (2 rounds)', async () => {
    assert.equal(await callText(c, 'test_input_required_result_multi_round'),
      'Done: {"name":"Ada"} {"color":"teal"}');
    const ex = mrtr('test_input_required_result_multi_round', 2);
    assert.deepEqual(Object.keys(ex[0].res.result.inputRequests), ['step1']);
    assert.deepEqual(Object.keys(ex[1].res.result.inputRequests), ['step2']);
  });
  await check('tools/call test_input_required_result_capabilities', async () => {
    assert.equal(await callText(c, 'test_input_required_result_capabilities'), 'Received 3 inputs');
    mrtr('test_input_required_result_capabilities', 1);
  });
  await check('test_input_required_result_tampered_state: manual MRTR, tampered state → -32602', async () => {
    const tool = 'test_input_required_result_tampered_state';
    const ir = await call(c, tool, {}, { allowInputRequired: true });
    assert.equal(ir.resultType, 'input_required');
    assert.deepEqual(Object.keys(ir.inputRequests), ['confirm']);
    const state = ir.requestState;
    const inputResponses = { confirm: { action: 'accept', content: { ok: true } } };
    const mid = Math.floor(state.length / 2);
    const tampered = state.slice(0, mid) + (state[mid] === 'A' ? 'B' : 'A') + state.slice(mid + 1);
    await assert.rejects(call(c, tool, {}, undefined, { inputResponses, requestState: tampered }),
      (e) => {
        assert.equal(e.code, -32602, `${e.code}: ${e.message}`);
        assert.equal(e.data?.reason, 'invalid_request_state');
        return true;
      });
    // Same state for other arguments: bound to the original request, so rejected too.
    await assert.rejects(call(c, tool, { extra: 1 }, undefined, { inputResponses, requestState: state }),
      (e) => e.code === -32602);
    assert.equal(await callText(c, tool, {}, undefined, { inputResponses, requestState: state }),
      'confirmed: action=accept');
  });

  await check('concurrent MRTR calls keep their requestStates apart', async () => {
    const got = await Promise.all([
      callText(c, 'test_input_required_result_elicitation'),
      callText(c, 'test_input_required_result_sampling'),
      callText(c, 'test_input_required_result_list_roots'),
      callText(c, 'test_input_required_result_multi_round'),
      callText(c, 'test_elicitation', { message: 'Concurrent?' }),
      callText(c, 'echo', { text: 'in between' }),
      callText(c, 'test_input_required_result_request_state'),
    ]);
    assert.deepEqual(got, ['Hello, Ada!', `The model said: ${sampled('What is the capital of France?')}`,
      'Roots: file:///interop/one file:///interop/two', 'Done: {"name":"Ada"} {"color":"teal"}',
      'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
      'in between', 'state-ok: action=accept']);
  });

  // ---- subscriptions/listen (replaces resources/subscribe and unsolicited list_changed) ----
  await check('subscriptions/listen + triggers → notifications on the stream; close stops them', async () => {
    const sub = await client.listen({ toolsListChanged: true, promptsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'] });
    assert.deepEqual(sub.honoredFilter, { toolsListChanged: true, promptsListChanged: true,
      resourceSubscriptions: ['test://watched-resource'] });
    c.updated.length = 0;
    c.listChanged.tools = c.listChanged.prompts = 0;
    assert.equal(await callText(c, 'test_trigger_tool_change'), 'tools list_changed published');
    assert.equal(await callText(c, 'test_trigger_prompt_change'), 'prompts list_changed published');
    assert.equal(await callText(c, 'test_trigger_resource_update'), 'resource update published');
    await waitFor(() => c.listChanged.tools === 1 && c.listChanged.prompts === 1 &&
      c.updated.length === 1, 2000, 'tools+prompts list_changed and resources/updated');
    assert.equal(c.updated[0].uri, 'test://watched-resource');
    const listenId = c.wireOut.findLast((w) => w.m.method === 'subscriptions/listen').m.id;
    const tagged = c.wireIn.filter((w) => w.m.method?.startsWith('notifications/') &&
      w.m.params?._meta?.['io.modelcontextprotocol/subscriptionId'] === listenId);
    assert.deepEqual(tagged.map((w) => w.m.method).sort(), ['notifications/prompts/list_changed',
      'notifications/resources/updated', 'notifications/subscriptions/acknowledged',
      'notifications/tools/list_changed']);
    await sub.close();
    assert.equal(await sub.closed, 'local');
    assert.equal(await callText(c, 'test_trigger_tool_change'), 'tools list_changed published');
    await callText(c, 'test_trigger_resource_update');
    await sleep(200);
    assert.equal(c.listChanged.tools, 1, 'no tools/list_changed after close');
    assert.equal(c.updated.length, 1, 'no resources/updated after close');
  });

  // ---- methods the 2026-07-28 revision removed: the server must not serve them ----
  for (const [method, params] of [['ping', {}], ['logging/setLevel', { level: 'info' }],
    ['resources/subscribe', { uri: 'test://watched-resource' }]]) {
    await check(`${method} in the modern era → -32601, HTTP 404 (sent raw; the SDK refuses it)`, async () => {
      const r = await raw(method, params);
      assert.equal(r.answer.error?.code, -32601, JSON.stringify(r));
      assert.equal(r.status, 404);
    });
  }
  await check('tools/call of an unknown tool → -32602', async () =>
    rejectsWithCode(client.callTool({ name: 'no_such_tool', arguments: {} }), -32602));

  // ---- cancellation ----
  // Over Streamable HTTP in 2026-07-28 the cancellation signal is the client closing the
  // request's own response stream: the SDK aborts that POST instead of sending
  // notifications/cancelled.
  await check('cancel long_running_operation via AbortSignal (the POST stream is aborted)', async () => {
    const ac = new AbortController();
    const seen = [];
    const started = Date.now();
    const pending = call(c, 'long_running_operation', { duration: 6, steps: 60 },
      { signal: ac.signal, onprogress: (p) => seen.push(p) });
    await waitFor(() => seen.length >= 2, 5000, 'two progress notifications');
    const abortedAt = Date.now();
    ac.abort('interop cancel');
    await assert.rejects(pending);
    const [{ req }] = exchanges(c, 'long_running_operation').slice(-1);
    const token = req.params._meta?.progressToken;
    const post = c.http.findLast((h) => h.method === 'POST' && h.body?.id === req.id);
    assert.equal(post?.status, 200);
    assert.equal(post.responseHeaders['content-type']?.split(';')[0], 'text/event-stream',
      'progress came on the POST\'s SSE stream');
    assert.deepEqual(c.wireOut.filter((w) => w.m.method === 'notifications/cancelled' &&
      w.m.params.requestId === req.id).map((w) => w.m), [],
    'no notifications/cancelled for the call in the modern era over HTTP');
    assert.equal(await callText(c, 'echo', { text: 'after cancel' }), 'after cancel');
    await sleep(800);
    const leaked = c.wireIn.filter((w) => w.m.id === req.id && !w.m.method);
    assert.deepEqual(leaked.map((w) => w.m), [], 'no response for the cancelled request');
    const late = c.wireIn.filter((w) => w.m.method === 'notifications/progress' &&
      w.m.params.progressToken === token && w.t > abortedAt + 300);
    assert.equal(late.length, 0, `progress after cancellation: ${late.length}`);
    assert.ok(Date.now() - started < 5000, 'the whole exchange took less than the 6 s run');
  });
  await check('long_running_operation still completes after a cancellation', async () =>
    assert.equal(await callText(c, 'long_running_operation', { duration: 1, steps: 2 }),
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
  await check('resources/read template test://template/7/data', async () => {
    const [ct, ...rest] = (await client.readResource({ uri: 'test://template/7/data' })).contents;
    assert.equal(rest.length, 0);
    assert.equal(ct.uri, 'test://template/7/data');
    assert.deepEqual(JSON.parse(ct.text), { id: '7', templateTest: true, data: 'Data for ID: 7' });
  });
  await check('resources/read of an unknown resource → -32602 (2026-07-28)', async () =>
    rejectsWithCode(client.readResource({ uri: 'test://no-such-resource' }), -32602));

  // ---- prompts ----
  await check('prompts/get test_simple_prompt', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_simple_prompt' })).messages,
      [userText('This is a simple prompt for testing.')]));
  await check('prompts/get test_prompt_with_arguments', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_arguments',
      arguments: { arg1: 'alpha', arg2: 'beta' } })).messages,
    [userText("Prompt with arguments: arg1='alpha', arg2='beta'")]));
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
  await check('prompts/get test_input_required_result_prompt (MRTR on prompts/get)', async () => {
    assert.deepEqual((await client.getPrompt({ name: 'test_input_required_result_prompt' })).messages,
      [userText('Context: interop-context')]);
    const gets = c.wireOut.filter((w) => w.m.method === 'prompts/get' &&
      w.m.params.name === 'test_input_required_result_prompt').map((w) => w.m);
    assert.equal(gets.length, 2, 'one retry');
    assert.equal(typeof gets[1].params.requestState, 'string');
    assert.deepEqual(gets[1].params.inputResponses,
      { user_context: { action: 'accept', content: { context: 'interop-context' } } });
  });

  // ---- completion ----
  await check('completion/complete prompt argument', async () => {
    const ref = { type: 'ref/prompt', name: 'test_prompt_with_arguments' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg1', value: 'par' } }))
      .completion.values, ['paris', 'park', 'parade']);
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg2', value: 'g' } }))
      .completion.values, ['green']);
  });
  await check('completion/complete resource template variable', async () => {
    const ref = { type: 'ref/resource', uri: 'test://template/{id}/data' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'id', value: '12' } }))
      .completion.values, ['123']);
  });

  // ---- the HTTP layer ----
  await check('HTTP: every request POST carries MCP-Protocol-Version, Mcp-Method and Mcp-Name', async () => {
    const posts = c.http.filter((h) => h.method === 'POST' && h.body?.method && h.body.id !== undefined);
    assert.ok(posts.length > 50, `${posts.length} request POSTs`);
    const named = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };
    const seen = new Set();
    for (const h of posts) {
      const what = `${h.body.method} (id ${h.body.id})`;
      assert.equal(h.url, MCP_URL, what);
      assert.equal(h.headers['mcp-protocol-version'], MODERN, `${what} MCP-Protocol-Version`);
      assert.equal(h.headers['mcp-method'], h.body.method, `${what} Mcp-Method`);
      const field = named[h.body.method];
      if (field) {
        const value = h.body.params[field];
        if (/^[\x20-\x7e]*$/.test(value)) assert.equal(h.headers['mcp-name'], value, `${what} Mcp-Name`);
        else assert.ok(h.headers['mcp-name'], `${what} Mcp-Name (encoded)`);
        seen.add(h.body.method);
      } else {
        assert.equal(h.headers['mcp-name'], undefined, `${what} has no Mcp-Name`);
      }
      assert.equal(h.headers['mcp-session-id'], undefined, `${what}: no sessions in 2026-07-28`);
      assert.ok([200, 400].includes(h.status), `${what} → HTTP ${h.status}`);
    }
    assert.deepEqual([...seen].sort(), ['prompts/get', 'resources/read', 'tools/call']);
    assert.ok(posts.some((h) => h.body.method === 'server/discover'), 'server/discover was POSTed');
    assert.ok(posts.some((h) => h.body.method === 'subscriptions/listen'), 'subscriptions/listen was POSTed');
  });
  await check('HTTP: no GET, no DELETE, no session in the modern era', async () =>
    assert.deepEqual(c.http.filter((h) => h.method !== 'POST').map((h) => [h.method, h.url, h.status]), []));
  await check('HTTP: progress and MRTR answers come back as JSON or SSE with the right status', async () => {
    const byId = (tool) => c.http.filter((h) => h.body?.method === 'tools/call' && h.body.params.name === tool);
    const prog = byId('test_tool_with_progress').at(-1);
    assert.equal(prog.status, 200);
    assert.equal(prog.responseHeaders['content-type']?.split(';')[0], 'text/event-stream');
    for (const h of byId('test_input_required_result_elicitation')) assert.equal(h.status, 200);
  });

  // ---- the server checks the headers against the body (sent raw) ----
  const xArgs = { name: 'test_x_mcp_header', arguments: { region: 'eu-west' } };
  await check('raw: matching headers incl. Mcp-Param-Region → 200 and the result', async () => {
    const r = await raw('tools/call', xArgs, { 'mcp-param-region': 'eu-west' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.answer.result?.content, [{ type: 'text', text: 'region=eu-west' }]);
    assert.equal(r.answer.result.resultType, 'complete');
  });
  for (const [what, overrides] of [
    ['Mcp-Param-Region missing', {}],
    ['Mcp-Param-Region differs from the argument', { 'mcp-param-region': 'us-east' }],
    ['Mcp-Name differs from the body', { 'mcp-param-region': 'eu-west', 'mcp-name': 'echo' }],
    ['Mcp-Method differs from the body', { 'mcp-param-region': 'eu-west', 'mcp-method': 'prompts/get' }],
    ['Mcp-Method missing', { 'mcp-param-region': 'eu-west', 'mcp-method': undefined }],
    ['MCP-Protocol-Version missing', { 'mcp-param-region': 'eu-west', 'mcp-protocol-version': undefined }],
    ['MCP-Protocol-Version differs from _meta', { 'mcp-param-region': 'eu-west', 'mcp-protocol-version': '2025-11-25' }],
  ]) {
    await check(`raw: ${what} → HTTP 400, -32020 header mismatch`, async () => {
      const r = await raw('tools/call', xArgs, overrides);
      assert.equal(r.status, 400, JSON.stringify(r));
      assert.equal(r.answer.error?.code, -32020, JSON.stringify(r.answer));
    });
  }

  // ---- whole-connection wire properties ----
  await check('every listed tool was called', async () =>
    assert.deepEqual(tools.map((t) => t.name).filter((n) => !c.called.has(n)), []));
  await check('wire: no initialize; every request carries the _meta envelope', async () => {
    const reqs = c.wireOut.filter((w) => w.m.method && w.m.id !== undefined).map((w) => w.m);
    assert.ok(reqs.length > 50, `${reqs.length} requests`);
    assert.equal(reqs.filter((m) => m.method === 'initialize').length, 0);
    for (const m of reqs) {
      if (String(m.id).startsWith('raw-')) continue;
      assert.equal(m.params?._meta?.[META_VERSION], MODERN, `${m.method} protocolVersion`);
      assert.deepEqual(m.params._meta[META_CAPS], FULL_CAPS, `${m.method} clientCapabilities`);
      assert.equal(m.params._meta[META_INFO]?.name, 'plexus-interop-v2', `${m.method} clientInfo`);
    }
  });
  await check('wire: every result carries resultType and _meta serverInfo; no request to the client', async () => {
    const results = c.wireIn.filter((w) => w.m.result !== undefined).map((w) => w.m);
    for (const m of results) {
      assert.ok(['complete', 'input_required'].includes(m.result.resultType),
        `resultType of ${JSON.stringify(m).slice(0, 200)}`);
      assert.equal(m.result._meta?.[META_SERVER]?.name, 'plexus-everything', `serverInfo of id ${m.id}`);
    }
    const asks = c.wireIn.filter((w) => w.m.method && w.m.id !== undefined);
    assert.deepEqual(asks.map((w) => w.m.method), [], 'server→client requests in the modern era');
  });
  await client.close();
}

// ---- modern era, reduced capabilities ---------------------------------------------------------
async function capabilitySuite() {
  prefix = `[v2 ${MODERN} elicitation-only] `;
  let c;
  await check("connect with versionNegotiation { pin: '2026-07-28' }", async () => {
    c = await open({ elicitation: {} }, { mode: { pin: MODERN } });
    assert.equal(c.client.getProtocolEra(), 'modern');
    assert.equal(c.client.getNegotiatedProtocolVersion(), MODERN);
  });
  if (!c) return;
  await check('test_missing_capability without sampling → -32021 requiredCapabilities', async () =>
    assert.rejects(call(c, 'test_missing_capability'), (e) => {
      assert.equal(e.code, -32021, `${e.code}: ${e.message}`);
      assert.deepEqual(e.data?.requiredCapabilities, { sampling: {} });
      return true;
    }));
  await check('test_input_required_result_sampling without sampling → -32021', async () =>
    rejectsWithCode(call(c, 'test_input_required_result_sampling'), -32021));
  await check('test_input_required_result_capabilities asks only for elicitation', async () => {
    assert.equal(await callText(c, 'test_input_required_result_capabilities'), 'Received 1 inputs');
    const [first] = exchanges(c, 'test_input_required_result_capabilities');
    assert.deepEqual(Object.keys(first.res.result.inputRequests), ['user_name']);
  });
  await c.client.close();

  prefix = `[v2 ${MODERN} no capabilities] `;
  let d;
  await check("connect with versionNegotiation { pin: '2026-07-28' }", async () => {
    d = await open({}, { mode: { pin: MODERN } });
    assert.equal(d.client.getProtocolEra(), 'modern');
  });
  if (!d) return;
  await check('test_input_required_result_capabilities with none declared', async () =>
    assert.equal(await callText(d, 'test_input_required_result_capabilities'),
      'The client declared no input capabilities'));
  await check('test_input_required_result_elicitation without elicitation → -32021', async () =>
    rejectsWithCode(call(d, 'test_input_required_result_elicitation'), -32021));
  await d.client.close();
}

// ---- the same v2 client in the legacy era (its default versionNegotiation) --------------------
async function legacySuite() {
  prefix = '[v2 legacy 2025-11-25] ';
  let c;
  await check("connect with the default versionNegotiation ('legacy')", async () => {
    c = await open(FULL_CAPS, undefined);
    assert.equal(c.client.getProtocolEra(), 'legacy');
    assert.equal(c.client.getNegotiatedProtocolVersion(), '2025-11-25');
    assert.deepEqual(c.wireOut.slice(0, 2).map((w) => w.m.method),
      ['initialize', 'notifications/initialized']);
  });
  if (!c) return;
  await check('ping', async () => assert.deepEqual(await c.client.ping(), {}));
  await check('test_input_required_result_multiple_inputs via server→client requests', async () => {
    const got = jsonAfter(await callText(c, 'test_input_required_result_multiple_inputs'),
      'Received 3 inputs: ');
    assert.deepEqual(got.user_name, { action: 'accept', content: { name: 'Ada' } });
    assert.deepEqual(got.client_roots, { roots: ROOTS });
    assert.equal(got.greeting.content.text, sampled('Write a greeting'));
    const asks = c.wireIn.filter((w) => w.m.method && w.m.id !== undefined).map((w) => w.m.method);
    assert.deepEqual(asks.sort(), ['elicitation/create', 'roots/list', 'sampling/createMessage']);
    assert.equal(exchanges(c, 'test_input_required_result_multiple_inputs').length, 1, 'no retry');
  });
  await check('stats structuredContent', async () =>
    assert.deepEqual((await call(c, 'stats', { numbers: [5, -1] })).structuredContent,
      { count: 2, sum: 4, mean: 2, min: -1, max: 5 }));
  await check('resources/subscribe + test_trigger_resource_update', async () => {
    await c.client.subscribeResource({ uri: 'test://watched-resource' });
    await callText(c, 'test_trigger_resource_update');
    await waitFor(() => c.updated.length === 1, 2000, 'notifications/resources/updated');
    assert.deepEqual(c.updated, [{ uri: 'test://watched-resource' }]);
  });
  await check('HTTP: a session, MCP-Protocol-Version 2025-11-25, no 2026 headers', async () => {
    const sid = c.transport.sessionId;
    assert.match(sid ?? '', /^[\x21-\x7e]+$/, `a visible-ASCII Mcp-Session-Id, got ${sid}`);
    const [init, ...rest] = c.http.filter((h) => h.method === 'POST');
    assert.equal(init.body.method, 'initialize');
    assert.equal(init.responseHeaders['mcp-session-id'], sid);
    for (const h of rest) {
      const what = h.body.method ?? `response ${h.body.id}`;
      assert.equal(h.headers['mcp-session-id'], sid, `${what} session id`);
      assert.equal(h.headers['mcp-protocol-version'], '2025-11-25', `${what} MCP-Protocol-Version`);
      assert.equal(h.headers['mcp-method'], undefined, `${what}: no Mcp-Method in the legacy era`);
      assert.equal(h.headers['mcp-name'], undefined, `${what}: no Mcp-Name in the legacy era`);
    }
    // The answers to the server→client requests were POSTed back on the session: 202 each.
    const answers = rest.filter((h) => h.body.method === undefined);
    assert.equal(answers.length, 3, 'elicitation, sampling and roots answers');
    for (const h of answers) assert.equal(h.status, 202);
  });
  await check('terminateSession → DELETE 200; the session id then answers 404', async () => {
    const sid = c.transport.sessionId;
    await c.transport.terminateSession();
    const del = c.http.findLast((h) => h.method === 'DELETE');
    assert.equal(del?.headers['mcp-session-id'], sid);
    assert.equal(del.status, 200);
    const r = await fetch(MCP_URL, { method: 'POST', headers: { 'content-type': 'application/json',
      accept: 'application/json, text/event-stream', 'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
    await r.body?.cancel();
    assert.equal(r.status, 404);
  });
  await c.client.close();
}

prefix = '[v2 http] ';
await check('server starts on a free loopback port', async () => { server = await startServer(); });
if (server) {
  MCP_URL = `http://127.0.0.1:${server.port}/mcp`;
  try {
    await modernSuite();
    await capabilitySuite();
    await legacySuite();
  } catch (e) {
    failures.push(`${prefix}(aborted) ${e?.message ?? e}`);
    console.log(`FAIL ${prefix}aborted: ${e?.stack ?? e}`);
  } finally {
    for (const c of conns) await c.client.close().catch(() => {});
  }
  prefix = '[v2 http] ';
  await check('server exits 0 on SIGTERM', async () =>
    assert.deepEqual(await stopServer(server), { code: 0, signal: null }));
  if (failures.length) console.log(`server stderr:\n${server.stderr}`);
}
console.log(`\nv2_http (@modelcontextprotocol/client ${SDK_VERSION}): ${passed} passed, ${failures.length} failed`);
for (const f of failures) console.log(`  failed: ${f}`);
process.exit(failures.length ? 1 : 0);
