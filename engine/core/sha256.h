// SHA-256 through OpenSSL's EVP interface, the algorithm fetched once (OpenSSL 3 looks it up on
// every EVP_sha256() digest otherwise): resource ids, content hashes, the audit chain, file digests.
#pragma once
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace cc {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(std::string_view data);
  // The digest's 32 bytes; the object is finished after either call.
  std::string bytes();
  // The digest as 64 lowercase hexadecimal characters, or its first `hex_chars`.
  std::string hex(size_t hex_chars = 64);

 private:
  evp_md_ctx_st* ctx_;
};

// SHA-256 of `data` as 64 lowercase hexadecimal characters.
std::string sha256_hex(std::string_view data);

}  // namespace cc
