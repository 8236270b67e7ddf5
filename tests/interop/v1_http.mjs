// Interop: the official MCP TypeScript SDK v1 client (@modelcontextprotocol/sdk, pinned in
// node/package-lock.json) drives `plexus everything --http 127.0.0.1:PORT` over its three network
// transports, with the same complete feature walk as v1_stdio.mjs (lib/legacy_v1.mjs) on each:
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
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  aborted, check, finish, load, onlyText, packageVersion, setup, sleep, state, waitFor,
} from './lib/harness.mjs';
import { startServer, stopServer, tappedFetch } from './lib/http_server.mjs';
import { runV1Walk } from './lib/legacy_v1.mjs';

const { NM, BIN } = setup('v1_http.mjs');
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
const SDK_VERSION = packageVersion(NM, '@modelcontextprotocol/sdk');

// ---- the transport itself, right after the handshake -----------------------------------------
async function transportChecks(kind, { transport, version }, { http, base, server, socketsBefore }) {
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
}

// The server decides when to close the stream on a worker thread, so the call is made three
// times: every one must behave.
async function reconnectionCheck(kind, { call, transport, version, wireIn, wireOut }, { http, errors }) {
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
}

// ---- ending the session ----
async function terminateCheck({ client, transport, version }, { http, base }) {
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

async function afterCloseChecks(kind, { http, server }) {
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
}

// ---- one full run against a fresh server process ---------------------------------------------
// `kind`: streamable | sse | websocket. `version`: the protocolVersion the initialize request
// carries (see runV1Walk).
async function runSuite(kind, version) {
  state.prefix = `[v1 ${kind} ${version}] `;
  const prefix = state.prefix;
  let server;
  await check('server starts on a free loopback port', async () => { server = await startServer(BIN); });
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
  const errors = [];
  transport.onerror = (e) => errors.push({ t: Date.now(), e });
  const env = { http, base, server, socketsBefore, errors };

  let connected = true;
  await runV1Walk({ sdk: { Client, T, version: SDK_VERSION }, transport, version, hooks: {
    connectFailed: async () => {
      connected = false;
      await stopServer(server);
      console.log(`     server stderr:\n${server.stderr}`);
    },
    afterConnect: (t) => transportChecks(kind, t, env),
    reconnection: (t) => reconnectionCheck(kind, t, env),
    beforeClose: (t) => (kind === 'streamable' ? terminateCheck(t, env) : undefined),
    afterClose: () => afterCloseChecks(kind, env),
  } });
  if (!connected) return;
  await check('server exits 0 on SIGTERM', async () =>
    assert.deepEqual(await stopServer(server), { code: 0, signal: null }));
  if (state.failures.some((f) => f.startsWith(prefix))) console.log(`     server stderr:\n${server.stderr}`);
}

// Streamable HTTP in the newest legacy revision and the first one that had it; HTTP+SSE in the
// revision that defined it and the newest; WebSocket in the newest.
const RUNS = (process.env.INTEROP_RUNS ??
  'streamable@2025-11-25,streamable@2025-03-26,sse@2024-11-05,sse@2025-11-25,websocket@2025-11-25')
  .split(',').map((r) => r.trim()).filter(Boolean).map((r) => r.split('@'));
try {
  for (const [kind, version] of RUNS) await runSuite(kind, version);
} catch (e) {
  aborted(e);
}

finish(`v1_http (@modelcontextprotocol/sdk ${SDK_VERSION})`, ` (${RUNS.map((r) => r.join('@')).join(', ')})`);
