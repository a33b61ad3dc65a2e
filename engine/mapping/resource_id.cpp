// derive_id: stable resource ids from source identifiers, so that a replay or a re-map of
// the same message updates the same resource instead of creating a duplicate.
#include <openssl/evp.h>

#include "engine/mapping/types.h"

namespace cc::mapping {

std::string derive_id(std::string_view type, std::string_view system, std::string_view value) {
  std::string input;
  input.reserve(type.size() + system.size() + value.size() + 2);
  input.append(type).append("|").append(system).append("|").append(value);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
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
