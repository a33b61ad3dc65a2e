// libFuzzer target: the MLLP framer (the byte-level half of the MLLP listener). The input chooses
// a size limit and how the stream is cut into reads; the same stream is also fed whole. Frames
// must not depend on how the stream was cut (except how much of an oversized frame's head is
// kept), never hold a framing byte, and respect the size limit.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "adapters/hl7v2/mllp_framer.h"

using cc::hl7v2::MllpFrame;
using cc::hl7v2::MllpFramer;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "mllp_framer_fuzzer: property broken: %s\n", what);
  std::abort();
}

struct Fed {
  std::vector<MllpFrame> frames;
  size_t ignored = 0;
  bool mllp = true;
};

Fed feed(const std::string& stream, uint64_t limit, const std::vector<size_t>& cuts) {
  MllpFramer framer(limit);
  Fed fed;
  auto on_frame = [&](MllpFrame f) { fed.frames.push_back(std::move(f)); };
  auto on_ignored = [&](size_t n) {
    if (n == 0) fail("on_ignored called for no bytes");
    fed.ignored += n;
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    if (!fed.mllp) break;
    const size_t n = std::min(cut, stream.size() - at);
    fed.mllp = framer.consume(std::string_view(stream).substr(at, n), on_frame, on_ignored);
    at += n;
  }
  if (fed.mllp && at < stream.size()) fed.mllp = framer.consume(std::string_view(stream).substr(at), on_frame, on_ignored);
  return fed;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // Small limits exercise the oversize path; sometimes the listener's default.
  const uint64_t limit = in.ConsumeBool() ? (16u << 20) : in.ConsumeIntegralInRange<uint64_t>(0, 300);
  std::vector<size_t> cuts;
  const size_t cut_count = in.ConsumeIntegralInRange<size_t>(0, 16);
  for (size_t i = 0; i < cut_count; ++i) cuts.push_back(in.ConsumeIntegralInRange<size_t>(0, 64));
  const std::string stream = in.ConsumeRemainingBytesAsString();

  const Fed whole = feed(stream, limit, {});
  const Fed pieces = feed(stream, limit, cuts);
  if (whole.mllp != pieces.mllp) fail("giving up on the stream depends on how it was cut");
  if (whole.frames.size() != pieces.frames.size()) fail("the number of frames depends on how the stream was cut");
  if (whole.ignored != pieces.ignored) fail("the bytes counted outside framing depend on how the stream was cut");
  uint64_t framed = 0;
  for (size_t i = 0; i < whole.frames.size(); ++i) {
    const MllpFrame& a = whole.frames[i];
    const MllpFrame& b = pieces.frames[i];
    if (a.size != b.size || a.oversized != b.oversized || a.unterminated != b.unterminated)
      fail("a frame's size or flags depend on how the stream was cut");
    if (a.oversized != (a.size > limit)) fail("oversized does not mean over the limit");
    if (!a.oversized) {
      if (a.bytes != b.bytes) fail("a frame's bytes depend on how the stream was cut");
      if (a.bytes.size() != a.size) fail("a frame's size is not its length");
    } else {
      if (a.bytes.size() > cc::hl7v2::kMllpOversizeHead || b.bytes.size() > cc::hl7v2::kMllpOversizeHead)
        fail("an oversized frame keeps more than its head");
      const MllpFrame& shorter = a.bytes.size() <= b.bytes.size() ? a : b;
      const MllpFrame& longer = a.bytes.size() <= b.bytes.size() ? b : a;
      if (longer.bytes.compare(0, shorter.bytes.size(), shorter.bytes) != 0)
        fail("oversized heads from two cuttings are not prefixes of one another");
      const uint64_t least = std::min<uint64_t>({a.size, limit + 1, cc::hl7v2::kMllpOversizeHead});
      if (shorter.bytes.size() < std::min<uint64_t>(least, stream.size()))
        fail("an oversized frame keeps less than the limit's worth of its head");
    }
    for (const MllpFrame* f : {&a, &b})
      if (f->bytes.find(cc::hl7v2::kMllpStart) != std::string::npos || f->bytes.find(cc::hl7v2::kMllpEnd) != std::string::npos)
        fail("a frame holds a framing byte");
    framed += a.size;
  }
  if (framed > stream.size()) fail("frames hold more bytes than the stream");
  return 0;
}
