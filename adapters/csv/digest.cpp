// SHA-256 through OpenSSL EVP, the algorithm fetched once and one digest context a thread.
#include "adapters/csv/digest.h"

#include <openssl/evp.h>

#include <cstdint>

namespace cc::csv {

namespace {
const EVP_MD* sha256() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};

EVP_MD_CTX* context() {
  thread_local DigestContext digest_context;
  EVP_DigestInit_ex(digest_context.ctx, sha256(), nullptr);
  return digest_context.ctx;
}

void update_sized(EVP_MD_CTX* ctx, std::string_view s) {
  unsigned char size[8];
  uint64_t n = s.size();
  for (int i = 7; i >= 0; --i, n >>= 8) size[i] = static_cast<unsigned char>(n & 0xff);
  EVP_DigestUpdate(ctx, size, sizeof size);
  EVP_DigestUpdate(ctx, s.data(), s.size());
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0f];
  }
  return hex;
}
}  // namespace

std::string file_digest(std::string_view file) {
  EVP_MD_CTX* ctx = context();
  EVP_DigestUpdate(ctx, file.data(), file.size());
  return finish(ctx);
}

std::string row_digest(const Header& header, const Row& row) {
  EVP_MD_CTX* ctx = context();
  EVP_DigestUpdate(ctx, "cc.csv.row.v1", 13);
  for (size_t i : header.by_name()) {
    if (i >= row.values.size() || row.values[i].empty()) continue;
    update_sized(ctx, header.name(i));
    update_sized(ctx, row.values[i]);
  }
  return finish(ctx);
}

}  // namespace cc::csv
