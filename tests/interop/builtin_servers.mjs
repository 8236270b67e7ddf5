// Interop: the official MCP TypeScript SDK v1 client (@modelcontextprotocol/sdk) calls every tool
// of every built-in server (weather, database, filesystem, wallet, knowledge, memory) with good
// and bad input, first over stdio (`plexus server NAME --stdio`, one process per server), then
// through the gateway (`plexus gateway --stdio` mounting all six as builtins under prefixes).
// One case table serves both runs: tool names and resource URIs go through a mapping. A listed
// tool without a good and a bad case fails the run, so new tools cannot slip by untested. The
// weather server talks to a fake Open-Meteo provider on 127.0.0.1 (lib/fake_open_meteo.mjs).
//
//   node builtin_servers.mjs [path/to/plexus]   (or PLEXUS_BINARY=...; run from tests/interop/node)
//
// Exit status: 0 every check passed, 1 a check failed, 77 the npm packages are not installed.
// KEEP_TMP=1 keeps the temporary directory (data dirs, roots, gateway config) for a post-mortem.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync,
  symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAILING_LATITUDE, PLACE, startFakeOpenMeteo } from './lib/fake_open_meteo.mjs';
import { aborted, check, finish, listAll, load, packageVersion, setup, state }
  from './lib/harness.mjs';

const { NM, BIN } = setup('builtin_servers.mjs');
const { Client } = await load(NM, '@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load(NM, '@modelcontextprotocol/sdk/client/stdio.js');
const SDK_VERSION = packageVersion(NM, '@modelcontextprotocol/sdk');

// ---- helpers shared by the cases --------------------------------------------------------------
const textOf = (r) => (r.content ?? []).filter((b) => b.type === 'text').map((b) => b.text)
  .join('\n');
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
// The error text of a tool input that fails the tool's inputSchema.
const schema = (detail) => new RegExp(`^Invalid arguments for tool \\S+: ${esc(detail)}`);
const extraProp = (p) => schema(`/${p}: additional property "${p}" is not allowed`);
const missing = (p) => schema(`(root): missing required property "${p}"`);
const escapes = (p) => new RegExp(`^path escapes the allowed roots: ${esc(p)}$`);
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c63f8cfc0f01f0005000201e2219bc10000000049454e44ae426082', 'hex');
const METRIC = { temperature: '°C', wind_speed: 'km/h', precipitation: 'mm' };

// The context a case gets: `call`/`ok`/`bad`/`sc` with unprefixed tool names, `uri` mapping a
// server's resource URI to the one the client sees, `env` (dirs, fake provider), `s` run state.
function makeContext(client, toolName, uri, env) {
  const c = {
    client, uri, env, s: {},
    call: (tool, args) => client.callTool({ name: toolName(tool), arguments: args }),
    async ok(tool, args) {
      const r = await c.call(tool, args);
      assert.notEqual(r.isError, true, `${tool} ${JSON.stringify(args)} failed: ${textOf(r)}`);
      return r;
    },
    sc: async (tool, args) => (await c.ok(tool, args)).structuredContent,
    text: async (tool, args) => textOf(await c.ok(tool, args)),
    // Expects a JSON-RPC invalid-params error or an isError result, its text matching `re`.
    async bad(tool, args, re) {
      let r;
      try {
        r = await c.call(tool, args);
      } catch (e) {
        assert.equal(e.code, -32602, `${tool}: want -32602/isError, got ${e.code}: ${e.message}`);
        return assert.match(e.message, re);
      }
      assert.equal(r.isError, true, `${tool} ${JSON.stringify(args)} succeeded: ${textOf(r)}`);
      assert.match(textOf(r), re);
    },
  };
  return c;
}

// A case is a function of the context, or a list of [arguments, expected]: for good cases the
// expected structuredContent (object) or text (string, RegExp); for bad ones the error RegExp.
async function runCase(c, tool, kase, good) {
  if (typeof kase === 'function') return kase(c);
  for (const [args, want] of kase) {
    if (!good) await c.bad(tool, args, want);
    else if (typeof want === 'string') assert.equal(await c.text(tool, args), want);
    else if (want instanceof RegExp) assert.match(await c.text(tool, args), want);
    else assert.deepEqual(await c.sc(tool, args), want);
  }
}

// ---- the case table -------------------------------------------------------------------------
// Per server: the gateway prefix, CLI flags and gateway options, then per tool the expected
// readOnlyHint and a good and a bad case, run in table order (later cases see earlier effects).
const SERVERS = [{
  name: 'weather', prefix: 'weather',
  cli: (e) => ['--weather-url', e.fake.url, '--geocoding-url', e.fake.url, '--cache-seconds', '0'],
  options: (e) => ({ weather_url: e.fake.url, geocoding_url: e.fake.url, cache_seconds: 0 }),
  tools: {
    get_weather: { ro: true,
      async good(c) {
        const w = await c.sc('get_weather', { location: 'Testville' });
        const { id, elevation, country_code, population, ...where } = PLACE;
        assert.deepEqual(w.location, where);
        assert.deepEqual([w.time, w.temperature, w.apparent_temperature, w.relative_humidity,
          w.precipitation, w.wind_speed, w.wind_direction, w.weather_code, w.units],
        ['2026-01-10T12:00', 21.5, 20.6, 55, 0.3, 12.1, 225, 3, METRIC]);
        assert.ok(w.conditions.length > 0 && w.conditions !== 'unknown', w.conditions);
        const f = await c.sc('get_weather', { latitude: 40, longitude: -3.5, units: 'imperial' });
        assert.deepEqual([f.temperature, f.units.temperature], [70.7, '°F']);
        const last = c.env.fake.requests.at(-1);
        assert.match(last, /^\/v1\/forecast\?latitude=40&longitude=-3\.5&current=/);
        assert.match(last, /temperature_unit=fahrenheit/);
      },
      bad: [[{ location: 'Atlantis' }, /^no place found for "Atlantis"$/],
        [{ latitude: 10 }, /^give a location, or both latitude and longitude$/],
        [{ latitude: 91, longitude: 0 }, schema('/latitude: number 91')]],
    },
    get_forecast: { ro: true,
      async good(c) {
        const f = await c.sc('get_forecast', { latitude: 48.5, longitude: 9.25, days: 3 });
        assert.match(c.env.fake.requests.at(-1), /forecast_days=3/);
        assert.deepEqual([f.location, f.units],
          [{ latitude: 48.5, longitude: 9.25, timezone: PLACE.timezone }, METRIC]);
        assert.deepEqual(f.days.map((d) => [d.date, d.temperature_max, d.temperature_min]),
          [['2026-01-10', 15, 5], ['2026-01-11', 16, 4], ['2026-01-12', 17, 3]]);
        assert.deepEqual(f.days[1], { date: '2026-01-11', weather_code: 61,
          conditions: f.days[1].conditions, temperature_max: 16, temperature_min: 4,
          precipitation_sum: 1.5, precipitation_probability_max: 10, wind_speed_max: 21 });
        assert.notEqual(f.days[0].conditions, f.days[1].conditions);
      },
      bad: (c) => runCase(c, 'get_forecast', [[{ latitude: 1, longitude: 2 }, missing('days')],
        [{ latitude: 1, longitude: 2, days: 'x' }, schema('/days: expected integer, got string')],
        [{ latitude: FAILING_LATITUDE, longitude: 1, days: 2 }, new RegExp(`^weather provider ${
          esc(c.env.fake.url)} failed after 3 attempts: HTTP 500: fake provider is down$`)]]),
    },
    geocode: { ro: true,
      async good(c) {
        const g = await c.sc('geocode', { name: 'Testville', count: 2 });
        const { id, ...place } = PLACE;
        assert.deepEqual([g.query, g.results.length, g.results[0]], ['Testville', 2, place]);
        assert.equal(g.results[1].name, 'Testville Heights');
        assert.match(c.env.fake.requests.at(-1), /^\/v1\/search\?name=Testville&count=2/);
        assert.deepEqual((await c.sc('geocode', { name: 'Atlantis' })).results, []);
      },
      bad: [[{}, missing('name')],
        [{ name: 'x', count: 0 }, schema('/count: number 0 is less than the minimum 1')]],
    },
    health: { ro: true,
      async good(c) {
        const h = await c.sc('health', {});
        assert.deepEqual([h.status, h.forecast_url, h.geocoding_url],
          ['ok', c.env.fake.url, c.env.fake.url]);
        assert.ok(h.upstream_requests >= 7, `upstream_requests ${h.upstream_requests}`);
      },
      bad: [[{ verbose: true }, extraProp('verbose')]],
    },
  },
}, {
  name: 'database', prefix: 'sqlite',
  cli: () => ['--allow-writes'], options: () => ({ allow_writes: true }),
  tools: {
    execute: { ro: false,
      async good(c) {
        const t = await c.sc('execute', { sql: 'CREATE TABLE items (id INTEGER PRIMARY KEY, ' +
          'name TEXT NOT NULL, price REAL DEFAULT 0, note TEXT)' });
        assert.equal(t.rows_affected, 0);
        const sql = 'INSERT INTO items (name, price, note) VALUES (?1, ?2, ?3)';
        const a = await c.sc('execute', { sql, params: ['apple', 1.25, null] });
        assert.deepEqual([a.rows_affected, a.last_insert_id], [1, 1]);
        const b = await c.sc('execute', { sql, params: ["pear'); DROP TABLE items;", 2.5, 'x'] });
        assert.deepEqual([b.rows_affected, b.last_insert_id], [1, 2]);
      },
      bad: [[{ sql: 'INSERT INTO nope VALUES (1)' }, /no such table: nope/],
        [{ sql: 'INSERT INTO items (name) VALUES (1); DROP TABLE items' },
          /^only one SQL statement per call is allowed$/],
        [{ sql: 42 }, schema('/sql: expected string, got')]],
    },
    query: { ro: true,
      good: [[{ sql: 'SELECT name, price, note FROM items WHERE price > ? ORDER BY id', params: [1] },
        { columns: ['name', 'price', 'note'], truncated: false, row_count: 2,
          rows: [['apple', 1.25, null], ["pear'); DROP TABLE items;", 2.5, 'x']] }]],
      async bad(c) {
        await runCase(c, 'query', [[{ sql: 'DELETE FROM items' },
          /^query runs read-only statements only; use execute to change data$/],
        [{ sql: 'SELECT 1; DROP TABLE items' }, /^only one SQL statement per call is allowed$/],
        [{ sql: 'SELECT ?1, ?2', params: [1] }, /^the statement has 2 parameters, got 1$/],
        [{}, missing('sql')]]);
        assert.deepEqual((await c.sc('query', { sql: 'SELECT count(*) FROM items' })).rows, [[2]]);
      },
    },
    list_tables: { ro: true,
      good: [[{}, { tables: [{ name: 'items', type: 'table' }] }]],
      bad: [[{ schema: 'main' }, extraProp('schema')]],
    },
    describe_table: { ro: true,
      async good(c) {
        const d = await c.sc('describe_table', { table: 'items' });
        assert.deepEqual([d.table, d.type, d.columns[2].default_value], ['items', 'table', '0']);
        assert.deepEqual(d.columns.map((x) => [x.name, x.type, x.not_null, x.primary_key]),
          [['id', 'INTEGER', false, 1], ['name', 'TEXT', true, 0], ['price', 'REAL', false, 0],
            ['note', 'TEXT', false, 0]]);
        assert.match(d.sql, /^CREATE TABLE items/);
      },
      bad: [[{ table: 'nope' }, /^no such table: nope$/]],
    },
    health: { ro: true,
      async good(c) {
        const h = await c.sc('health', {});
        assert.deepEqual([h.status, h.backend, h.writable, h.max_rows], ['ok', 'sqlite', true, 1e3]);
      },
      bad: [[{ x: 1 }, extraProp('x')]],
    },
  },
}, {
  name: 'filesystem', prefix: 'fs',
  cli: (e) => ['--root', e.files], options: (e) => ({ roots: [e.files] }),
  prepare(e) {
    mkdirSync(e.files, { recursive: true });
    writeFileSync(path.join(e.files, 'pixel.png'), PNG);
  },
  tools: {
    list_allowed_directories: { ro: true,
      good: (c) => runCase(c, 'list_allowed_directories',
        [[{}, `Allowed directories:\n${c.env.files}`]], true),
      bad: [[{ path: '/' }, extraProp('path')]],
    },
    write_file: { ro: false,
      async good(c) {
        const content = 'alpha\nbeta\ngamma\n';
        const r = await c.text('write_file', { path: 'notes.txt', content });
        assert.equal(r, 'Successfully wrote to notes.txt');
        assert.equal(readFileSync(path.join(c.env.files, 'notes.txt'), 'utf8'), content);
      },
      async bad(c) {
        const outside = path.join(c.env.dir, 'outside.txt');
        await c.bad('write_file', { path: outside, content: 'x' }, escapes(outside));
        assert.ok(!existsSync(outside), 'write_file wrote outside the root');
        await c.bad('write_file', { path: 'y.txt' }, missing('content'));
      },
    },
    read_text_file: { ro: true,
      good: (c) => runCase(c, 'read_text_file', [[{ path: 'notes.txt' }, 'alpha\nbeta\ngamma\n'],
        [{ path: 'notes.txt', head: 1 }, 'alpha'],
        [{ path: path.join(c.env.files, 'notes.txt'), tail: 1 }, 'gamma']], true),
      async bad(c) {
        await c.bad('read_text_file', { path: '../outside.txt' }, escapes('../outside.txt'));
        await c.bad('read_text_file', { path: 'nope.txt' }, /^no such file or directory: .*nope\.txt$/);
        const link = path.join(c.env.files, 'escape');  // a symbolic link out of the root
        writeFileSync(path.join(c.env.dir, 'secret'), 'top secret');
        symlinkSync(path.join(c.env.dir, 'secret'), link);
        try {
          await c.bad('read_text_file', { path: 'escape' }, /escapes the allowed roots/);
        } finally {
          unlinkSync(link);
        }
      },
    },
    edit_file: { ro: false,
      async good(c) {
        const file = path.join(c.env.files, 'notes.txt');
        const edit = { path: 'notes.txt', edits: [{ oldText: 'beta', newText: 'BETA' }] };
        assert.match(await c.text('edit_file', { ...edit, dryRun: true }),
          /^```diff\n[^]*\n-beta\n\+BETA\n[^]*```/);
        assert.equal(readFileSync(file, 'utf8'), 'alpha\nbeta\ngamma\n', 'dryRun wrote the file');
        assert.match(await c.text('edit_file', edit), /\n-beta\n\+BETA\n/);
        assert.equal(readFileSync(file, 'utf8'), 'alpha\nBETA\ngamma\n');
      },
      bad: [[{ path: 'notes.txt', edits: [{ oldText: 'nomatch', newText: 'x' }] },
        /^edit 1: oldText not found in notes\.txt: nomatch$/],
      [{ path: 'notes.txt', edits: [{ oldText: 'a' }] },
        schema('/edits/0: missing required property "newText"')]],
    },
    create_directory: { ro: false,
      async good(c) {
        assert.equal(await c.text('create_directory', { path: 'sub/deep' }),
          'Successfully created directory sub/deep');
        assert.ok(statSync(path.join(c.env.files, 'sub/deep')).isDirectory());
      },
      bad: [[{ path: '/etc/plexus-nope' }, escapes('/etc/plexus-nope')]],
    },
    move_file: { ro: false,
      async good(c) {
        const move = { source: 'notes.txt', destination: 'sub/notes.txt' };
        assert.equal(await c.text('move_file', move), 'Successfully moved notes.txt to sub/notes.txt');
        assert.ok(!existsSync(path.join(c.env.files, 'notes.txt')));
        assert.equal(readFileSync(path.join(c.env.files, 'sub/notes.txt'), 'utf8'),
          'alpha\nBETA\ngamma\n');
      },
      bad: (c) => c.bad('move_file', { source: 'sub/notes.txt', destination: 'sub/deep' },
        new RegExp(`^destination exists: ${esc(path.join(c.env.files, 'sub/deep'))}$`)),
    },
    list_directory: { ro: true,
      good: [[{ path: '.' }, '[FILE] pixel.png\n[DIR] sub']],
      bad: [[{ path: 'sub/notes.txt' }, /^not a directory: .*sub\/notes\.txt$/]],
    },
    directory_tree: { ro: true,
      async good(c) {
        const tree = await c.text('directory_tree', { path: '.', excludePatterns: ['*.png'] });
        assert.deepEqual(JSON.parse(tree), [{ name: 'sub', type: 'directory', children: [
          { name: 'deep', type: 'directory', children: [] },
          { name: 'notes.txt', type: 'file' }] }]);
      },
      bad: [[{}, missing('path')]],
    },
    search_files: { ro: true,
      good: (c) => runCase(c, 'search_files', [[{ path: '.', pattern: '**/*.txt' },
        path.join(c.env.files, 'sub/notes.txt')]], true),
      bad: [[{ path: '.' }, missing('pattern')]],
    },
    get_file_info: { ro: true,
      good: [[{ path: 'sub/notes.txt' }, /^size: 17\n[^]*^isDirectory: false\nisFile: true$/m]],
      bad: [[{ path: 'nope' }, /^no such file or directory: .*\/nope$/]],
    },
    read_multiple_files: { ro: true,
      good: [[{ paths: ['sub/notes.txt', 'missing.txt'] },
        /^sub\/notes\.txt:\nalpha\nBETA\ngamma\n[^]*\n---\nmissing\.txt: Error - no such file/]],
      bad: [[{ paths: [] }, schema('/paths: array has 0 items, fewer than minItems 1')]],
    },
    read_media_file: { ro: true,
      async good(c) {
        const r = await c.ok('read_media_file', { path: 'pixel.png' });
        assert.deepEqual(r.content,
          [{ type: 'image', mimeType: 'image/png', data: PNG.toString('base64') }]);
        // Not an image: an embedded resource, whose URI the gateway maps.
        const [t] = (await c.ok('read_media_file', { path: 'sub/notes.txt' })).content;
        assert.equal(t.type, 'resource');
        assert.equal(t.resource.uri, c.uri(`file://${c.env.files}/sub/notes.txt`));
        assert.equal(Buffer.from(t.resource.blob, 'base64').toString(), 'alpha\nBETA\ngamma\n');
      },
      bad: [[{ path: '/etc/hostname' }, escapes('/etc/hostname')]],
    },
    health: { ro: true,
      good: (c) => runCase(c, 'health', [[{}, { status: 'ok', roots: [c.env.files],
        readOnly: false, maxReadBytes: 10485760, maxWriteBytes: 10485760 }]], true),
      bad: [[{ deep: true }, extraProp('deep')]],
    },
  },
  async resources(c) {
    const templates = await listAll((p) => c.client.listResourceTemplates(p), 'resourceTemplates');
    assert.ok(templates.some((t) => t.uriTemplate === c.uri('file://{+path}')),
      `no ${c.uri('file://{+path}')} in ${JSON.stringify(templates.map((t) => t.uriTemplate))}`);
    const uri = c.uri(`file://${c.env.files}/sub/notes.txt`);
    assert.deepEqual((await c.client.readResource({ uri })).contents.map((x) => [x.uri, x.text]),
      [[uri, 'alpha\nBETA\ngamma\n']]);
    await assert.rejects(c.client.readResource({ uri: c.uri('file:///etc/hostname') }));
  },
}, {
  name: 'wallet', prefix: 'wallet', cli: () => [], options: () => ({}),
  tools: {
    create_account: { ro: false,
      async good(c) {
        for (const [name, cur] of [['alice', 'USD'], ['bob', 'USD'], ['carol', 'EUR']]) {
          const a = await c.sc('create_account', { name, currency: cur });
          assert.deepEqual([a.created, a.account.name, a.account.currency, a.account.balance],
            [true, name, cur, 0]);
        }
        const again = await c.sc('create_account', { name: 'alice', currency: 'USD' });
        assert.deepEqual([again.created, again.account.name], [false, 'alice']);
      },
      bad: [[{ name: 'alice', currency: 'EUR' },
        /^account "alice" already exists with currency USD, not EUR$/],
      [{ name: 'bad name!', currency: 'USD' },
        /^account name "bad name!" is invalid: only letters/],
        [{ name: 'dave', currency: 'usd' }, schema('/currency: string does not match pattern')]],
    },
    deposit: { ro: false,
      async good(c) {
        const d = await c.sc('deposit', { account: 'alice', amount: 10000, idempotency_key: 'd1' });
        const t = d.transaction;
        assert.deepEqual([d.replayed, t.kind, t.currency, t.amount, t.from, t.to],
          [false, 'deposit', 'USD', 10000, 'external:USD', 'alice']);
        assert.deepEqual(t.entries.map((e) => [e.account, e.amount, e.balance_after]),
          [['external:USD', -10000, -10000], ['alice', 10000, 10000]]);
        c.s.deposit = t.id;
      },
      bad: [[{ account: 'alice', amount: -5 },
        schema('/amount: number -5 is less than the minimum 1')],
      [{ account: 'zed', amount: 5 }, /^account "zed" does not exist \(create_account makes/]],
    },
    transfer: { ro: false,
      async good(c) {
        const args = { from: 'alice', to: 'bob', amount: 2500, idempotency_key: 'tx-1' };
        const first = await c.sc('transfer', args);
        assert.equal(first.replayed, false);
        assert.deepEqual(first.transaction.entries.map((e) => e.balance_after), [7500, 2500]);
        const retry = await c.sc('transfer', args);
        assert.deepEqual([retry.replayed, retry.transaction.id], [true, first.transaction.id]);
        c.s.transfer = first.transaction.id;
        // Concurrent retries of one request: applied once, every answer names that transaction.
        const same = { from: 'alice', to: 'bob', amount: 500, idempotency_key: 'tx-race' };
        const race = await Promise.all([1, 2, 3, 4, 5].map(() => c.sc('transfer', same)));
        assert.equal(race.filter((r) => !r.replayed).length, 1, 'not applied exactly once');
        assert.equal(new Set(race.map((r) => r.transaction.id)).size, 1);
        const back = { from: 'bob', to: 'alice', amount: 500, idempotency_key: 'tx-race-back' };
        c.s.more = [race[0].transaction.id, (await c.sc('transfer', back)).transaction.id];
        assert.equal((await c.sc('get_balance', { account: 'alice' })).balance, 7500);
        assert.equal((await c.sc('get_balance', { account: 'bob' })).balance, 2500);
      },
      async bad(c) {
        await runCase(c, 'transfer', [
          [{ from: 'alice', to: 'bob', amount: 999999, idempotency_key: 'tx-2' },
            /^insufficient funds: "alice" has 7500 USD minor units, the transfer needs 999999$/],
          [{ from: 'alice', to: 'bob', amount: 1, idempotency_key: 'tx-1' },
            /^idempotency_key "tx-1" was already used for a different request/],
          [{ from: 'alice', to: 'carol', amount: 1, idempotency_key: 'tx-3' },
            /^currency mismatch: "alice" holds USD and "carol" holds EUR/],
          [{ from: 'alice', to: 'bob', amount: 1 }, missing('idempotency_key')]]);
        const alice = await c.sc('get_balance', { account: 'alice' });
        assert.equal(alice.balance, 7500, 'a refused transfer moved money');
      },
    },
    get_balance: { ro: true,
      good: [[{ account: 'bob' },
        { account: 'bob', currency: 'USD', balance: 2500, system: false }],
        [{ account: 'external:USD' },
          { account: 'external:USD', currency: 'USD', balance: -10000, system: true }]],
      bad: [[{ account: 'zed' }, /^account "zed" does not exist/]],
    },
    list_transactions: { ro: true,
      async good(c) {
        const ids = [];
        let cursor;
        for (let i = 0; i < 10; i++) {
          const p = await c.sc('list_transactions', { account: 'alice', limit: 1, cursor });
          assert.deepEqual([p.balance, p.transactions.length], [7500, 1]);
          ids.push(p.transactions[0].id);
          if (!(cursor = p.next_cursor)) break;
        }
        assert.deepEqual(ids, [...c.s.more.toReversed(), c.s.transfer, c.s.deposit]);
      },
      bad: [[{ account: 'alice', cursor: 'garbage' }, /^invalid cursor: /],
        [{ account: 'zed' }, /^account "zed" does not exist/]],
    },
    list_accounts: { ro: true,
      async good(c) {
        const seen = [];
        let cursor;
        for (let i = 0; i < 5; i++) {
          const p = await c.sc('list_accounts', { limit: 2, cursor });
          assert.ok(p.accounts.length <= 2);
          seen.push(...p.accounts.map((a) => `${a.name}:${a.balance}`));
          if (!(cursor = p.next_cursor)) break;
        }
        assert.deepEqual(seen.filter((a) => !a.startsWith('external:')).sort(),
          ['alice:7500', 'bob:2500', 'carol:0']);
      },
      bad: [[{ cursor: 'zz' },
        /^invalid cursor: pass back the next_cursor of an earlier list_accounts$/],
        [{ limit: 0 }, schema('/limit: number 0 is less than the minimum 1')]],
    },
    health: { ro: true,
      async good(c) {
        const h = await c.sc('health', {});
        assert.deepEqual([h.status, h.backend, h.accounts >= 3, h.transactions, h.balanced],
          ['ok', 'sqlite', true, 4, true]);
      },
      bad: [[{ x: 1 }, extraProp('x')]],
    },
  },
}, {
  name: 'knowledge', prefix: 'knowledge', cli: () => [], options: () => ({}),
  tools: {
    ingest: { ro: false,
      async good(c) {
        const text = '# Zebra facts\n\nThe zebra is a striped horse living in Africa.';
        const [z] = (await c.sc('ingest', { text, title: 'Zebras' })).documents;
        assert.deepEqual([z.title, z.status, z.chunks], ['Zebras', 'added', 1]);
        // structuredContent names documents by the URI the client sees (mapped by a gateway).
        const base = c.uri('knowledge://documents/');
        assert.ok(z.uri.startsWith(base) && /^\d+$/.test(z.uri.slice(base.length)), z.uri);
        const otters = '# Otters\n\nOtters hold hands while sleeping in kelp forests.';
        const [o] = (await c.sc('ingest', { text: otters })).documents;
        assert.deepEqual([o.title, o.status], ['Otters', 'added']);
        [c.s.zebra, c.s.otter] = [z.uri, o.uri];
        const [again] = (await c.sc('ingest', { text, title: 'Zebras' })).documents;
        assert.deepEqual([again.uri, again.status], [z.uri, 'unchanged']);
      },
      bad: [[{}, /^give a path \(file or folder\) or text to ingest$/],
        [{ text: 'a', path: 'b' }, /^give either path or text, not both$/],
        [{ path: '/etc' }, /^ingesting from the filesystem is disabled/]],
    },
    search: { ro: true,
      async good(c) {
        const r = await c.ok('search', { query: 'striped horse', mode: 'bm25' });
        const s = r.structuredContent;
        assert.deepEqual([s.mode, s.hits.map((h) => [h.uri, h.title, h.heading])],
          ['bm25', [[c.s.zebra, 'Zebras', 'Zebra facts']]]);
        assert.ok(s.hits[0].score > 0 && s.hits[0].text.includes('striped horse'));
        // The hit cites its document as a resource_link the client can read.
        const links = r.content.filter((b) => b.type === 'resource_link');
        assert.deepEqual(links.map((l) => [l.uri, l.name]), [[c.s.zebra, 'Zebras']]);
        const doc = await c.client.readResource({ uri: links[0].uri });
        assert.equal(doc.contents[0].uri, links[0].uri);
        assert.match(doc.contents[0].text, /The zebra is a striped horse/);
      },
      bad: [[{ query: 'zebra', mode: 'vector' }, /^vector search needs an embeddings endpoint/],
        [{ query: '' }, schema('/query: string has 0 characters, fewer than minLength 1')]],
    },
    list_documents: { ro: true,
      async good(c) {
        const l = await c.sc('list_documents', {});
        assert.deepEqual(l.documents.map((d) => [d.uri, d.title, d.mime_type]),
          [[c.s.zebra, 'Zebras', 'text/markdown'], [c.s.otter, 'Otters', 'text/markdown']]);
      },
      bad: [[{ cursor: 'zz' }, /^invalid cursor "zz"/]],
    },
    delete_document: { ro: false,
      async good(c) {
        assert.deepEqual(await c.sc('delete_document', { uri: c.s.otter }),
          { uri: c.s.otter, deleted: true, chunks_removed: 1 });
        assert.equal((await c.sc('delete_document', { uri: c.s.otter })).deleted, false);
        assert.deepEqual((await c.sc('search', { query: 'otters kelp' })).hits, []);
      },
      bad: [[{ uri: 'http://x' }, /^not a knowledge document URI: "http:\/\/x"/]],
    },
    health: { ro: true,
      async good(c) {
        const h = await c.sc('health', {});
        assert.deepEqual([h.status, h.documents, h.chunks, h.embeddings], ['ok', 1, 1, false]);
      },
      bad: [[{ x: 1 }, extraProp('x')]],
    },
  },
  async resources(c) {
    const templates = await listAll((p) => c.client.listResourceTemplates(p), 'resourceTemplates');
    assert.ok(templates.some((t) => t.uriTemplate === c.uri('knowledge://documents/{id}')),
      `no ${c.uri('knowledge://documents/{id}')} in ${templates.map((t) => t.uriTemplate)}`);
    // Documents are listed under the URI the client sees (`prefix+uri` through the gateway).
    const listed = await listAll((p) => c.client.listResources(p), 'resources');
    assert.deepEqual(listed.map((r) => r.uri).filter((u) => u.includes('knowledge://')),
      [c.s.zebra]);
    const doc = await c.client.readResource({ uri: c.s.zebra });
    assert.match(doc.contents[0].text, /^# Zebra facts/);
    await assert.rejects(c.client.readResource({ uri: c.s.otter }));
  },
}, {
  name: 'memory', prefix: 'memory', cli: () => [], options: () => ({}),
  tools: {
    create_entities: { ro: false,
      good: [[{ entities: [{ name: 'Ada', entityType: 'person', observations: ['wrote notes'] },
        { name: 'Engine', entityType: 'machine', observations: [] }] }, { entities: [
        { name: 'Ada', entityType: 'person', observations: ['wrote notes'] },
        { name: 'Engine', entityType: 'machine', observations: [] }] }],
      [{ entities: [{ name: 'Ada', entityType: 'robot', observations: [] }] }, { entities: [] }]],
      bad: [[{ entities: [{ name: '', entityType: 'x', observations: [] }] },
        /^entity name must not be empty$/],
      [{ entities: [{ name: 'x' }] }, schema('/entities/0: missing required property')]],
    },
    create_relations: { ro: false,
      good: [[{ relations: [{ from: 'Ada', to: 'Engine', relationType: 'programs' }] },
        { relations: [{ from: 'Ada', to: 'Engine', relationType: 'programs' }] }]],
      bad: [[{ relations: [{ from: 'Ada', to: 'Ghost', relationType: 'knows' }] },
        /^Cannot create relation "Ada" -\[knows\]-> "Ghost": entity "Ghost" does not exist$/]],
    },
    add_observations: { ro: false,
      good: [[{ observations: [{ entityName: 'Ada', contents: ['born 1815', 'wrote notes'] }] },
        { results: [{ entityName: 'Ada', addedObservations: ['born 1815'] }] }]],
      bad: [[{ observations: [{ entityName: 'Ghost', contents: ['x'] }] },
        /^Entity with name Ghost not found$/]],
    },
    search_nodes: { ro: true,
      good: [[{ query: '1815' }, { relations: [], entities: [
        { name: 'Ada', entityType: 'person', observations: ['wrote notes', 'born 1815'] }] }]],
      bad: [[{}, missing('query')]],
    },
    open_nodes: { ro: true,
      async good(c) {
        const r = await c.sc('open_nodes', { names: ['Ada', 'Engine'] });
        assert.deepEqual(r.entities.map((e) => e.name), ['Ada', 'Engine']);
        assert.deepEqual(r.relations, [{ from: 'Ada', to: 'Engine', relationType: 'programs' }]);
      },
      bad: [[{ names: 'Ada' }, schema('/names: expected array, got string')]],
    },
    delete_observations: { ro: false,
      good: [[{ deletions: [{ entityName: 'Ada', observations: ['wrote notes'] }] },
        { success: true, message: 'Observations deleted successfully' }]],
      bad: [[{ deletions: [{ entityName: 'Ada' }] },
        schema('/deletions/0: missing required property "observations"')]],
    },
    delete_relations: { ro: false,
      good: [[{ relations: [{ from: 'Ada', to: 'Engine', relationType: 'programs' }] },
        { success: true, message: 'Relations deleted successfully' }]],
      bad: [[{}, missing('relations')]],
    },
    delete_entities: { ro: false,
      good: [[{ entityNames: ['Engine'] },
        { success: true, message: 'Entities deleted successfully' }]],
      bad: [[{ entityNames: 'Engine' }, schema('/entityNames: expected array, got string')]],
    },
    read_graph: { ro: true,
      good: [[{}, { relations: [],
        entities: [{ name: 'Ada', entityType: 'person', observations: ['born 1815'] }] }]],
      bad: [[{ depth: 1 }, extraProp('depth')]],
    },
    health: { ro: true,
      async good(c) {
        const h = await c.sc('health', {});
        assert.deepEqual([h.status, h.entities, h.relations, h.observations], ['ok', 1, 0, 1]);
      },
      bad: [[{ x: 1 }, extraProp('x')]],
    },
  },
}];

// ---- running the table ----------------------------------------------------------------------
// `tools`: the server's listed tools by unprefixed name.
async function runServer(spec, c, tools) {
  await check(`${spec.name}: every listed tool has a good and a bad case`, () => {
    const untested = [...tools.keys()].filter((t) => !spec.tools[t]?.good || !spec.tools[t]?.bad);
    assert.deepEqual(untested, [], `tools without cases: ${untested.join(', ')}`);
    const unlisted = Object.keys(spec.tools).filter((t) => !tools.has(t));
    assert.deepEqual(unlisted, [], `cases for tools not listed: ${unlisted.join(', ')}`);
  });
  await check(`${spec.name}: tool annotations`, () => {
    for (const [name, { annotations: a }] of tools) {
      assert.ok(a, `${name}: no annotations`);
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'])
        assert.equal(typeof a[hint], 'boolean', `${name}: ${hint} is ${a[hint]}`);
      if (spec.tools[name]) assert.equal(a.readOnlyHint, spec.tools[name].ro, `${name}: readOnly`);
      if (a.readOnlyHint) assert.equal(a.destructiveHint, false, `${name}: read-only, destructive`);
    }
  });
  await check(`${spec.name}: an unknown tool is -32602`, () => assert.rejects(
    c.call('no_such_tool', {}), (e) => e.code === -32602 && /no_such_tool/.test(e.message)));
  for (const [name, t] of Object.entries(spec.tools)) {
    if (!tools.has(name)) continue;
    await check(`${spec.name}/${name} good`, () => runCase(c, name, t.good, true));
    await check(`${spec.name}/${name} bad`, () => runCase(c, name, t.bad, false));
  }
  if (spec.resources) await check(`${spec.name}: resources`, () => spec.resources(c));
}

// Runs `body(client)` against a child `plexus ARGS`; prints its stderr when a check of the run
// labelled `label` failed.
async function withPlexus(args, label, body) {
  const transport = new StdioClientTransport({ command: BIN, args, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'plexus-builtin-interop', version: '1.0.0' });
  try {
    await client.connect(transport);
    await body(client);
  } catch (e) {
    aborted(e);
  } finally {
    await client.close().catch(() => {});
  }
  if (state.failures.some((f) => f.startsWith(label))) console.log(`     stderr:\n${stderr}`);
}

function envFor(tmp, run, fake) {
  const dir = path.join(tmp, run);
  mkdirSync(dir, { recursive: true });
  return { dir, data: path.join(dir, 'data'), files: path.join(dir, 'files'), fake };
}

async function runStdio(tmp, fake) {
  state.prefix = '[stdio] ';
  for (const spec of SERVERS) {
    const env = envFor(tmp, `stdio-${spec.name}`, fake);
    spec.prepare?.(env);
    const args = ['server', spec.name, '--stdio', '--data-dir', env.data, ...spec.cli(env)];
    await withPlexus(args, `[stdio] ${spec.name}`, async (client) => {
      const listed = await listAll((p) => client.listTools(p), 'tools');
      const c = makeContext(client, (t) => t, (u) => u, env);
      await runServer(spec, c, new Map(listed.map((t) => [t.name, t])));
    });
  }
}

// The gateway mounts every server as a builtin upstream named (and prefixed) spec.prefix.
function gatewayConfig(env) {
  const lines = ['gateway:', `  data_dir: ${JSON.stringify(env.data)}`, '  separator: "_"',
    'upstreams:'];
  for (const spec of SERVERS) {
    lines.push(`  ${spec.prefix}:`, `    builtin: ${spec.name}`, `    prefix: ${spec.prefix}`,
      `    options: ${JSON.stringify(spec.options(env))}`);
  }
  return lines.join('\n') + '\n';
}

async function runGateway(tmp, fake) {
  state.prefix = '[gateway] ';
  const env = envFor(tmp, 'gateway', fake);
  for (const spec of SERVERS) spec.prepare?.(env);
  const cfg = path.join(env.dir, 'plexus.yaml');
  writeFileSync(cfg, gatewayConfig(env));
  await withPlexus(['gateway', '--stdio', '--config', cfg], '[gateway]', async (client) => {
    const listed = await listAll((p) => client.listTools(p), 'tools');
    await check('every listed tool belongs to one of the six upstreams', () => {
      const stray = listed.map((t) => t.name)
        .filter((n) => !SERVERS.some((s) => n.startsWith(`${s.prefix}_`)));
      assert.deepEqual(stray, []);
    });
    for (const spec of SERVERS) {
      const p = `${spec.prefix}_`;
      const tools = new Map(listed.filter((t) => t.name.startsWith(p))
        .map((t) => [t.name.slice(p.length), t]));
      await runServer(spec, makeContext(client, (t) => p + t, (u) => `${spec.prefix}+${u}`, env),
        tools);
    }
  });
}

const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'plexus-builtin-')));
const fake = await startFakeOpenMeteo();
let stdioTally = '';
try {
  await runStdio(tmp, fake);
  stdioTally = `stdio ${state.passed} passed, ${state.failures.length} failed`;
  console.log(`\n${stdioTally}\n`);
  await runGateway(tmp, fake);
} finally {
  await fake.close();
  if (!process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
}
finish(`builtin_servers (@modelcontextprotocol/sdk ${SDK_VERSION})`, ` (${stdioTally})`);
