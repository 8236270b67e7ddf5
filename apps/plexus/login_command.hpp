// `plexus login URL` and `plexus logout URL`: the OAuth 2.1 authorization-code
// flow of plexus::client::oauth for an HTTP MCP server, with the tokens (and
// the dynamic client registration) kept in a 0600 token file that the client
// commands (tools, call, …) read for the same URL.
//
// Interactive login opens the system browser (xdg-open, when there is a
// display) and receives the redirect on a loopback listener; --headless prints
// the URL and takes either that redirect or the redirected URL (or the code)
// pasted on stdin, whichever comes first.
//
// Exit codes: 0 ok, 2 usage, 3 the login failed (the message says why).
// Thread-safety: used from main() only.
#pragma once

#include "plexus/client/oauth.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace plexus::cli {

// The token file: $PLEXUS_TOKEN_FILE, else $XDG_CONFIG_HOME/plexus/tokens.json,
// else $HOME/.config/plexus/tokens.json; empty when none of them is set.
std::string token_file_path();

// The OAuth options every command uses for `url`: the token file, the loopback
// redirect URI and the client name (so that a stored registration matches).
client::oauth::options login_options(const std::string& url, int redirect_port = 33418);

// The headless authorizer: prints the authorization URL, listens on the
// redirect URI's loopback port and reads stdin; the first redirect (or pasted
// URL, or bare code) wins. Throws std::runtime_error on timeout or when stdin
// ends and nothing can arrive any more.
client::oauth::authorizer headless_loopback_authorizer(std::chrono::seconds timeout);

class login_commands {
 public:
  explicit login_commands(CLI::App& app);
  ~login_commands();
  login_commands(const login_commands&) = delete;
  login_commands& operator=(const login_commands&) = delete;

  bool parsed() const;
  int run();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

}  // namespace plexus::cli
