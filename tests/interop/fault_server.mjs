// A misbehaving MCP server over stdio, for the Plexus client's fault tests
// (tests/integration/client_interop_test.cpp). Plain Node, no packages.
//
//   node fault_server.mjs MODE
//
// It answers `initialize` (2025-11-25) and `tools/list` (one tool, "boom") correctly and refuses
// `server/discover` (-32601), so clients fall back to the session era. Then, per MODE:
//   crash               tools/call: writes half a message and exits with status 42
//   hang                tools/call: never answers; ignores SIGTERM and the end of stdin
//   hang-start          never answers anything; ignores SIGTERM and the end of stdin
//   garbage             tools/call: writes lines that are not JSON-RPC, never answers
//   garbage-then-answer tools/call: writes lines that are not JSON-RPC, then the right answer
//   close-stdout        tools/call: closes stdout and keeps running (until SIGTERM)
//   close-stdout-start  closes stdout at once and keeps running (until SIGTERM)
//   huge                tools/call: answers with a 20 MiB text block
//   flood               tools/call: writes log notifications as fast as the reader takes them
//                       for 1.5 s, then answers "flooded N" (N notifications)
//   endless-line        tools/call: writes one line that never ends (64 KiB chunks, forever)
//   remove-tool         lists "boom" and "stays"; a call to "boom" announces list_changed,
//                       drops "boom" from later lists and answers after 500 ms
// When FAULT_PID_FILE is set, the process writes its pid there first.
import { closeSync, writeFileSync } from 'node:fs';
import readline from 'node:readline';

const mode = process.argv[2] ?? '';
const modes = ['crash', 'hang', 'hang-start', 'garbage', 'garbage-then-answer', 'close-stdout',
  'close-stdout-start', 'huge', 'flood', 'endless-line', 'remove-tool'];
if (!modes.includes(mode)) {
  console.error(`fault_server: unknown mode "${mode}"; one of ${modes.join(', ')}`);
  process.exit(2);
}
if (process.env.FAULT_PID_FILE) writeFileSync(process.env.FAULT_PID_FILE, String(process.pid));

const stubborn = mode === 'hang' || mode === 'hang-start';
if (stubborn) process.on('SIGTERM', () => console.error('fault_server: ignoring SIGTERM'));
const keepAlive = () => setInterval(() => {}, 1 << 30);
if (stubborn || mode.startsWith('close-stdout')) keepAlive();

const send = (msg) => process.stdout.write(JSON.stringify({ jsonrpc: '2.0', ...msg }) + '\n');
// Writes what `next()` returns (until it returns null), waiting whenever the pipe is full.
const pump = (next, done) => {
  for (;;) {
    const chunk = next();
    if (chunk === null) return done?.();
    if (!process.stdout.write(chunk)) return process.stdout.once('drain', () => pump(next, done));
  }
};
process.stdout.on('error', () => process.exit(0));  // the reader went away
let removed = false;

if (mode === 'close-stdout-start') {
  closeSync(1);
} else {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (mode === 'hang-start' || m.id === undefined || !m.method) return;
    if (m.method === 'server/discover')
      return send({ id: m.id, error: { code: -32601, message: 'Method not found' } });
    if (m.method === 'initialize')
      return send({
        id: m.id,
        result: {
          protocolVersion: '2025-11-25',
          capabilities: { tools: {} },
          serverInfo: { name: 'fault-server', version: '0.0.1' },
        },
      });
    if (m.method === 'tools/list') {
      const tool = (name) => ({ name, inputSchema: { type: 'object', properties: {} } });
      const tools = mode !== 'remove-tool' ? [tool('boom')]
        : removed ? [tool('stays')] : [tool('boom'), tool('stays')];
      return send({ id: m.id, result: { tools } });
    }
    if (m.method === 'ping') return send({ id: m.id, result: {} });
    if (m.method !== 'tools/call')
      return send({ id: m.id, error: { code: -32601, message: 'Method not found' } });
    switch (mode) {
      case 'crash':
        process.stdout.write('{"jsonrpc":"2.0","id":' + m.id + ',"result":{"content":[', () =>
          process.exit(42));
        return;
      case 'hang':
        return;
      case 'garbage':
      case 'garbage-then-answer':
        process.stdout.write('this is not JSON\n{"unterminated": \n\u0000\u0001\u0002 binary\n');
        process.stdout.write('[1,2,3]\n"a string"\n{"jsonrpc":"2.0","id":"nobody-asked","result":{}}\n');
        if (mode === 'garbage-then-answer')
          send({ id: m.id, result: { content: [{ type: 'text', text: 'survived the garbage' }] } });
        return;
      case 'close-stdout':
        closeSync(1);
        return;
      case 'flood': {
        const until = Date.now() + 1500;
        let n = 0;
        const line = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message',
          params: { level: 'info', data: 'x'.repeat(1000) } }) + '\n';
        pump(() => (Date.now() < until ? (n++, line) : null),
          () => send({ id: m.id, result: { content: [{ type: 'text', text: `flooded ${n}` }] } }));
        return;
      }
      case 'endless-line': {
        process.stdout.write('{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"');
        const chunk = 'x'.repeat(64 * 1024);
        pump(() => chunk);
        return;
      }
      case 'remove-tool':
        if (m.params?.name === 'stays')
          return send({ id: m.id, result: { content: [{ type: 'text', text: 'still here' }] } });
        removed = true;
        send({ method: 'notifications/tools/list_changed' });
        setTimeout(() => send({ id: m.id,
          result: { content: [{ type: 'text', text: 'answered after removal' }] } }), 500);
        return;
      case 'huge':
        return send({
          id: m.id,
          result: { content: [{ type: 'text', text: 'x'.repeat(20 * 1024 * 1024) }] },
        });
    }
  });
  rl.on('close', () => {
    if (!stubborn) process.exit(0);
  });
}
