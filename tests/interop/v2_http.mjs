// Interop: the official MCP TypeScript SDK v2 client (@modelcontextprotocol/client, pinned in
// node/package-lock.json) drives `plexus everything --http 127.0.0.1:PORT` over Streamable HTTP
// (http://127.0.0.1:PORT/mcp) in the modern era (2026-07-28: stateless POSTs, server/discover,
// per-request _meta, MCP-Protocol-Version / Mcp-Method / Mcp-Name / Mcp-Param-* headers,
// input_required/MRTR, subscriptions/listen streams), plus a short legacy-era pass (sessions).
// The script starts the server on a free loopback port and stops it with SIGTERM at the end.
// The walks shared with v2_modern.mjs are lib/modern_v2.mjs; the HTTP checks are here.
//
//   node v2_http.mjs [path/to/plexus]         (or PLEXUS_BINARY=...; run from tests/interop/node)
//
// Exit status: 0 every check passed, 1 a check failed, 77 the npm packages are not installed.
import assert from 'node:assert/strict';
import {
  aborted, check, finish, load, packageVersion, setup, state,
} from './lib/harness.mjs';
import { startServer, stopServer, tappedFetch } from './lib/http_server.mjs';
import {
  META_CAPS, META_INFO, META_VERSION, MODERN, callText, capabilitySuite, legacySuite, modernSuite,
} from './lib/modern_v2.mjs';

const { NM, BIN } = setup('v2_http.mjs');
const { Client, StreamableHTTPClientTransport } = await load(NM, '@modelcontextprotocol/client');
const SDK_VERSION = packageVersion(NM, '@modelcontextprotocol/client');

let server;
let MCP_URL;

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

// ---- modern era: HTTP-specific checks plugged into the shared walk ---------------------------
async function xMcpHeaderChecks(c) {
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
}

async function reconnectionCheck(c) {
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
}

// After the walk's completion checks: the HTTP exchanges of the connection so far, and the
// server's checks of the headers against the body.
async function httpLayerChecks(c) {
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
}

// ---- legacy era: the session ----
async function legacyHttpChecks(c) {
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
}

const env = {
  Client, sdkVersion: SDK_VERSION, conns: [],
  // Every connection goes to the one server, over the SDK's own StreamableHTTPClientTransport;
  // the HTTP exchanges are recorded through its fetch option.
  makeTransport(conn) {
    conn.http = [];
    return new StreamableHTTPClientTransport(new URL(MCP_URL),
      { fetch: tappedFetch(conn.http, { parseBody: true }) });
  },
  removedMethod: {
    label: (method) => `${method} in the modern era → -32601, HTTP 404 (sent raw; the SDK refuses it)`,
    async run(c, method, params) {
      const r = await raw(method, params);
      assert.equal(r.answer.error?.code, -32601, JSON.stringify(r));
      assert.equal(r.status, 404);
    },
  },
  // Over Streamable HTTP in 2026-07-28 the cancellation signal is the client closing the
  // request's own response stream: the SDK aborts that POST instead of sending
  // notifications/cancelled.
  cancel: {
    label: 'cancel long_running_operation via AbortSignal (the POST stream is aborted)',
    verify(c, req, abortedAt) {
      const post = c.http.findLast((h) => h.method === 'POST' && h.body?.id === req.id);
      assert.equal(post?.status, 200);
      assert.equal(post.responseHeaders['content-type']?.split(';')[0], 'text/event-stream',
        'progress came on the POST\'s SSE stream');
      assert.deepEqual(c.wireOut.filter((w) => w.m.method === 'notifications/cancelled' &&
        w.m.params.requestId === req.id).map((w) => w.m), [],
      'no notifications/cancelled for the call in the modern era over HTTP');
      return abortedAt;
    },
  },
  hooks: {
    xMcpHeader: xMcpHeaderChecks,
    reconnection: reconnectionCheck,
    afterCompletion: httpLayerChecks,
    legacyBeforeClose: legacyHttpChecks,
  },
};

state.prefix = '[v2 http] ';
await check('server starts on a free loopback port', async () => { server = await startServer(BIN); });
if (server) {
  MCP_URL = `http://127.0.0.1:${server.port}/mcp`;
  try {
    await modernSuite(env);
    await capabilitySuite(env);
    await legacySuite(env);
  } catch (e) {
    aborted(e);
  } finally {
    for (const c of env.conns) await c.client.close().catch(() => {});
  }
  state.prefix = '[v2 http] ';
  await check('server exits 0 on SIGTERM', async () =>
    assert.deepEqual(await stopServer(server), { code: 0, signal: null }));
  if (state.failures.length) console.log(`server stderr:\n${server.stderr}`);
}
finish(`v2_http (@modelcontextprotocol/client ${SDK_VERSION})`);
