// libFuzzer target: bearer token parsing and verification (engine/governance/token). The first
// byte picks a mode:
//   0  the rest is a token as a client would send it (verify with the server's key);
//   1  the rest is a header JSON and a payload JSON (split at the first NUL), which the target
//      encodes and signs correctly, so the fuzzer reaches the claim checks behind the signature;
//   2  the rest gives a reader's claims and a lifetime: a signed token must verify back to them.
// A token may be refused, but never crash, and an accepted one always names sub, role and org.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/governance/token.h"

using cc::governance::Reader;

namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";
constexpr int64_t kNow = 1700000000;  // a fixed clock, so runs replay

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "jwt_fuzzer: property broken: %s\n", what);
  std::abort();
}

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (unsigned char b : bytes) {
    bits = (bits << 8) | b;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 0x3F]);
  return out;
}

std::string hs256(std::string_view input) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kKey.data(), static_cast<int>(kKey.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), digest, &len);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

void check_accepted(const cc::Result<Reader>& r) {
  if (r.ok()) {
    if (r->user.empty() || r->role.empty() || r->org.empty()) fail("a token without sub, role or org was accepted");
  } else if (r.error().message.empty()) {
    fail("a refusal without a sentence");
  }
}

bool printable_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (mode == 0) {
    check_accepted(cc::governance::verify_dev_token(rest, kKey, kNow));
    check_accepted(cc::governance::verify_dev_token(rest, "", kNow));
    if (cc::governance::verify_dev_token(rest, "", kNow).ok()) fail("an empty key verified a token");
    return 0;
  }
  if (mode == 1) {
    const size_t nul = rest.find('\0');
    const std::string_view header = rest.substr(0, nul);
    const std::string_view payload = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    const std::string input = base64url(header) + "." + base64url(payload);
    const std::string token = input + "." + base64url(hs256(input));
    check_accepted(cc::governance::verify_dev_token(token, kKey, kNow));
    // The same token with its last signature character changed is refused.
    std::string tampered = token;
    tampered.back() = tampered.back() == 'A' ? 'Q' : 'A';
    if (cc::governance::verify_dev_token(tampered, kKey, kNow).ok()) fail("a tampered signature was accepted");
    return 0;
  }
  FuzzedDataProvider in(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  Reader reader;
  reader.user = in.ConsumeRandomLengthString(64);
  reader.role = in.ConsumeRandomLengthString(64);
  reader.org = in.ConsumeRandomLengthString(64);
  reader.rbac_role = in.ConsumeRandomLengthString(64);
  reader.purpose_of_use = in.ConsumeRandomLengthString(64);
  const int64_t ttl = in.ConsumeIntegralInRange<int64_t>(-100000, 100000);
  const std::string token = cc::governance::sign_dev_token(reader, kKey, kNow, ttl);
  const auto verified = cc::governance::verify_dev_token(token, kKey, kNow);
  check_accepted(verified);
  if (verified.ok()) {
    if (verified->user != reader.user || verified->role != reader.role || verified->org != reader.org ||
        verified->rbac_role != reader.rbac_role || verified->purpose_of_use != reader.purpose_of_use)
      fail("a signed token verified to other claims");
    if (ttl <= -60) fail("an expired token was accepted");
  }
  const bool plain = printable_ascii(reader.user) && printable_ascii(reader.role) && printable_ascii(reader.org) &&
                     printable_ascii(reader.rbac_role) && printable_ascii(reader.purpose_of_use);
  if (plain && !reader.user.empty() && !reader.role.empty() && !reader.org.empty() && ttl > -60 && !verified.ok())
    fail("a token just signed with plain claims was refused");
  return 0;
}
