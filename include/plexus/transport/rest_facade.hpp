// plexus::transport::mount_rest_facade — a plain REST/JSON face for the tools of
// any server::server, for callers that do not speak MCP:
//
//   GET  {prefix}/tools          {"tools": [Tool, ...]} (the MCP tool definitions)
//   POST {prefix}/tools/{name}   body = the arguments object → the CallToolResult
//   GET  {prefix}/openapi.json   an OpenAPI 3.1 document: one path per tool
//                                (requestBody = inputSchema, 200 = outputSchema)
//
// A call runs through the engine exactly as a 2026-07-28 `tools/call` would (the
// same validation, handlers, tasks policy and errors), in-process. Statuses:
//   200  the tool ran and succeeded: the CallToolResult (content,
//        structuredContent when the tool has an outputSchema)
//   422  the tool ran and failed (isError: true): the CallToolResult
//   400  the body is not a JSON object, or the arguments fail the inputSchema
//   404  no such tool
//   409  the tool needs an MCP client: it asks the client for input
//        (elicitation, sampling, roots) or runs only as a task
//   413  the body is larger than the server's limit (answered by http_server)
//   504  the tool did not finish within call_timeout (it is cancelled)
//   500  anything else the engine reported
// Errors other than 200/422 are {"error": {"status": N, "message": "…"}} (plus
// "code", the JSON-RPC error code, when the engine answered with one).
//
// Thread-safety: mount before http_server::start(); the routes are then safe
// from any thread. `srv` must outlive the http_server.
#pragma once

#include "plexus/server/server.hpp"
#include "plexus/transport/http_server.hpp"

#include <chrono>
#include <string>

namespace plexus::transport {

struct rest_facade_options {
  std::string prefix = "/api";  // no trailing '/'
  std::chrono::milliseconds call_timeout{std::chrono::seconds(60)};
  // info.title of the OpenAPI document; empty: the server's name.
  std::string title;
};

void mount_rest_facade(http_server& http, server::server& srv, rest_facade_options options);
void mount_rest_facade(http_server& http, server::server& srv, std::string prefix = "/api");

}  // namespace plexus::transport
