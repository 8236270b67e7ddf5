// The two tools every bench peer serves, identical in shape to Plexus's `everything` server:
// echo {text} returns the text; add {a, b} returns the sum as text.
// BENCH_EXTRA_TOOLS=N registers N more tools, extra_0001 … (like `plexus everything
// --extra-tools N`), each taking an optional {text} and echoing it: the 1,000-tool list benchmark.
export function registerTools(server, z) {
  server.registerTool('echo', {
    description: 'Echoes the text back',
    inputSchema: { text: z.string().describe('The text to echo') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('add', {
    description: 'Adds two numbers',
    inputSchema: { a: z.number().describe('First addend'), b: z.number().describe('Second addend') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
  const extra = Number(process.env.BENCH_EXTRA_TOOLS ?? 0);
  for (let i = 1; i <= extra; i++) {
    const name = `extra_${String(i).padStart(4, '0')}`;
    // Same shape as Plexus's extra tools (apps/plexus/main.cpp): optional text, no annotations.
    server.registerTool(name, {
      description: `Extra tool ${i}: echoes its text argument`,
      inputSchema: { text: z.string().optional().describe('Text to echo') },
    }, async ({ text }) => ({ content: [{ type: 'text', text: text ?? '' }] }));
  }
}
