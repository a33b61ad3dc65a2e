// base64url without padding (RFC 4648 section 5), as JWTs and JWKs use it. Decoding is strict: URL
// alphabet only, no padding, zero trailing bits, so every byte string has exactly one encoding.
#pragma once
#include <string>
#include <string_view>

namespace cc::governance {

std::string base64url_encode(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace cc::governance
