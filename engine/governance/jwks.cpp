// JSON Web Key Sets: the identity provider's public keys (RSA for RS256, EC P-256 for ES256) as
// OpenSSL keys, and the JWS signature check with one of them.
#include "engine/governance/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <rapidjson/document.h>

#include "engine/core/json_input.h"
#include "engine/governance/base64url.h"

namespace cc::governance {
namespace {

std::string member(const rapidjson::Value& v, const char* name) {
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                      : std::string();
}

std::shared_ptr<EVP_PKEY> key_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey ? std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free) : nullptr;
}

std::shared_ptr<EVP_PKEY> rsa_key(const std::string& n_b64, const std::string& e_b64) {
  std::string n, e;
  if (!base64url_decode(n_b64, n) || !base64url_decode(e_b64, e) || n.size() < 256 || e.empty()) return nullptr;
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::shared_ptr<EVP_PKEY> key;
  if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
    key = key_from_params("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return key;
}

std::shared_ptr<EVP_PKEY> p256_key(const std::string& x_b64, const std::string& y_b64) {
  std::string x, y;
  if (!base64url_decode(x_b64, x) || !base64url_decode(y_b64, y) || x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = std::string(1, '\x04') + x + y;  // uncompressed point
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::shared_ptr<EVP_PKEY> key;
  if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1)
    key = key_from_params("EC", bld);
  OSSL_PARAM_BLD_free(bld);
  return key;
}

}  // namespace

Result<std::vector<Jwk>> parse_jwks(std::string_view json) {
  rapidjson::Document doc;
  if (!parse_json(json, JsonLimits{json.size(), 16}, doc).ok() || !doc.IsObject() || !doc.HasMember("keys") ||
      !doc["keys"].IsArray())
    return make_error("jwks-malformed", "The identity provider's key set is not a JWKS ({\"keys\": [...]}).");
  std::vector<Jwk> out;
  for (auto& k : doc["keys"].GetArray()) {
    if (!k.IsObject()) continue;
    std::string kty = member(k, "kty"), use = member(k, "use"), alg = member(k, "alg"), kid = member(k, "kid");
    if (!use.empty() && use != "sig") continue;
    Jwk jwk;
    jwk.kid = kid;
    if (kty == "RSA" && (alg.empty() || alg == "RS256")) {
      jwk.alg = "RS256";
      jwk.key = rsa_key(member(k, "n"), member(k, "e"));
    } else if (kty == "EC" && member(k, "crv") == "P-256" && (alg.empty() || alg == "ES256")) {
      jwk.alg = "ES256";
      jwk.key = p256_key(member(k, "x"), member(k, "y"));
    } else {
      continue;  // a key we do not use
    }
    if (!jwk.key)
      return make_error("jwks-malformed", "Key \"" + kid + "\" in the identity provider's key set has unusable numbers.");
    out.push_back(std::move(jwk));
  }
  return out;
}

bool verify_jws_signature(const Jwk& key, std::string_view signing_input, std::string_view signature) {
  std::string der;
  const unsigned char* sig = reinterpret_cast<const unsigned char*>(signature.data());
  size_t sig_len = signature.size();
  if (key.alg == "ES256") {
    if (signature.size() != 64) return false;
    ECDSA_SIG* s = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(sig, 32, nullptr);
    BIGNUM* ss = BN_bin2bn(sig + 32, 32, nullptr);
    if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
      BN_free(r);
      BN_free(ss);
      ECDSA_SIG_free(s);
      return false;
    }
    unsigned char* p = nullptr;
    int n = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    if (n <= 0) return false;
    der.assign(reinterpret_cast<char*>(p), static_cast<size_t>(n));
    OPENSSL_free(p);
    sig = reinterpret_cast<const unsigned char*>(der.data());
    sig_len = der.size();
  } else if (key.alg != "RS256") {
    return false;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.key.get()) == 1 &&
            EVP_DigestVerify(ctx, sig, sig_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace cc::governance
