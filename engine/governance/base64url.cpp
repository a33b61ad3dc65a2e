// base64url without padding (RFC 4648 section 5), as JWTs and JWKs use it. Decoding is strict: URL
// alphabet only, no padding, zero trailing bits, so every byte string has exactly one encoding.
#include "engine/governance/base64url.h"

#include <cstdint>

namespace cc::governance {
namespace {
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t bits = 0;
  int bit_count = 0;
  for (unsigned char byte : bytes) {
    bits = (bits << 8) | byte;
    bit_count += 8;
    while (bit_count >= 6) {
      bit_count -= 6;
      out.push_back(kAlphabet[(bits >> bit_count) & 0x3F]);
    }
  }
  if (bit_count > 0) out.push_back(kAlphabet[(bits << (6 - bit_count)) & 0x3F]);
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  if (text.size() % 4 == 1) return false;
  out.clear();
  uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    const size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) return false;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  return (bits & ((1u << bit_count) - 1)) == 0;
}

}  // namespace cc::governance
