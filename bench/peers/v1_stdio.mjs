// Bench peer: official TypeScript SDK v1 (@modelcontextprotocol/sdk, pinned in package-lock.json)
// over stdio.   node bench/peers/v1_stdio.mjs
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { registerTools } from './tools.mjs';

const server = new McpServer({ name: 'bench-v1-stdio', version: '1.0.0' });
registerTools(server, z);
await server.connect(new StdioServerTransport());
