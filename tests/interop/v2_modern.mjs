// Interop: the official MCP TypeScript SDK v2 client (@modelcontextprotocol/client, pinned in
// node/package-lock.json) drives `plexus everything --stdio` in the modern era (2026-07-28:
// server/discover, per-request _meta, resultType, input_required/MRTR, subscriptions/listen),
// plus a short legacy-era pass of the same client. The walks are lib/modern_v2.mjs.
//
//   node v2_modern.mjs [path/to/plexus]       (or PLEXUS_BINARY=...; run from tests/interop/node)
//
// Exit status: 0 every check passed, 1 a check failed, 77 the npm packages are not installed.
import assert from 'node:assert/strict';
import { finish, load, packageVersion, setup, state, waitFor } from './lib/harness.mjs';
import {
  META_CAPS, META_INFO, META_VERSION, MODERN, capabilitySuite, legacySuite, modernSuite,
} from './lib/modern_v2.mjs';

const { NM, BIN } = setup('v2_modern.mjs');
const { Client } = await load(NM, '@modelcontextprotocol/client');
const { StdioClientTransport } = await load(NM, '@modelcontextprotocol/client/stdio');
const SDK_VERSION = packageVersion(NM, '@modelcontextprotocol/client');

let rawId = 0;
// A request the SDK refuses to send in this era, straight onto the transport.
async function raw(conn, method, params = {}) {
  const id = `raw-${++rawId}`;
  await conn.rawSend({ jsonrpc: '2.0', id, method, params: { ...params, _meta: {
    [META_VERSION]: MODERN, [META_CAPS]: {}, [META_INFO]: { name: 'raw', version: '1' } } } });
  await waitFor(() => conn.wireIn.some((w) => w.m.id === id), 3000, `an answer to ${method}`);
  return conn.wireIn.find((w) => w.m.id === id).m;
}

const env = {
  Client, sdkVersion: SDK_VERSION, conns: [],
  // A fresh `plexus everything --stdio` per connection.
  makeTransport(conn) {
    const transport = new StdioClientTransport({
      command: BIN, args: ['everything', '--stdio'], stderr: 'pipe',
    });
    conn.stderr = '';
    transport.stderr?.on('data', (d) => { conn.stderr += d; });
    return transport;
  },
  removedMethod: {
    label: (method) => `${method} in the modern era → -32601 (sent raw; the SDK refuses it)`,
    async run(c, method, params) {
      const r = await raw(c, method, params);
      assert.equal(r.error?.code, -32601, JSON.stringify(r));
    },
  },
  cancel: {
    label: 'cancel long_running_operation via AbortSignal',
    verify(c, req) {
      const cancel = c.wireOut.findLast((w) => w.m.method === 'notifications/cancelled');
      assert.equal(cancel?.m.params.requestId, req.id, 'notifications/cancelled names the call');
      assert.equal(cancel.m.params._meta?.[META_VERSION], MODERN, 'the notification carries _meta');
      return cancel.t;
    },
  },
};

try {
  await modernSuite(env);
  await capabilitySuite(env);
  await legacySuite(env);
} finally {
  for (const c of env.conns) await c.client.close().catch(() => {});
}
if (state.failures.length) {
  for (const c of env.conns) if (c.stderr) console.log(`server stderr:\n${c.stderr}`);
}
finish(`v2_modern (@modelcontextprotocol/client ${SDK_VERSION})`);
