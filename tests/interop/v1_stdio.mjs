// Interop: the official MCP TypeScript SDK v1 client (@modelcontextprotocol/sdk, pinned in
// node/package-lock.json) drives `plexus everything --stdio` in the legacy era, once per
// legacy protocol version. The walk itself is lib/legacy_v1.mjs.
//
//   node v1_stdio.mjs [path/to/plexus]        (or PLEXUS_BINARY=...; run from tests/interop/node)
//
// Exit status: 0 every check passed, 1 a check failed, 77 the npm packages are not installed.
import { finish, load, packageVersion, setup, state } from './lib/harness.mjs';
import { runV1Walk } from './lib/legacy_v1.mjs';

const { NM, BIN } = setup('v1_stdio.mjs');
const { Client } = await load(NM, '@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load(NM, '@modelcontextprotocol/sdk/client/stdio.js');
const T = await load(NM, '@modelcontextprotocol/sdk/types.js');
const SDK_VERSION = packageVersion(NM, '@modelcontextprotocol/sdk');

// One full run against a fresh server process.
async function runSuite(version) {
  state.prefix = `[v1 ${version}] `;
  const prefix = state.prefix;
  const transport = new StdioClientTransport({
    command: BIN, args: ['everything', '--stdio'], stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  let connected = true;
  await runV1Walk({ sdk: { Client, T, version: SDK_VERSION }, transport, version, hooks: {
    connectFailed: () => {
      connected = false;
      if (stderr) console.log(`     server stderr:\n${stderr}`);
    },
  } });
  if (connected && stderr && state.failures.some((f) => f.startsWith(prefix)))
    console.log(`     server stderr:\n${stderr}`);
}

const VERSIONS = (process.env.INTEROP_VERSIONS ?? '2025-11-25,2025-06-18,2025-03-26,2024-11-05')
  .split(',').map((v) => v.trim()).filter(Boolean);
for (const v of VERSIONS) await runSuite(v);

finish(`v1_stdio (@modelcontextprotocol/sdk ${SDK_VERSION})`, ` (${VERSIONS.join(', ')})`);
