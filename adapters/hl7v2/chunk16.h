// Sixteen bytes of a message at a time, compared with a few characters at once: SSE2 where
// available (every x86-64), a byte loop elsewhere. The parser's scanning loops are built on it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace cc::hl7v2 {

#if defined(__SSE2__)
using Bytes16 = __m128i;
inline Bytes16 splat(char c) { return _mm_set1_epi8(c); }
#else
using Bytes16 = std::array<char, 16>;
inline Bytes16 splat(char c) {
  Bytes16 bytes;
  bytes.fill(c);
  return bytes;
}
#endif

// The characters a Chunk16 is searched for, each repeated across 16 bytes once, up front.
template <size_t N>
struct CharSet16 {
  explicit CharSet16(const std::array<char, N>& chars) {
    for (size_t i = 0; i < N; ++i) splats[i] = splat(chars[i]);
  }
  Bytes16 splats[N];
};

class Chunk16 {
 public:
  // The 16 bytes at p. Near the end of the text they are copied, zero-padded, so that nothing
  // past it is read.
  Chunk16(const char* p, const char* text_end) {
    char padded[16];
    if (text_end - p < 16) {
      std::memset(padded, 0, sizeof padded);
      std::memcpy(padded, p, static_cast<size_t>(text_end - p));
      p = padded;
    }
#if defined(__SSE2__)
    bytes_ = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
#else
    std::memcpy(bytes_.data(), p, 16);
#endif
  }
  // Bit i set when byte i is one of the set's characters.
  template <size_t N>
  uint32_t matches(const CharSet16<N>& set) const {
#if defined(__SSE2__)
    __m128i hits = _mm_cmpeq_epi8(bytes_, set.splats[0]);
    for (size_t k = 1; k < N; ++k) hits = _mm_or_si128(hits, _mm_cmpeq_epi8(bytes_, set.splats[k]));
    return static_cast<uint32_t>(_mm_movemask_epi8(hits));
#else
    uint32_t mask = 0;
    for (uint32_t i = 0; i < 16; ++i) {
      for (const Bytes16& splat : set.splats) mask |= static_cast<uint32_t>(bytes_[i] == splat[0]) << i;
    }
    return mask;
#endif
  }
  // Bit i set when byte i is 0x80 or above (not ASCII).
  uint32_t high_bytes() const {
#if defined(__SSE2__)
    return static_cast<uint32_t>(_mm_movemask_epi8(bytes_));
#else
    uint32_t mask = 0;
    for (uint32_t i = 0; i < 16; ++i) mask |= static_cast<uint32_t>(static_cast<unsigned char>(bytes_[i]) >> 7) << i;
    return mask;
#endif
  }

 private:
  Bytes16 bytes_;
};

// Bits below bit `count` (count <= 16).
inline uint32_t low_bits(uint32_t count) { return (1u << count) - 1; }

}  // namespace cc::hl7v2
