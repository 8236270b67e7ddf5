// A stdio pass-through that records what an upstream receives: gateway_npm.mjs configures an
// upstream as `node gateway_tap.mjs LOG COMMAND ARGS...`, so the gateway talks to COMMAND as
// usual while every line it writes to the upstream's stdin is also appended to LOG. That makes
// the hop's upstream side visible to the test (which id the gateway gave a forwarded call, and
// whether a caller's cancellation arrived upstream as notifications/cancelled).
//
// stdout and stderr of COMMAND are inherited untouched; the tap exits with COMMAND's status and
// passes SIGTERM/SIGINT on, so the gateway's supervision (restart, stop) sees COMMAND itself.
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const [log, command, ...args] = process.argv.slice(2);
if (!log || !command) {
  console.error('usage: node gateway_tap.mjs LOG COMMAND [ARGS...]');
  process.exit(2);
}
const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'] });
process.stdin.on('data', (chunk) => {
  // Appended before forwarding: once the upstream has seen a message, LOG holds it.
  appendFileSync(log, chunk);
  child.stdin.write(chunk);
});
process.stdin.on('end', () => child.stdin.end());
child.stdin.on('error', () => {});  // the child may exit while the gateway still writes
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
child.on('error', (e) => {
  console.error(`gateway_tap: cannot start ${command}: ${e.message}`);
  process.exit(127);
});
