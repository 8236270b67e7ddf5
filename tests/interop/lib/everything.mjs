// What `plexus everything` serves (src/servers/everything.cpp), in one place for every interop
// script: the fixture data the checks expect, how the test client answers the server's
// elicitation and sampling requests, and the check walks that are the same for both SDK
// generations and every transport.
//
// A walk takes a context `t`: { client, call(name, args, opts), callText(name, args, opts),
// elicitations, rawCall(name, args) } where call() records the tool as called and returns the
// CallToolResult, callText() also asserts it is no error and returns its only text block,
// elicitations collects the elicitation/create params the client answered, and rawCall() (v1
// only) sends tools/call past the SDK's own checks.
import assert from 'node:assert/strict';
import { check, jsonAfter, onlyText, rejectsWithCode } from './harness.mjs';

// ---- fixtures ---------------------------------------------------------------------------------
export const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
export const WAV_MIN = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
export const INSTRUCTIONS =
  'The Plexus everything server: every MCP feature, for testing clients and gateways.';
export const TOOLS = [
  'echo', 'test_x_mcp_header', 'add', 'stats', 'long_running_operation', 'test_simple_text',
  'test_image_content', 'test_audio_content', 'test_embedded_resource',
  'test_multiple_content_types', 'test_tool_with_logging', 'test_logging_tool',
  'test_tool_with_progress', 'test_error_handling', 'test_reconnection', 'test_sampling',
  'test_elicitation', 'test_elicitation_sep1034_defaults', 'test_elicitation_sep1330_enums',
  'json_schema_2020_12_tool', 'test_missing_capability', 'test_streaming_elicitation',
  'test_trigger_tool_change', 'test_trigger_prompt_change', 'test_trigger_resource_update',
  'test_input_required_result_elicitation', 'test_input_required_result_sampling',
  'test_input_required_result_list_roots', 'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs', 'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state', 'test_input_required_result_capabilities',
  // tasks (extension io.modelcontextprotocol/tasks): taskSupport none, optional or required
  'greet', 'slow_compute', 'failing_job', 'protocol_error_job', 'confirm_delete', 'multi_input',
  'test_tool_with_task',
];
// execution.taskSupport of the task fixture tools, where tools/list advertises it.
export const TASK_SUPPORT = {
  slow_compute: 'optional', failing_job: 'required', protocol_error_job: 'optional',
  confirm_delete: 'optional', multi_input: 'optional', test_tool_with_task: 'required',
};
export const PROMPTS = [
  'test_simple_prompt', 'test_prompt_with_arguments', 'test_prompt_with_embedded_resource',
  'test_prompt_with_image', 'test_input_required_result_prompt',
];
export const RESOURCES = [
  ['test://static-binary', 'static-binary', 'image/png'],
  ['test://static-text', 'static-text', 'text/plain'],
  ['test://watched-resource', 'watched-resource', 'text/plain'],
];
export const RESOURCE_TEMPLATES = [['test://template/{id}/data', 'template', 'application/json']];
export const ROOTS = [
  { uri: 'file:///interop/one', name: 'one' },
  { uri: 'file:///interop/two', name: 'two' },
];
// What the elicitation handler answers, per requested property.
export const ANSWERS = {
  name: 'Ada', username: 'ada', email: 'ada@example.com', ok: true, color: 'teal',
  context: 'interop-context', confirm: true,
};
export const ENUM_ANSWER = {
  untitledSingle: 'option2', titledSingle: 'value3', legacyEnum: 'opt1',
  untitledMulti: ['option1', 'option3'], titledMulti: ['value2'],
};
export const DEFAULTS = { name: 'John Doe', age: 30, score: 95.5, status: 'active', verified: true };
export const LOG_LINES = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
export const sampled = (prompt) => `sampled[${prompt}]`;
export const userText = (text) => ({ role: 'user', content: { type: 'text', text } });

// ---- the test client's answers to server→client requests ------------------------------------
// elicitation/create: accepts, with ANSWERS for the requested properties (the enum and defaults
// fixtures get ENUM_ANSWER and an empty content the client fills with the schema's defaults).
export function elicitAnswer(params) {
  const props = params.requestedSchema?.properties ?? {};
  if ('untitledSingle' in props) return { action: 'accept', content: { ...ENUM_ANSWER } };
  if ('verified' in props) return { action: 'accept', content: {} };  // client applies defaults
  const content = {};
  for (const k of Object.keys(props)) if (k in ANSWERS) content[k] = ANSWERS[k];
  return { action: 'accept', content };
}

// sampling/createMessage: "sampled[<last message text>]".
export function sampleAnswer(params) {
  const last = params.messages.at(-1);
  return { model: 'interop-model', role: 'assistant',
    content: { type: 'text', text: sampled(last.content.text) } };
}

// ---- list expectations -----------------------------------------------------------------------
export function assertToolNames(tools) {
  assert.deepEqual(tools.map((t) => t.name).sort(), [...TOOLS].sort());
}

// The task fixtures' execution.taskSupport: advertised when `advertised`, else absent.
export function assertTaskSupport(tools, advertised) {
  for (const t of tools) {
    const want = advertised ? TASK_SUPPORT[t.name] : undefined;
    assert.equal(t.execution?.taskSupport, want, `${t.name} execution.taskSupport`);
  }
}

// resources/list and resources/templates/list; `list(method)` returns all items of a list.
export async function resourceListChecks(list) {
  await check('resources/list', async () => {
    const rs = await list('resources/list');
    assert.deepEqual(rs.map((r) => [r.uri, r.name, r.mimeType]).sort(), RESOURCES);
  });
  await check('resources/templates/list', async () => {
    const ts = await list('resources/templates/list');
    assert.deepEqual(ts.map((x) => [x.uriTemplate, x.name, x.mimeType]), RESOURCE_TEMPLATES);
  });
}

// ---- tools -----------------------------------------------------------------------------------
export async function echoChecks(t) {
  await check('tools/call echo', async () =>
    assert.equal(await t.callText('echo', { text: 'héllo ✓ "quoted"' }), 'héllo ✓ "quoted"'));
  await check('tools/call echo without arguments → isError', async () =>
    assert.equal((await t.call('echo', {})).isError, true));
}

export async function addChecks(t) {
  await check('tools/call add', async () => {
    assert.equal(await t.callText('add', { a: 2, b: 3 }), '5');
    assert.equal(await t.callText('add', { a: -7, b: 2 }), '-5');
  });
  // number_text() in everything.cpp falls back to Boost.JSON's serializer for non-integers,
  // which writes 3.75 as "3.75E0" and 0.5 as "5E-1"; the texts should read as plain decimals.
  await check('tools/call add: a non-integer sum reads as a plain decimal ("3.75")', async () =>
    assert.equal(await t.callText('add', { a: 1.5, b: 2.25 }), '3.75'));
}

// The content-type fixtures: text, image, audio, embedded resource, all three mixed.
export async function contentChecks(t) {
  await check('tools/call test_simple_text', async () =>
    assert.equal(await t.callText('test_simple_text'), 'This is a simple text response for testing.'));
  await check('tools/call test_image_content', async () =>
    assert.deepEqual((await t.call('test_image_content')).content,
      [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }]));
  await check('tools/call test_audio_content', async () =>
    assert.deepEqual((await t.call('test_audio_content')).content,
      [{ type: 'audio', data: WAV_MIN, mimeType: 'audio/wav' }]));
  await check('tools/call test_embedded_resource', async () =>
    assert.deepEqual((await t.call('test_embedded_resource')).content, [{ type: 'resource',
      resource: { uri: 'test://embedded-resource', text: 'This is an embedded resource content.',
        mimeType: 'text/plain' } }]));
  await check('tools/call test_multiple_content_types', async () =>
    assert.deepEqual((await t.call('test_multiple_content_types')).content, [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource',
        text: '{"test":"data","value":123}', mimeType: 'application/json' } },
    ]));
}

export async function errorHandlingCheck(t) {
  await check('tools/call test_error_handling → isError', async () => {
    const r = await t.call('test_error_handling');
    assert.equal(r.isError, true);
    assert.equal(onlyText(r), 'This tool intentionally returns an error for testing');
  });
}

export async function jsonSchemaCheck(t) {
  await check('tools/call json_schema_2020_12_tool', async () => {
    const args = { name: 'Ada', address: { street: '1 Main St', city: 'Paris' } };
    assert.deepEqual(jsonAfter(await t.callText('json_schema_2020_12_tool', args),
      'JSON Schema 2020-12 tool called with: '), args);
  });
}

// SEP-1034 defaults (applied by the client) and SEP-1330 enums.
export async function elicitationSchemaChecks(t) {
  await check('tools/call test_elicitation_sep1034_defaults (client applies defaults)', async () =>
    assert.deepEqual(jsonAfter(await t.callText('test_elicitation_sep1034_defaults'),
      'Elicitation completed: action=accept, content='), DEFAULTS));
  await check('tools/call test_elicitation_sep1330_enums', async () =>
    assert.deepEqual(jsonAfter(await t.callText('test_elicitation_sep1330_enums'),
      'Elicitation completed: action=accept, content='), ENUM_ANSWER));
}

export async function missingCapabilityCheck(t) {
  await check('tools/call test_missing_capability (sampling declared)', async () =>
    assert.equal(await t.callText('test_missing_capability'), `Sampled: "${sampled('Say hello')}"`));
}

// The task fixture tools called plainly (no params.task). `required` says how a plain call of a
// taskSupport "required" tool ends in this era:
//   'sync'     tasks unknown to the revision (before 2025-11-25): it runs like any tool
//   'refused'  2025-11-25 with the v1 SDK: the SDK refuses it (-32600) without sending; sent
//              anyway (t.rawCall), the server answers -32601 "must be called as a task"
//   a number   the server's error code (-32601 in 2025-11-25, -32021 in 2026-07-28)
export async function taskToolChecks(t, { required }) {
  await check('tools/call greet (no task support)', async () =>
    assert.equal(await t.callText('greet', { name: 'Ada' }), 'Hello, Ada!'));
  await check('tools/call greet without a name → isError', async () => {
    const r = await t.call('greet', {});
    assert.equal(r.isError, true);
    assert.equal(onlyText(r), 'Invalid arguments for tool greet: (root): missing required property "name"');
  });
  await check('tools/call slow_compute (task support optional, called plainly)', async () => {
    assert.equal(await t.callText('slow_compute', { seconds: 0.1, label: 'interop' }),
      'slow_compute interop: done after 0.1 s');
  });
  await check('tools/call protocol_error_job (called plainly) → -32603', async () =>
    rejectsWithCode(t.call('protocol_error_job'), -32603));
  await check('tools/call confirm_delete (elicitation, then the result)', async () => {
    t.elicitations.length = 0;
    assert.equal(await t.callText('confirm_delete', { filename: 'notes.txt' }), 'Deleted notes.txt');
    assert.deepEqual(t.elicitations.map((e) => [e.message, e.requestedSchema]), [['Delete notes.txt?',
      { type: 'object', properties: { confirm: { type: 'boolean' } }, required: ['confirm'] }]]);
  });
  await check('tools/call multi_input (two elicitations at once)', async () => {
    t.elicitations.length = 0;
    assert.deepEqual(jsonAfter(await t.callText('multi_input'), 'Received: '), {
      name: { action: 'accept', content: { name: 'Ada' } },
      confirm: { action: 'accept', content: { confirm: true } } });
    assert.deepEqual(t.elicitations.map((e) => e.message).sort(), ['Proceed?', 'What is your name?']);
  });
  if (required === 'sync') {
    await check('tools/call failing_job (tasks unknown to this revision: runs plainly) → isError', async () => {
      const r = await t.call('failing_job');
      assert.equal(r.isError, true);
      assert.equal(onlyText(r), 'failing_job: the job failed, as it always does');
    });
    await check('tools/call test_tool_with_task (tasks unknown to this revision: runs plainly)', async () =>
      assert.equal(await t.callText('test_tool_with_task'), 'Hello, Ada! (finished as a task)'));
  } else if (required === 'refused') {
    for (const tool of ['failing_job', 'test_tool_with_task']) {
      await check(`tools/call ${tool} (task support required): the SDK refuses a plain call; sent anyway → -32601`, async () => {
        await rejectsWithCode(t.call(tool), -32600);
        await assert.rejects(t.rawCall(tool), (e) => {
          assert.equal(e.code, -32601, `${e.code}: ${e.message}`);
          assert.match(e.message, new RegExp(`tool ${tool} must be called as a task \\(params\\.task\\)`));
          return true;
        });
      });
    }
  } else {
    for (const tool of ['failing_job', 'test_tool_with_task']) {
      await check(`tools/call ${tool} (task support required) called plainly → ${required}`, async () =>
        assert.rejects(t.call(tool), (e) => {
          assert.equal(e.code, required, `${e.code}: ${e.message}`);
          assert.match(e.message, new RegExp(`tool ${tool} (must be called|runs only) as a task`));
          return true;
        }));
    }
  }
}

// ---- resources -------------------------------------------------------------------------------
export async function staticReadChecks(client) {
  await check('resources/read test://static-text', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://static-text' })).contents, [
      { uri: 'test://static-text', mimeType: 'text/plain',
        text: 'This is the content of the static text resource.' }]));
  await check('resources/read test://static-binary', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://static-binary' })).contents, [
      { uri: 'test://static-binary', mimeType: 'image/png', blob: PNG_1X1 }]));
  await check('resources/read test://watched-resource', async () =>
    assert.deepEqual((await client.readResource({ uri: 'test://watched-resource' })).contents, [
      { uri: 'test://watched-resource', mimeType: 'text/plain', text: 'Watched resource content' }]));
}

// ---- prompts ---------------------------------------------------------------------------------
export async function textPromptChecks(client) {
  await check('prompts/get test_simple_prompt', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_simple_prompt' })).messages,
      [userText('This is a simple prompt for testing.')]));
  await check('prompts/get test_prompt_with_arguments', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_arguments',
      arguments: { arg1: 'alpha', arg2: 'beta' } })).messages,
    [userText("Prompt with arguments: arg1='alpha', arg2='beta'")]));
}

export async function mediaPromptChecks(client) {
  await check('prompts/get test_prompt_with_embedded_resource', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_embedded_resource',
      arguments: { resourceUri: 'test://static-text' } })).messages, [
      { role: 'user', content: { type: 'resource', resource: { uri: 'test://static-text',
        text: 'Embedded resource content for testing.', mimeType: 'text/plain' } } },
      userText('Please process the embedded resource above.'),
    ]));
  await check('prompts/get test_prompt_with_image', async () =>
    assert.deepEqual((await client.getPrompt({ name: 'test_prompt_with_image' })).messages, [
      { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
      userText('Please analyze the image above.'),
    ]));
}

// ---- completion ------------------------------------------------------------------------------
// `arg2` and `id`: [typed value, expected completions] for the prompt's arg2 and the template's id.
export async function completionChecks(client, { arg2, id }) {
  await check('completion/complete prompt argument', async () => {
    const ref = { type: 'ref/prompt', name: 'test_prompt_with_arguments' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg1', value: 'par' } }))
      .completion.values, ['paris', 'park', 'parade']);
    assert.deepEqual((await client.complete({ ref, argument: { name: 'arg2', value: arg2[0] } }))
      .completion.values, arg2[1]);
  });
  await check('completion/complete resource template variable', async () => {
    const ref = { type: 'ref/resource', uri: 'test://template/{id}/data' };
    assert.deepEqual((await client.complete({ ref, argument: { name: 'id', value: id[0] } }))
      .completion.values, id[1]);
  });
}

// ---- the whole walk --------------------------------------------------------------------------
export async function everyToolCalledCheck(tools, called) {
  await check('every listed tool was called', async () =>
    assert.deepEqual(tools.map((x) => x.name).filter((n) => !called.has(n)), []));
}
