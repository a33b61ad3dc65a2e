// Splitting files that hold several HL7 v2 messages: batch envelopes dropped, blank lines between
// messages tolerated, stray lines outside a message handed back for the parser to reject.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/hl7v2/message.h"

using cc::hl7v2::split_messages;
using Texts = std::vector<std::string>;

namespace {
const std::string kFirst = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\rPID|1||42\r";
const std::string kSecond = "MSH|^~\\&|A|B|C|D|20240301||ADT^A08|2|P|2.5\rPID|1||43\r";
}  // namespace

TEST(Hl7v2Split, OneMessage) {
  EXPECT_EQ(split_messages(kFirst), Texts{kFirst});
  EXPECT_EQ(split_messages(""), Texts{});
  EXPECT_EQ(split_messages("\r\n  \n"), Texts{});
}

TEST(Hl7v2Split, SeveralMessagesWithBlankLinesBetween) {
  EXPECT_EQ(split_messages(kFirst + kSecond), (Texts{kFirst, kSecond}));
  EXPECT_EQ(split_messages("\n \r\n" + kFirst + "\r\n\r\n \t\n" + kSecond + "\r\n\t\r"), (Texts{kFirst, kSecond}));
}

TEST(Hl7v2Split, BlankLinesInsideAMessageAreKept) {
  const std::string gappy = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\r\rPID|1||42\r";
  EXPECT_EQ(split_messages(gappy + "\r" + kSecond), (Texts{gappy, kSecond}));
}

TEST(Hl7v2Split, BatchEnvelopesAreDropped) {
  const std::string batch = "FHS|^~\\&|A|B\rBHS|^~\\&|A|B\r" + kFirst + kSecond + "BTS|2\rFTS|1\r";
  EXPECT_EQ(split_messages(batch), (Texts{kFirst, kSecond}));
  const std::string lf_batch = "FHS|^~\\&|A|B\nBHS|^~\\&|A|B\nMSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\nBTS|1\nFTS|1\n";
  EXPECT_EQ(split_messages(lf_batch), Texts{"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\n"});
}

TEST(Hl7v2Split, ByteOrderMarkStaysWithTheFirstMessage) {
  EXPECT_EQ(split_messages("\xEF\xBB\xBF" + kFirst + kSecond), (Texts{"\xEF\xBB\xBF" + kFirst, kSecond}));
  EXPECT_EQ(split_messages("\xEF\xBB\xBF\r\n" + kFirst), Texts{kFirst});
}

TEST(Hl7v2Split, LinesOutsideAnyMessageComeBackForRejection) {
  const auto texts = split_messages("/* comment */\n" + kFirst + "BHS|^~\\&\rEVN|A04\rPID|1\rBTS|1\r");
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_EQ(texts[0], "/* comment */\n");
  EXPECT_EQ(texts[1], kFirst);
  EXPECT_EQ(texts[2], "EVN|A04\rPID|1\r");
  EXPECT_FALSE(cc::hl7v2::Message::parse(texts[0]).ok());
  EXPECT_TRUE(cc::hl7v2::Message::parse(texts[1]).ok());
  EXPECT_FALSE(cc::hl7v2::Message::parse(texts[2]).ok());
}

TEST(Hl7v2Split, SegmentNamesMerelyStartingWithMshAreNotMessageStarts) {
  const std::string text = kFirst + "MSHX|1\r";
  EXPECT_EQ(split_messages(text), Texts{text});
}
