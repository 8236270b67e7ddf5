// The modern-era (2026-07-28) walks of `plexus everything` with the official v2 client
// (@modelcontextprotocol/client), over whatever transport the calling script connects:
// v2_modern.mjs (stdio) and v2_http.mjs (Streamable HTTP). Three suites: the full modern walk
// (server/discover, per-request _meta, resultType, input_required/MRTR, subscriptions/listen),
// reduced client capabilities, and a short legacy-era pass of the same client.
//
// `env`: { Client, sdkVersion, makeTransport(conn) → a transport (it may add fields to conn, e.g.
// stderr or an HTTP log), conns: [] (every connection opened, for the final cleanup),
// removedMethod: { label(method), run(c, method, params) } (a method 2026-07-28 removed, sent
// raw), cancel: { label, verify(c, req, abortedAt) → the time progress must stop after },
// hooks: { xMcpHeader(c), reconnection(c), afterCompletion(c), legacyBeforeClose(c) } }.
import assert from 'node:assert/strict';
import {
  check, jsonAfter, onlyText, rejectsWithCode, sleep, state, waitFor,
} from './harness.mjs';
import {
  INSTRUCTIONS, LOG_LINES, PROMPTS, ROOTS, addChecks, assertTaskSupport, assertToolNames,
  completionChecks, contentChecks, echoChecks, elicitAnswer, elicitationSchemaChecks,
  errorHandlingCheck, everyToolCalledCheck, jsonSchemaCheck, mediaPromptChecks,
  missingCapabilityCheck, resourceListChecks, sampleAnswer, sampled, staticReadChecks,
  taskToolChecks, textPromptChecks, userText,
} from './everything.mjs';

export const MODERN = '2026-07-28';
export const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CAPS = 'io.modelcontextprotocol/clientCapabilities';
export const META_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_LOG = 'io.modelcontextprotocol/logLevel';
export const META_SERVER = 'io.modelcontextprotocol/serverInfo';
export const FULL_CAPS = { sampling: {}, elicitation: { form: { applyDefaults: true } }, roots: {} };

// ---- connections -----------------------------------------------------------------------------
// Makes the transport, taps the wire (Protocol.connect() chains a pre-set onmessage; send is
// wrapped on the instance, so the transport stays the SDK's own) and connects a v2 client with
// the given capabilities and version negotiation.
async function open(env, capabilities, versionNegotiation) {
  const conn = { wireIn: [], wireOut: [], errors: [],
    elicitations: [], samplings: [], rootsAsked: 0, logs: [], updated: [],
    listChanged: { tools: 0, prompts: 0, resources: 0 }, called: new Set() };
  const transport = env.makeTransport(conn);
  conn.transport = transport;
  transport.onmessage = (m) => conn.wireIn.push({ t: Date.now(), m });
  const send = transport.send.bind(transport);
  conn.rawSend = send;
  transport.send = async (m, opts) => {
    conn.wireOut.push({ t: Date.now(), m: structuredClone(m) });
    return send(m, opts);
  };
  const client = new env.Client({ name: 'plexus-interop-v2', version: env.sdkVersion },
    { capabilities, versionNegotiation });
  conn.client = client;
  conn.call = (...a) => call(conn, ...a);
  conn.callText = (...a) => callText(conn, ...a);
  client.onerror = (e) => conn.errors.push(e);
  if (capabilities.elicitation) {
    client.setRequestHandler('elicitation/create', async (req) => {
      conn.elicitations.push(req.params);
      return elicitAnswer(req.params);
    });
  }
  if (capabilities.sampling) {
    client.setRequestHandler('sampling/createMessage', async (req) => {
      conn.samplings.push(req.params);
      return sampleAnswer(req.params);
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
  env.conns.push(conn);
  await client.connect(transport);
  return conn;
}

export const call = (conn, name, args = {}, opts, extra = {}) => {
  conn.called.add(name);
  return conn.client.callTool({ name, arguments: args, ...extra }, opts);
};
export const callText = async (conn, name, args, opts, extra) => {
  const r = await call(conn, name, args, opts, extra);
  assert.equal(r.isError ?? false, false, `${name} failed: ${JSON.stringify(r)}`);
  return onlyText(r);
};
// The tools/call requests the client put on the wire for `tool`, each with its answer.
export function exchanges(conn, tool) {
  return conn.wireOut
    .filter((w) => w.m.method === 'tools/call' && w.m.params?.name === tool)
    .map((w) => ({ req: w.m, res: conn.wireIn.find((x) => x.m.id === w.m.id && !x.m.method)?.m }));
}

// ---- modern era, full capabilities -----------------------------------------------------------
export async function modernSuite(env) {
  const { hooks = {} } = env;
  state.prefix = `[v2 ${MODERN}] `;
  let c;
  await check("connect with versionNegotiation 'auto' → modern era", async () => {
    c = await open(env, FULL_CAPS, { mode: 'auto' });
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
    assertToolNames(tools);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.echo.annotations?.readOnlyHint, true);
    assert.equal(byName.stats.outputSchema?.type, 'object', 'stats outputSchema');
    const res = c.wireIn.findLast((w) => w.m.result?.tools).m.result;
    assert.equal(res.resultType, 'complete');
    assert.equal(typeof res.ttlMs, 'number', 'cacheable list carries ttlMs');
    // On the wire: the v2 SDK's 2026-07-28 Tool schema drops the field.
    assertTaskSupport(res.tools, true);
  });
  // One page each (no cursor following in this era's walk).
  await resourceListChecks(async (method) => (method === 'resources/list'
    ? (await client.listResources()).resources : (await client.listResourceTemplates()).resourceTemplates));
  await check('prompts/list', async () => {
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name).sort(), [...PROMPTS].sort());
  });

  // ---- tools ----
  await echoChecks(c);
  if (hooks.xMcpHeader) await hooks.xMcpHeader(c);
  else {
    await check('tools/call test_x_mcp_header', async () =>
      assert.equal(await callText(c, 'test_x_mcp_header', { region: 'eu-west', level: 3 }), 'region=eu-west'));
  }
  await addChecks(c);
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
  await contentChecks(c);
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
  await errorHandlingCheck(c);
  if (hooks.reconnection) await hooks.reconnection(c);
  else {
    await check('tools/call test_reconnection', async () =>
      assert.equal(await callText(c, 'test_reconnection'),
        'Reconnection test completed successfully. The result was delivered.'));
  }
  await jsonSchemaCheck(c);

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
  await elicitationSchemaChecks(c);
  await missingCapabilityCheck(c);
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
    await check(env.removedMethod.label(method), () => env.removedMethod.run(c, method, params));
  }
  await check('tools/call of an unknown tool → -32602', async () =>
    rejectsWithCode(client.callTool({ name: 'no_such_tool', arguments: {} }), -32602));

  // ---- cancellation ----
  await check(env.cancel.label, async () => {
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
    // How the cancellation reached the server; returns the time progress must stop after.
    const cancelledAt = env.cancel.verify(c, req, abortedAt);
    assert.equal(await callText(c, 'echo', { text: 'after cancel' }), 'after cancel');
    await sleep(800);
    const leaked = c.wireIn.filter((w) => w.m.id === req.id && !w.m.method);
    assert.deepEqual(leaked.map((w) => w.m), [], 'no response for the cancelled request');
    const late = c.wireIn.filter((w) => w.m.method === 'notifications/progress' &&
      w.m.params.progressToken === token && w.t > cancelledAt + 300);
    assert.equal(late.length, 0, `progress after cancellation: ${late.length}`);
    assert.ok(Date.now() - started < 5000, 'the whole exchange took less than the 6 s run');
  });
  await check('long_running_operation still completes after a cancellation', async () =>
    assert.equal(await callText(c, 'long_running_operation', { duration: 1, steps: 2 }),
      'Long running operation completed: 2 steps in 1 s'));

  // ---- resources ----
  await staticReadChecks(client);
  await check('resources/read template test://template/7/data', async () => {
    const [ct, ...rest] = (await client.readResource({ uri: 'test://template/7/data' })).contents;
    assert.equal(rest.length, 0);
    assert.equal(ct.uri, 'test://template/7/data');
    assert.deepEqual(JSON.parse(ct.text), { id: '7', templateTest: true, data: 'Data for ID: 7' });
  });
  await check('resources/read of an unknown resource → -32602 (2026-07-28)', async () =>
    rejectsWithCode(client.readResource({ uri: 'test://no-such-resource' }), -32602));

  // ---- prompts ----
  await textPromptChecks(client);
  await mediaPromptChecks(client);
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
  await completionChecks(client, { arg2: ['g', ['green']], id: ['12', ['123']] });
  await hooks.afterCompletion?.(c);

  // ---- tasks: the fixtures called plainly; no tasks extension declared → -32021 ----
  await taskToolChecks(c, { required: -32021 });

  // ---- whole-connection wire properties ----
  await everyToolCalledCheck(tools, c.called);
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
export async function capabilitySuite(env) {
  state.prefix = `[v2 ${MODERN} elicitation-only] `;
  let c;
  await check("connect with versionNegotiation { pin: '2026-07-28' }", async () => {
    c = await open(env, { elicitation: {} }, { mode: { pin: MODERN } });
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

  state.prefix = `[v2 ${MODERN} no capabilities] `;
  let d;
  await check("connect with versionNegotiation { pin: '2026-07-28' }", async () => {
    d = await open(env, {}, { mode: { pin: MODERN } });
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
export async function legacySuite(env) {
  const { hooks = {} } = env;
  state.prefix = '[v2 legacy 2025-11-25] ';
  let c;
  await check("connect with the default versionNegotiation ('legacy')", async () => {
    c = await open(env, FULL_CAPS, undefined);
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
  await hooks.legacyBeforeClose?.(c);
  await c.client.close();
}
