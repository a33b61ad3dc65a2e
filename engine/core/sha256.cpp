#include "engine/core/sha256.h"

#include <openssl/evp.h>

#include <algorithm>

namespace cc {

namespace {
const EVP_MD* algorithm() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, algorithm(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256& Sha256::update(std::string_view data) {
  EVP_DigestUpdate(ctx_, data.data(), data.size());
  return *this;
}

std::string Sha256::bytes() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_, digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string Sha256::hex(size_t hex_chars) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string raw = bytes();
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    if (out.size() >= hex_chars) break;
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  out.resize(std::min(out.size(), hex_chars));
  return out;
}

std::string sha256_hex(std::string_view data) { return Sha256().update(data).hex(); }

}  // namespace cc
