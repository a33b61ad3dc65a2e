// JSON Web Key Sets: the identity provider's public keys (RSA for RS256, EC P-256 for ES256) as
// OpenSSL keys, and the JWS signature check with one of them.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace cc::governance {

struct Jwk {
  std::string kid;
  std::string alg;  // the JWS algorithm this key verifies: "RS256" or "ES256"
  std::shared_ptr<EVP_PKEY> key;
};

// Reads {"keys":[...]}. Keeps RSA keys (n, e) and EC P-256 keys (x, y) meant for signatures; skips
// others (symmetric keys, encryption keys, other curves). Error "jwks-malformed" when the document
// is not a JWKS, or a kept key's numbers are unusable.
Result<std::vector<Jwk>> parse_jwks(std::string_view json);

// Verifies a JWS signature over `signing_input` (header.payload) with `key`: RS256 is RSASSA-PKCS1-v1_5
// with SHA-256; ES256 is ECDSA P-256 with SHA-256 and a 64-byte r||s signature.
bool verify_jws_signature(const Jwk& key, std::string_view signing_input, std::string_view signature);

}  // namespace cc::governance
