// The two tools every bench peer serves, identical in shape to Plexus's `everything` server:
// echo {text} returns the text; add {a, b} returns the sum as text.
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
}
