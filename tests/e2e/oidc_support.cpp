// Test identity provider: RSA and EC P-256 signing keys published as a JWKS by a small HTTP server
// on 127.0.0.1 (Boost.Beast), and JWTs signed with them (or forged, for the refusal tests).
#include "tests/e2e/oidc_support.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace cc::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;

std::string b64url(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int n = 0;
  for (unsigned char c : bytes) {
    bits = (bits << 8) | c;
    n += 8;
    while (n >= 6) {
      n -= 6;
      out += a[(bits >> n) & 63];
    }
  }
  if (n > 0) out += a[(bits << (6 - n)) & 63];
  return out;
}

namespace {
std::string bn_bytes(EVP_PKEY* k, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) throw std::runtime_error("no key parameter");
  std::string out(pad ? pad : BN_num_bytes(bn), '\0');
  if (pad) BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  else BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}
}  // namespace

TestSigningKey TestSigningKey::rsa(const std::string& kid) {
  TestSigningKey k;
  k.kid_ = kid;
  k.alg_ = "RS256";
  k.key_.reset(EVP_RSA_gen(2048), EVP_PKEY_free);
  return k;
}

TestSigningKey TestSigningKey::ec(const std::string& kid) {
  TestSigningKey k;
  k.kid_ = kid;
  k.alg_ = "ES256";
  k.key_.reset(EVP_EC_gen("P-256"), EVP_PKEY_free);
  return k;
}

std::string TestSigningKey::jwk() const {
  if (alg_ == "RS256")
    return R"({"kty":"RSA","use":"sig","alg":"RS256","kid":")" + kid_ + R"(","n":")" +
           b64url(bn_bytes(key_.get(), OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
           b64url(bn_bytes(key_.get(), OSSL_PKEY_PARAM_RSA_E)) + R"("})";
  return R"({"kty":"EC","use":"sig","alg":"ES256","crv":"P-256","kid":")" + kid_ + R"(","x":")" +
         b64url(bn_bytes(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
         b64url(bn_bytes(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("})";
}

std::string TestSigningKey::signature(const std::string& input) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get());
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg_ == "ES256") {  // DER -> r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* s = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string rs(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(s), reinterpret_cast<unsigned char*>(rs.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
    ECDSA_SIG_free(s);
    return rs;
  }
  return sig;
}

std::string TestSigningKey::sign(const std::string& payload_json, const std::string& kid_override) const {
  std::string header = R"({"alg":")" + alg_ + R"(","typ":"JWT","kid":")" +
                       (kid_override.empty() ? kid_ : kid_override) + R"("})";
  std::string input = b64url(header) + "." + b64url(payload_json);
  return input + "." + b64url(signature(input));
}

std::string jwks_of(std::initializer_list<const TestSigningKey*> keys) {
  std::string out = R"({"keys":[)";
  bool first = true;
  for (auto* k : keys) {
    out += (first ? "" : ",") + k->jwk();
    first = false;
  }
  return out + "]}";
}

struct JwksServer::Impl {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
};

JwksServer::JwksServer() : impl_(std::make_unique<Impl>()) {
  auto ep = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  thread_ = std::thread([this] {
    for (;;) {
      boost::system::error_code ec;
      asio::ip::tcp::socket socket(impl_->io);
      impl_->acceptor.accept(socket, ec);
      if (ec) return;  // closed
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(socket, buf, req, ec);
      if (ec) continue;
      http::response<http::string_body> res;
      res.version(11);
      if (req.target() == "/jwks") {
        ++fetches_;
        std::lock_guard lk(mu_);
        res.result(http::status::ok);
        res.set(http::field::content_type, "application/json");
        res.body() = jwks_;
      } else {
        res.result(http::status::not_found);
      }
      res.keep_alive(false);
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    }
  });
}

JwksServer::~JwksServer() {
  boost::system::error_code ec;
  // Unblock accept(): shut the listening socket down, then poke it.
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);
  impl_->acceptor.close(ec);
  if (thread_.joinable()) thread_.join();
}

void JwksServer::set_jwks(const std::string& json) {
  std::lock_guard lk(mu_);
  jwks_ = json;
}

}  // namespace cc::test
