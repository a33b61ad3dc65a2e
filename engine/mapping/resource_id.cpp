// derive_id: stable resource ids from source identifiers, so that a replay or a re-map of
// the same message updates the same resource instead of creating a duplicate.
#include <openssl/evp.h>

#include "engine/mapping/types.h"

namespace cc::mapping {

namespace {
// SHA-256 fetched once (OpenSSL 3 looks the algorithm up on every EVP_sha256() digest otherwise)
// and one digest context a thread: ids are derived several times for every resource mapped.
const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};
}  // namespace

std::string derive_id(std::string_view type, std::string_view system, std::string_view value) {
  thread_local DigestContext digest_context;
  EVP_MD_CTX* ctx = digest_context.ctx;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestInit_ex(ctx, sha256(), nullptr);
  EVP_DigestUpdate(ctx, type.data(), type.size());
  EVP_DigestUpdate(ctx, "|", 1);
  EVP_DigestUpdate(ctx, system.data(), system.size());
  EVP_DigestUpdate(ctx, "|", 1);
  EVP_DigestUpdate(ctx, value.data(), value.size());
  EVP_DigestFinal_ex(ctx, digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 16; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0x0f];
  }
  return id;
}

}  // namespace cc::mapping
