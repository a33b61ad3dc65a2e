// UTF-8 validation with an ASCII fast path (extracts are overwhelmingly ASCII), and BOM handling.
#include "adapters/csv/text_encoding.h"

#include <cstdint>
#include <cstring>

namespace cc::csv {

Result<std::string_view> strip_byte_order_mark(std::string_view file) {
  if (file.starts_with("\xEF\xBB\xBF")) return file.substr(3);
  if (file.starts_with(std::string_view("\xFF\xFE\x00\x00", 4)) || file.starts_with(std::string_view("\x00\x00\xFE\xFF", 4))) {
    return make_error("encoding", "the file is UTF-32 (it starts with a UTF-32 byte-order mark); export it as UTF-8");
  }
  if (file.starts_with("\xFF\xFE") || file.starts_with("\xFE\xFF")) {
    return make_error("encoding",
                      "the file is UTF-16 (it starts with a UTF-16 byte-order mark, as Excel's "
                      "'Unicode text' does); export it as UTF-8 (CSV UTF-8)");
  }
  return file;
}

namespace {
std::string hex_byte(unsigned char b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("0x") + kHex[b >> 4] + kHex[b & 0x0f];
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not well formed.
size_t sequence_length(const unsigned char* s, size_t i, size_t n) {
  unsigned char c = s[i];
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && s[i + 1] < 0xA0) return 0;   // overlong
    if (c == 0xED && s[i + 1] >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && s[i + 1] < 0x90) return 0;   // overlong
    if (c == 0xF4 && s[i + 1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}
}  // namespace

std::optional<std::string> utf8_problem(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    if (i + 8 <= n) {
      uint64_t word;
      std::memcpy(&word, s + i, 8);
      bool has_zero = ((word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL) != 0;
      if ((word & 0x8080808080808080ULL) == 0 && !has_zero) {
        i += 8;
        continue;
      }
    }
    unsigned char c = s[i];
    if (c == 0) {
      return "contains a NUL (zero) byte at position " + std::to_string(i + 1) +
             " of the value; the file may be UTF-16 or binary: export it as UTF-8 text";
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = sequence_length(s, i, n);
    if (len == 0) {
      return "is not valid UTF-8 (byte " + hex_byte(c) + " at position " + std::to_string(i + 1) +
             " of the value); the file looks like it was saved as Windows-1252 / Latin-1: export it as UTF-8";
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace cc::csv
