// Shared by the interop scripts: locating the pinned npm packages, the check harness (named
// checks with timeouts, pass/fail tally, summary and exit status) and small assertion helpers.
//
// Exit status of a script: 0 every check passed, 1 a check failed, 2 bad usage, 77 the npm
// packages are not installed (ctest reports 77 as skipped).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const LIB_DIR = path.dirname(fileURLToPath(import.meta.url));
const INTEROP_DIR = path.dirname(LIB_DIR);

// ---- locating the pinned packages ----------------------------------------------------------
// ESM resolves bare specifiers from the importing file, not from the working directory, so the
// packages are looked up in ./node_modules of the working directory (ctest runs in
// tests/interop/node), then in the node/ folder of tests/interop.
function nodeModulesDir() {
  for (const base of [process.cwd(), path.join(INTEROP_DIR, 'node')]) {
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

// Imports `spec` ("@scope/pkg/sub/path.js", "pkg") from the node_modules directory `nm`.
export async function load(nm, spec) {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const sub = '.' + spec.slice(name.length);
  return import(pathToFileURL(resolveExport(path.join(nm, name), sub)).href);
}

// The version field of an installed package.
export function packageVersion(nm, name) {
  return JSON.parse(readFileSync(path.join(nm, name, 'package.json'), 'utf8')).version;
}

// The node_modules directory and the plexus binary (argv[2] or PLEXUS_BINARY); exits 77 when the
// packages are missing and 2 without a binary.
export function setup(script) {
  const nm = nodeModulesDir();
  if (!nm) {
    console.log('SKIP: node_modules missing; run `npm ci` in tests/interop/node');
    process.exit(77);
  }
  const bin = process.argv[2] ?? process.env.PLEXUS_BINARY;
  if (!bin || !existsSync(bin)) {
    console.error(`usage: node ${script} <plexus binary> (got ${bin ?? 'nothing'})`);
    process.exit(2);
  }
  return { NM: nm, BIN: bin };
}

// ---- check harness ---------------------------------------------------------------------------
// `state.prefix` labels the checks of the current run; `state.failures` holds failed labels.
export const state = { passed: 0, failures: [], prefix: '' };

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// The first stack frame in an interop script or module other than this one.
function whereIn(stack) {
  return String(stack ?? '').split('\n')
    .find((l) => l.includes(INTEROP_DIR) && !l.includes('harness.mjs')) ?? '';
}

export async function check(name, fn, ms = 20000) {
  const label = `${state.prefix}${name}`;
  try {
    await withTimeout(Promise.resolve().then(fn), ms, label);
    state.passed++;
    console.log(`ok   ${label}`);
  } catch (e) {
    state.failures.push(label);
    const where = whereIn(e?.stack);
    const msg = String(e?.message ?? e).split('\n').slice(0, 40).join('\n     ');
    console.log(`FAIL ${label}\n     ${msg}${where ? `\n     ${where.trim()}` : ''}`);
  }
}

// Records an exception that escaped the checks of the current run as a failure.
export function aborted(e) {
  state.failures.push(`${state.prefix}(aborted) ${e?.message ?? e}`);
  console.log(`FAIL ${state.prefix}aborted: ${e?.stack ?? e}`);
}

// Prints the summary line and the failed checks, then exits 1 if any failed, else 0.
export function finish(summary, tail = '') {
  console.log(`\n${summary}: ${state.passed} passed, ${state.failures.length} failed${tail}`);
  for (const f of state.failures) console.log(`  failed: ${f}`);
  process.exit(state.failures.length ? 1 : 0);
}

// ---- helpers ---------------------------------------------------------------------------------
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(pred, ms, what) {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`not seen within ${ms} ms: ${what}`);
    await sleep(10);
  }
}

export function onlyText(result) {
  assert.equal(result.content?.length, 1, `one content block expected: ${JSON.stringify(result)}`);
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

// Text like "<prefix><json>": checks the prefix and returns the parsed JSON tail.
export function jsonAfter(text, head) {
  assert.ok(text.startsWith(head), `expected ${JSON.stringify(head)}… got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(head.length));
}

export async function rejectsWithCode(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.code, code, `expected error code ${code}, got ${e.code}: ${e.message}`);
    return true;
  });
}

export async function listAll(fn, field) {
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
