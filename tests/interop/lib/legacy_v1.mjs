// The complete legacy-era feature walk of `plexus everything` with the official v1 client
// (@modelcontextprotocol/sdk), over whatever transport the calling script made: v1_stdio.mjs
// (stdio, once per legacy revision) and v1_http.mjs (Streamable HTTP, HTTP+SSE, WebSocket).
// Transport-specific checks plug in through hooks.
import assert from 'node:assert/strict';
import { check, jsonAfter, listAll, onlyText, rejectsWithCode, sleep, waitFor } from './harness.mjs';
import {
  INSTRUCTIONS, LOG_LINES, PROMPTS, ROOTS, addChecks, assertTaskSupport, assertToolNames,
  completionChecks, contentChecks, echoChecks, elicitAnswer, elicitationSchemaChecks,
  errorHandlingCheck, everyToolCalledCheck, jsonSchemaCheck, mediaPromptChecks,
  missingCapabilityCheck, resourceListChecks, sampleAnswer, sampled, staticReadChecks,
  taskToolChecks, textPromptChecks, userText,
} from './everything.mjs';

// One full run over `transport` (not yet started). `version`: the protocolVersion the initialize
// request carries. The v1 SDK always offers its LATEST_PROTOCOL_VERSION; older ones are selected
// by rewriting the outgoing initialize request on the transport (the SDK accepts any version in
// its SUPPORTED_PROTOCOL_VERSIONS back).
//
// `sdk`: { Client, T (the SDK's types.js), version }. Hooks, each given the run's context
// (client, transport, wireIn, wireOut, version, call, callText):
//   connectFailed()    after a failed connect (the client is closed already)
//   afterConnect(t)    checks on the transport itself, right after the handshake
//   reconnection(t)    the test_reconnection check (default: one call, the result text)
//   beforeClose(t)     checks before the client is closed (ending the session)
//   afterClose(t)      checks after the client is closed
export async function runV1Walk({ sdk, transport, version, hooks = {} }) {
  const { Client, T } = sdk;
  const structured = version >= '2025-06-18';
  // Wire tap: Protocol.connect() chains a pre-set onmessage; send is wrapped on the instance.
  const wireIn = [];
  const wireOut = [];
  transport.onmessage = (m) => wireIn.push({ t: Date.now(), m });
  const send = transport.send.bind(transport);
  transport.send = async (m, opts) => {
    if (m.method === 'initialize') m = { ...m, params: { ...m.params, protocolVersion: version } };
    wireOut.push({ t: Date.now(), m });
    return send(m, opts);
  };

  const client = new Client(
    { name: 'plexus-interop-v1', version: sdk.version },
    { capabilities: { sampling: {}, elicitation: { form: { applyDefaults: true } }, roots: {} } },
  );
  const elicitations = [];
  const samplings = [];
  let rootsAsked = 0;
  const logs = [];
  const updated = [];
  const listChanged = { tools: 0, prompts: 0 };
  client.setRequestHandler(T.ElicitRequestSchema, async (req) => {
    elicitations.push(req.params);
    return elicitAnswer(req.params);
  });
  client.setRequestHandler(T.CreateMessageRequestSchema, async (req) => {
    samplings.push(req.params);
    return sampleAnswer(req.params);
  });
  client.setRequestHandler(T.ListRootsRequestSchema, async () => {
    rootsAsked++;
    return { roots: ROOTS };
  });
  client.setNotificationHandler(T.LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  client.setNotificationHandler(T.ResourceUpdatedNotificationSchema, (n) => updated.push(n.params));
  client.setNotificationHandler(T.ToolListChangedNotificationSchema, () => listChanged.tools++);
  client.setNotificationHandler(T.PromptListChangedNotificationSchema, () => listChanged.prompts++);

  // Progress is checked on the wire: every notification for the call's token, in order, before
  // its response. The v1 SDK itself drops a progress notification that arrives in the same read
  // as the response (Protocol._onnotification defers handlers to a microtask while _onresponse
  // synchronously removes the progress handler), so onprogress must only see a prefix of them.
  const checkProgress = (tool, seen, want) => {
    const req = wireOut.findLast((w) => w.m.method === 'tools/call' && w.m.params.name === tool);
    const token = req.m.params._meta?.progressToken;
    assert.notEqual(token, undefined, 'the SDK sent a progressToken');
    const respAt = wireIn.findIndex((w) => w.m.id === req.m.id && 'result' in w.m);
    const onWire = wireIn.map((w, i) => ({ ...w, i }))
      .filter((w) => w.m.method === 'notifications/progress' && w.m.params.progressToken === token);
    assert.deepEqual(onWire.map((w) => [w.m.params.progress, w.m.params.total, w.m.params.message]),
      want, 'notifications/progress on the wire');
    assert.ok(onWire.every((w) => w.i < respAt), 'every progress notification precedes the result');
    const got = seen.map((p) => [p.progress, p.total, p.message]);
    assert.ok(got.length >= want.length - 1, `onprogress saw ${got.length} of ${want.length}`);
    assert.deepEqual(got, want.slice(0, got.length), 'onprogress saw the notifications in order');
  };

  const called = new Set();
  const call = (name, args = {}, opts) => {
    called.add(name);
    return client.callTool({ name, arguments: args }, undefined, opts);
  };
  const callText = async (name, args, opts) => {
    const r = await call(name, args, opts);
    assert.equal(r.isError ?? false, false, `${name} failed: ${JSON.stringify(r)}`);
    return onlyText(r);
  };
  // tools/call straight through Protocol.request, past Client.callTool's own checks.
  const rawCall = (name, args = {}) =>
    client.request({ method: 'tools/call', params: { name, arguments: args } }, T.CallToolResultSchema);
  const t = { client, transport, wireIn, wireOut, version, call, callText, rawCall, elicitations };

  let connected = false;
  await check('connect (initialize handshake)', async () => {
    await client.connect(transport);
    connected = true;
    const init = wireIn.find((w) => w.m.id !== undefined && w.m.result?.protocolVersion);
    assert.equal(init?.m.result.protocolVersion, version, 'negotiated version');
    assert.equal(client.getServerVersion()?.name, 'plexus-everything');
    assert.equal(client.getInstructions(), INSTRUCTIONS);
    const caps = client.getServerCapabilities();
    assert.deepEqual(caps.tools, { listChanged: true });
    assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
    assert.deepEqual(caps.prompts, { listChanged: true });
    assert.ok(caps.logging && caps.completions, 'logging and completions capabilities');
    const sent = wireOut.map((w) => w.m.method);
    assert.deepEqual(sent.slice(0, 2), ['initialize', 'notifications/initialized']);
  });
  if (!connected) {
    await client.close().catch(() => {});
    await hooks.connectFailed?.();
    return;
  }

  await hooks.afterConnect?.(t);

  await check('ping', async () => assert.deepEqual(await client.ping(), {}));

  let tools = [];
  await check('tools/list', async () => {
    tools = await listAll((p) => client.listTools(p), 'tools');
    assertToolNames(tools);
    for (const x of tools) assert.equal(x.inputSchema.type, 'object', `${x.name} inputSchema`);
    const byName = Object.fromEntries(tools.map((x) => [x.name, x]));
    assert.equal(byName.echo.annotations?.readOnlyHint, true);
    assert.deepEqual(byName.add.inputSchema.required, ['a', 'b']);
    if (structured) assert.equal(byName.stats.outputSchema?.type, 'object', 'stats outputSchema');
    else assert.equal(byName.stats.outputSchema, undefined, `no outputSchema in ${version}`);
    // Tasks arrived in 2025-11-25; older revisions see no execution field.
    assertTaskSupport(tools, version >= '2025-11-25');
  });
  const lists = {
    'resources/list': () => listAll((p) => client.listResources(p), 'resources'),
    'resources/templates/list': () => listAll((p) => client.listResourceTemplates(p), 'resourceTemplates'),
  };
  await resourceListChecks((method) => lists[method]());
  await check('prompts/list', async () => {
    const ps = await listAll((p) => client.listPrompts(p), 'prompts');
    assert.deepEqual(ps.map((p) => p.name).sort(), [...PROMPTS].sort());
    const withArgs = ps.find((p) => p.name === 'test_prompt_with_arguments');
    assert.deepEqual(withArgs.arguments.map((a) => [a.name, a.required]),
      [['arg1', true], ['arg2', true]]);
  });

  // ---- tools ----
  await echoChecks(t);
  await check('tools/call test_x_mcp_header', async () => {
    assert.equal(await callText('test_x_mcp_header', { region: 'eu-west', level: 3 }), 'region=eu-west');
    assert.equal(await callText('test_x_mcp_header', {}), 'region=unset');
  });
  await addChecks(t);
  await check('long_running_operation text: a fractional duration reads "0.5 s"', async () =>
    assert.equal(await callText('long_running_operation', { duration: 0.5, steps: 1 }),
      'Long running operation completed: 1 steps in 0.5 s'));
  await check('tools/call add with a string → isError', async () => {
    const r = await call('add', { a: 'x', b: 1 });
    assert.equal(r.isError, true);
  });
  await check('tools/call stats (structured output)', async () => {
    const r = await call('stats', { numbers: [1, 2, 3, 4] });
    const want = { count: 4, sum: 10, mean: 2.5, min: 1, max: 4 };
    assert.equal(r.isError ?? false, false);
    assert.deepEqual(JSON.parse(onlyText(r)), want, 'text mirror');
    if (structured) assert.deepEqual(r.structuredContent, want);
    else assert.equal(r.structuredContent, undefined, `no structuredContent in ${version}`);
  });
  await check('tools/call stats with no numbers → isError', async () => {
    const r = await call('stats', { numbers: [] });
    assert.equal(r.isError, true);
  });
  await check('tools/call long_running_operation with progress', async () => {
    const progress = [];
    const r = await call('long_running_operation', { duration: 1, steps: 4 },
      { onprogress: (p) => progress.push(p) });
    assert.equal(onlyText(r), 'Long running operation completed: 4 steps in 1 s');
    checkProgress('long_running_operation', progress, [
      [1, 4, 'step 1 of 4'], [2, 4, 'step 2 of 4'], [3, 4, 'step 3 of 4'], [4, 4, 'step 4 of 4'],
    ]);
  });
  await contentChecks(t);
  await check('logging/setLevel info + test_tool_with_logging → 3 log messages', async () => {
    assert.deepEqual(await client.setLoggingLevel('info'), {});
    logs.length = 0;
    assert.equal(await callText('test_tool_with_logging'), 'Tool with logging executed successfully');
    await waitFor(() => logs.length >= 3, 2000, 'three notifications/message');
    assert.deepEqual(logs.map((l) => [l.level, l.data]), LOG_LINES.map((d) => ['info', d]));
  });
  await check('logging/setLevel warning silences info (test_logging_tool)', async () => {
    await client.setLoggingLevel('warning');
    logs.length = 0;
    assert.equal(await callText('test_logging_tool'), 'Tool with logging executed successfully');
    await sleep(150);
    assert.deepEqual(logs, []);
  });
  await check('logging/setLevel debug + test_logging_tool → 3 log messages', async () => {
    await client.setLoggingLevel('debug');
    logs.length = 0;
    assert.equal(await callText('test_logging_tool'), 'Tool with logging executed successfully');
    await waitFor(() => logs.length >= 3, 2000, 'three notifications/message');
    assert.deepEqual(logs.map((l) => [l.level, l.data]), LOG_LINES.map((d) => ['info', d]));
  });
  await check('logging/setLevel with an unknown level → -32602', async () =>
    rejectsWithCode(client.setLoggingLevel('verbose'), -32602));
  await check('tools/call test_tool_with_progress', async () => {
    const progress = [];
    const r = await call('test_tool_with_progress', {}, { onprogress: (p) => progress.push(p) });
    assert.equal(onlyText(r), 'Tool with progress completed');
    checkProgress('test_tool_with_progress', progress, [
      [0, 100, 'Completed step 1 of 3'], [50, 100, 'Completed step 2 of 3'],
      [100, 100, 'Completed step 3 of 3'],
    ]);
  });
  await errorHandlingCheck(t);
  if (hooks.reconnection) await hooks.reconnection(t);
  else {
    await check('tools/call test_reconnection', async () =>
      assert.equal(await callText('test_reconnection'),
        'Reconnection test completed successfully. The result was delivered.'));
  }
  await check('tools/call test_sampling (sampling/createMessage answered)', async () => {
    samplings.length = 0;
    assert.equal(await callText('test_sampling', { prompt: 'Tell me a joke' }),
      `LLM response: ${sampled('Tell me a joke')}`);
    assert.equal(samplings.length, 1);
    assert.equal(samplings[0].maxTokens, 100);
    assert.deepEqual(samplings[0].messages,
      [{ role: 'user', content: { type: 'text', text: 'Tell me a joke' } }]);
  });
  await check('tools/call test_elicitation (elicitation/create answered)', async () => {
    elicitations.length = 0;
    const text = await callText('test_elicitation', { message: 'Who are you?' });
    assert.deepEqual(jsonAfter(text, 'User response: action=accept, content='),
      { username: 'ada', email: 'ada@example.com' });
    assert.equal(elicitations.length, 1);
    assert.equal(elicitations[0].message, 'Who are you?');
    assert.deepEqual(elicitations[0].requestedSchema.required, ['username', 'email']);
    // "mode" exists since 2025-11-25; the server leaves it out for older clients.
    if (version === '2025-11-25') assert.equal(elicitations[0].mode, 'form');
    else assert.equal(elicitations[0].mode, undefined, `no mode field in ${version}`);
  });
  await elicitationSchemaChecks(t);
  await jsonSchemaCheck(t);
  await missingCapabilityCheck(t);
  await check('tools/call test_streaming_elicitation', async () => {
    const text = await callText('test_streaming_elicitation');
    assert.deepEqual(jsonAfter(text, 'Elicitation: action=accept, content='), { name: 'Ada' });
  });
  await check('tools/call test_trigger_tool_change → notifications/tools/list_changed', async () => {
    listChanged.tools = 0;
    assert.equal(await callText('test_trigger_tool_change'), 'tools list_changed published');
    await waitFor(() => listChanged.tools === 1, 2000, 'notifications/tools/list_changed');
  });
  await check('tools/call test_trigger_prompt_change → notifications/prompts/list_changed', async () => {
    listChanged.prompts = 0;
    assert.equal(await callText('test_trigger_prompt_change'), 'prompts list_changed published');
    await waitFor(() => listChanged.prompts === 1, 2000, 'notifications/prompts/list_changed');
  });
  await check('resources/subscribe + test_trigger_resource_update → notifications/resources/updated', async () => {
    assert.deepEqual(await client.subscribeResource({ uri: 'test://watched-resource' }), {});
    updated.length = 0;
    assert.equal(await callText('test_trigger_resource_update'), 'resource update published');
    await waitFor(() => updated.length >= 1, 2000, 'notifications/resources/updated');
    assert.deepEqual(updated, [{ uri: 'test://watched-resource' }]);
  });
  await check('resources/unsubscribe stops notifications/resources/updated', async () => {
    assert.deepEqual(await client.unsubscribeResource({ uri: 'test://watched-resource' }), {});
    updated.length = 0;
    assert.equal(await callText('test_trigger_resource_update'), 'resource update published');
    await sleep(200);
    assert.deepEqual(updated, []);
  });

  // MRTR-style tools: in the legacy era the server asks through real server→client requests.
  await check('tools/call test_input_required_result_elicitation', async () =>
    assert.equal(await callText('test_input_required_result_elicitation'), 'Hello, Ada!'));
  await check('tools/call test_input_required_result_sampling', async () =>
    assert.equal(await callText('test_input_required_result_sampling'),
      `The model said: ${sampled('What is the capital of France?')}`));
  await check('tools/call test_input_required_result_list_roots', async () => {
    const before = rootsAsked;
    assert.equal(await callText('test_input_required_result_list_roots'),
      'Roots: file:///interop/one file:///interop/two');
    assert.equal(rootsAsked, before + 1);
  });
  await check('tools/call test_input_required_result_request_state (no requestState in legacy)', async () =>
    assert.equal(await callText('test_input_required_result_request_state'), 'state-missing'));
  await check('tools/call test_input_required_result_multiple_inputs', async () => {
    const got = jsonAfter(await callText('test_input_required_result_multiple_inputs'),
      'Received 3 inputs: ');
    assert.deepEqual(got.user_name, { action: 'accept', content: { name: 'Ada' } });
    assert.deepEqual(got.client_roots, { roots: ROOTS });
    assert.deepEqual([got.greeting.model, got.greeting.role, got.greeting.content],
      ['interop-model', 'assistant', { type: 'text', text: sampled('Write a greeting') }]);
  });
  await check('tools/call test_input_required_result_multi_round', async () =>
    assert.equal(await callText('test_input_required_result_multi_round'),
      'Done: {"name":"Ada"} {"color":"teal"}'));
  await check('tools/call test_input_required_result_tampered_state', async () =>
    assert.equal(await callText('test_input_required_result_tampered_state'),
      'confirmed: action=accept'));
  await check('tools/call test_input_required_result_capabilities', async () =>
    assert.equal(await callText('test_input_required_result_capabilities'), 'Received 3 inputs'));
  await check('server→client requests are JSON-RPC requests with ids', async () => {
    const asks = wireIn.filter((w) => w.m.method && w.m.id !== undefined).map((w) => w.m.method);
    for (const m of ['elicitation/create', 'sampling/createMessage', 'roots/list'])
      assert.ok(asks.includes(m), `${m} seen as a request`);
  });

  await check('concurrent calls with interleaved server→client requests', async () => {
    const got = await Promise.all([
      callText('test_input_required_result_elicitation'),
      callText('test_input_required_result_sampling'),
      callText('test_input_required_result_list_roots'),
      callText('test_input_required_result_multi_round'),
      callText('test_elicitation', { message: 'Concurrent?' }),
      callText('echo', { text: 'in between' }),
      callText('test_input_required_result_elicitation'),
    ]);
    assert.deepEqual(got, ['Hello, Ada!', `The model said: ${sampled('What is the capital of France?')}`,
      'Roots: file:///interop/one file:///interop/two', 'Done: {"name":"Ada"} {"color":"teal"}',
      'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
      'in between', 'Hello, Ada!']);
  });
  await check('tools/call of an unknown tool → -32602', async () =>
    rejectsWithCode(client.callTool({ name: 'no_such_tool', arguments: {} }), -32602));

  // ---- cancellation ----
  await check('cancel long_running_operation via AbortSignal', async () => {
    const ac = new AbortController();
    const progress = [];
    const started = Date.now();
    const pending = call('long_running_operation', { duration: 6, steps: 60 },
      { signal: ac.signal, onprogress: (p) => progress.push(p) });
    await waitFor(() => progress.length >= 2, 5000, 'two progress notifications');
    ac.abort('interop cancel');
    await assert.rejects(pending);
    const req = wireOut.findLast((w) => w.m.method === 'tools/call' &&
      w.m.params.name === 'long_running_operation');
    const token = req.m.params._meta?.progressToken;
    const cancel = wireOut.findLast((w) => w.m.method === 'notifications/cancelled');
    assert.equal(cancel?.m.params.requestId, req.m.id, 'notifications/cancelled names the call');
    // The server stops: a later call is answered promptly, no result for the cancelled id ever
    // arrives, and progress stops shortly after the cancellation.
    assert.equal(await callText('echo', { text: 'after cancel' }), 'after cancel');
    await sleep(800);
    const leaked = wireIn.filter((w) => w.m.id === req.m.id && ('result' in w.m || 'error' in w.m));
    assert.deepEqual(leaked.map((w) => w.m), [], 'no response for the cancelled request');
    const late = wireIn.filter((w) => w.m.method === 'notifications/progress' &&
      w.m.params.progressToken === token && w.t > cancel.t + 300);
    assert.equal(late.length, 0, `progress after cancellation: ${late.length}`);
    assert.ok(Date.now() - started < 5000, 'the whole exchange took less than the 6 s run');
  });
  await check('long_running_operation still completes after a cancellation', async () =>
    assert.equal(await callText('long_running_operation', { duration: 1, steps: 2 }),
      'Long running operation completed: 2 steps in 1 s'));

  // ---- resources ----
  await staticReadChecks(client);
  await check('resources/read template test://template/42/data', async () => {
    const [c, ...rest] = (await client.readResource({ uri: 'test://template/42/data' })).contents;
    assert.equal(rest.length, 0);
    assert.equal(c.uri, 'test://template/42/data');
    assert.equal(c.mimeType, 'application/json');
    assert.deepEqual(JSON.parse(c.text), { id: '42', templateTest: true, data: 'Data for ID: 42' });
  });
  await check('resources/read of an unknown resource → -32002', async () =>
    rejectsWithCode(client.readResource({ uri: 'test://no-such-resource' }), -32002));

  // ---- prompts ----
  await textPromptChecks(client);
  await check('prompts/get test_prompt_with_arguments without arguments → -32602', async () =>
    rejectsWithCode(client.getPrompt({ name: 'test_prompt_with_arguments', arguments: {} }), -32602));
  await mediaPromptChecks(client);
  await check('prompts/get test_input_required_result_prompt (elicitation)', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_input_required_result_prompt' })).messages,
      [userText('Context: interop-context')]));

  // ---- completion ----
  await completionChecks(client, { arg2: ['r', ['red']], id: ['1', ['1', '123']] });

  // ---- tasks: the fixtures called plainly; 2025-11-25 is the revision that has tasks ----
  await taskToolChecks(t, { required: version >= '2025-11-25' ? 'refused' : 'sync' });

  await everyToolCalledCheck(tools, called);

  await hooks.beforeClose?.(t);
  await client.close();
  await hooks.afterClose?.(t);
}
