// The MLLP framer on its own: frames taken out of a byte stream however it is cut, an end block
// without its 0x0D, a start block inside a frame, oversized frames, bytes outside framing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/hl7v2/mllp_framer.h"

using cc::hl7v2::MllpFrame;
using cc::hl7v2::MllpFramer;

namespace {

struct Fed {
  std::vector<MllpFrame> frames;
  std::vector<size_t> ignored;
  bool mllp = true;
};

// Feeds `bytes` in pieces of at most `piece` bytes (0: all at once).
Fed feed(const std::string& bytes, uint64_t max_message_bytes = 1 << 20, size_t piece = 0) {
  MllpFramer framer(max_message_bytes);
  Fed fed;
  size_t step = piece ? piece : std::max<size_t>(bytes.size(), 1);
  for (size_t i = 0; i < bytes.size() && fed.mllp; i += step)
    fed.mllp = framer.consume(
        std::string_view(bytes).substr(i, step), [&](MllpFrame f) { fed.frames.push_back(std::move(f)); },
        [&](size_t n) { fed.ignored.push_back(n); });
  return fed;
}

std::vector<std::string> texts(const Fed& fed) {
  std::vector<std::string> out;
  for (auto& f : fed.frames) out.push_back(f.bytes);
  return out;
}

const std::string kA = "MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.4\rPID|1\r";
const std::string kB = "MSH|^~\\&|A|B|C|D|1||ADT^A08|2|P|2.4\rPID|1\r";
std::string framed(const std::string& m) { return "\x0B" + m + "\x1C\x0D"; }

}  // namespace

TEST(MllpFramer, FramesComeOutWholeHoweverTheStreamIsCut) {
  const std::string stream = framed(kA) + "\r\n" + framed(kB);
  for (size_t piece : {0, 1, 2, 3, 7, 64}) {
    Fed fed = feed(stream, 1 << 20, piece);
    EXPECT_TRUE(fed.mllp);
    EXPECT_EQ(texts(fed), (std::vector<std::string>{kA, kB})) << "pieces of " << piece;
    EXPECT_TRUE(fed.ignored.empty());
    for (auto& f : fed.frames) {
      EXPECT_FALSE(f.oversized);
      EXPECT_FALSE(f.unterminated);
      EXPECT_EQ(f.size, f.bytes.size());
    }
  }
}

TEST(MllpFramer, EndBlockWithoutCarriageReturnIsTolerated) {
  Fed fed = feed("\x0B" + kA + "\x1C" + "\x0B" + kB + "\x1C");
  EXPECT_EQ(texts(fed), (std::vector<std::string>{kA, kB}));
}

TEST(MllpFramer, StartBlockInsideAFrameEndsItAsUnterminated) {
  Fed fed = feed("\x0B" + kA + framed(kB));
  ASSERT_EQ(fed.frames.size(), 2u);
  EXPECT_EQ(fed.frames[0].bytes, kA);
  EXPECT_TRUE(fed.frames[0].unterminated);
  EXPECT_EQ(fed.frames[1].bytes, kB);
  EXPECT_FALSE(fed.frames[1].unterminated);
}

TEST(MllpFramer, AFrameNotYetEndedIsNotHandedOut) {
  EXPECT_TRUE(feed("\x0B" + kA).frames.empty());
}

TEST(MllpFramer, OversizedFrameKeepsItsHeadAndFullSize) {
  const std::string big(200 * 1024, 'x');
  Fed fed = feed(framed(kA + big) + framed(kB), 1000, 4096);
  ASSERT_EQ(fed.frames.size(), 2u);
  EXPECT_TRUE(fed.frames[0].oversized);
  EXPECT_EQ(fed.frames[0].size, kA.size() + big.size());
  // The head is what had arrived when the limit was crossed (enough to read the MSH), at most 64 KiB.
  EXPECT_GT(fed.frames[0].bytes.size(), 1000u);
  EXPECT_LE(fed.frames[0].bytes.size(), cc::hl7v2::kMllpOversizeHead);
  EXPECT_EQ(fed.frames[0].bytes.substr(0, kA.size()), kA);
  EXPECT_FALSE(fed.frames[1].oversized);
  EXPECT_EQ(fed.frames[1].bytes, kB);
}

TEST(MllpFramer, BytesOutsideFramingAreCountedWithoutWhitespace) {
  Fed fed = feed("garbage \r\n" + framed(kA) + "x y" + framed(kB));
  EXPECT_EQ(texts(fed), (std::vector<std::string>{kA, kB}));
  EXPECT_EQ(fed.ignored, (std::vector<size_t>{7, 2}));
}

TEST(MllpFramer, MoreThanAMebibyteOutsideFramingGivesUp) {
  const std::string noise((1 << 20) + 1, 'x');
  Fed fed = feed(framed(kA) + noise + framed(kB), 1 << 20, 65536);
  EXPECT_FALSE(fed.mllp);
  EXPECT_EQ(texts(fed), std::vector<std::string>{kA});
}
