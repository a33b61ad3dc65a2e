// Test identity provider: RSA and EC P-256 signing keys published as a JWKS by a small HTTP server
// on 127.0.0.1 (Boost.Beast), and JWTs signed with them (or forged, for the refusal tests).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

typedef struct evp_pkey_st EVP_PKEY;

namespace cc::test {

std::string b64url(const std::string& bytes);

class TestSigningKey {
 public:
  static TestSigningKey rsa(const std::string& kid);
  static TestSigningKey ec(const std::string& kid);
  const std::string& kid() const { return kid_; }
  const std::string& alg() const { return alg_; }
  std::string jwk() const;  // the public key as a JWK object
  // A compact JWT: {"alg": alg, "typ": "JWT", "kid": kid} (kid_override if given) over `payload_json`.
  std::string sign(const std::string& payload_json, const std::string& kid_override = "") const;
  // The signature bytes (JWS form) over `signing_input`.
  std::string signature(const std::string& signing_input) const;

 private:
  std::string kid_, alg_;
  std::shared_ptr<EVP_PKEY> key_;
};

// Serves GET /jwks with whatever set_jwks last gave it; counts the fetches.
class JwksServer {
 public:
  JwksServer();
  ~JwksServer();
  void set_jwks(const std::string& json);
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jwks"; }
  int fetches() const { return fetches_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<int> fetches_{0};
  std::mutex mu_;
  std::string jwks_;
  std::thread thread_;
};

std::string jwks_of(std::initializer_list<const TestSigningKey*> keys);

}  // namespace cc::test
