#include "client/tls_context.hpp"

namespace plexus::client::detail {

void configure_client_tls(boost::asio::ssl::context& ctx, const tls_settings& s) {
  namespace ssl = boost::asio::ssl;
  if (s.verify) {
    ctx.set_verify_mode(ssl::verify_peer);
    if (!s.ca_file.empty())
      ctx.load_verify_file(s.ca_file);
    else
      ctx.set_default_verify_paths();
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (!s.client_cert_file.empty()) {
    ctx.use_certificate_chain_file(s.client_cert_file);
    ctx.use_private_key_file(s.client_key_file.empty() ? s.client_cert_file : s.client_key_file,
                             ssl::context::pem);
  }
}

}  // namespace plexus::client::detail
