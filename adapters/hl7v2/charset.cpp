// Byte-level text helpers for HL7 v2 character sets: a UTF-8 check, Latin-1 to UTF-8.
// Runs of ASCII are skipped a word at a time, which keeps mostly-ASCII text on a fast path.
#include "adapters/hl7v2/charset.h"

#include <cstdint>
#include <cstring>

namespace cc::hl7v2 {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ull;

// Length of the well-formed UTF-8 sequence starting at p (at most `left` bytes), or 0.
size_t utf8_sequence_length(const unsigned char* p, size_t left) {
  const unsigned char lead = p[0];
  if (lead < 0x80) return 1;
  auto continuation = [&](size_t i) { return i < left && (p[i] & 0xC0) == 0x80; };
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (left < 2) return 0;
    const unsigned char second = p[1];
    if (lead == 0xE0 && second < 0xA0) return 0;  // overlong
    if (lead == 0xED && second > 0x9F) return 0;  // UTF-16 surrogate
    return continuation(1) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (left < 2) return 0;
    const unsigned char second = p[1];
    if (lead == 0xF0 && second < 0x90) return 0;  // overlong
    if (lead == 0xF4 && second > 0x8F) return 0;  // above U+10FFFF
    return continuation(1) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

// Index of the first byte >= 0x80 in bytes, or bytes.size().
size_t ascii_prefix(std::string_view bytes) {
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    if (word & kHighBits) break;
  }
  while (i < bytes.size() && static_cast<unsigned char>(bytes[i]) < 0x80) ++i;
  return i;
}

void append_latin1_byte(unsigned char byte, std::string& out) {
  out.push_back(static_cast<char>(0xC0 | (byte >> 6)));
  out.push_back(static_cast<char>(0x80 | (byte & 0x3F)));
}

}  // namespace

bool is_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  while (i < bytes.size()) {
    if (p[i] < 0x80) {
      i += ascii_prefix(bytes.substr(i));
      continue;
    }
    const size_t length = utf8_sequence_length(p + i, bytes.size() - i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

void append_latin1_as_utf8(std::string_view bytes, std::string& out) {
  out.reserve(out.size() + bytes.size() + bytes.size() / 8);
  for (;;) {
    const size_t plain = ascii_prefix(bytes);
    out.append(bytes.data(), plain);
    if (plain == bytes.size()) return;
    append_latin1_byte(static_cast<unsigned char>(bytes[plain]), out);
    bytes.remove_prefix(plain + 1);
  }
}

void append_utf8_repaired(std::string_view bytes, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t copied = 0;  // bytes before this index are already in out
  size_t i = 0;
  while (i < bytes.size()) {
    if (p[i] < 0x80) {
      i += ascii_prefix(bytes.substr(i));
      continue;
    }
    const size_t length = utf8_sequence_length(p + i, bytes.size() - i);
    if (length > 0) {
      i += length;
      continue;
    }
    out.append(bytes.data() + copied, i - copied);
    append_latin1_byte(p[i], out);
    copied = ++i;
  }
  out.append(bytes.data() + copied, bytes.size() - copied);
}

}  // namespace cc::hl7v2
