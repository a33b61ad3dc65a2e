// Messages the parser must reject, each with an HL7 table 0357 code, a location for the ERR
// segment and a sentence a PAS analyst can act on.
#include <gtest/gtest.h>

#include <string>

#include "adapters/hl7v2/message.h"

using cc::hl7v2::Message;
using cc::hl7v2::ParseProblem;

namespace {

ParseProblem rejected(const std::string& text) {
  auto parsed = Message::parse_detailed(text);
  EXPECT_TRUE(std::holds_alternative<ParseProblem>(parsed)) << testing::PrintToString(text);
  if (!std::holds_alternative<ParseProblem>(parsed)) return {};
  ParseProblem p = std::get<ParseProblem>(std::move(parsed));
  EXPECT_FALSE(p.message.empty());
  return p;
}

const std::string kGoodMsh = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5";

}  // namespace

TEST(Hl7v2Reject, EmptyInput) {
  const ParseProblem p = rejected("");
  EXPECT_EQ(p.hl7_code, 100);
  EXPECT_NE(p.message.find("empty"), std::string::npos);
}

TEST(Hl7v2Reject, NotStartingWithMsh) {
  for (const std::string text : {"M", "abc", "MSQ|||", "PID|1||42\r", " MSH|^~\\&|A", "\xEF\xBB\xBFPID|1\r",
                                 "\xEF\xBB\xBF", "msh|^~\\&|A|B|C|D|x||ADT^A01|1|P|2.5"}) {
    const ParseProblem p = rejected(text);
    EXPECT_EQ(p.hl7_code, 100);
    EXPECT_NE(p.message.find("not an HL7 v2 message: it must start with MSH"), std::string::npos) << p.message;
  }
}

TEST(Hl7v2Reject, MshTooShortToReadDelimiters) {
  for (const std::string text : {"MSH", "MSH\rPID|1", "MSH|", "MSH|||", "MSH|\r", "\xEF\xBB\xBFMSH"}) {
    const ParseProblem p = rejected(text);
    EXPECT_EQ(p.hl7_code, 101) << p.message;
    EXPECT_EQ(p.where.segment, "MSH");
    EXPECT_TRUE(p.where.field == 1 || p.where.field == 2);
  }
}

TEST(Hl7v2Reject, FieldSeparatorMustBePunctuation) {
  using namespace std::string_literals;
  for (const std::string& text : {"MSHA^~\\&A"s, "MSH1^~\\&1"s, "MSH ^~\\& "s, "MSH\0^~\\&"s, "MSH\x80^~\\&"s}) {
    const ParseProblem p = rejected(text);
    EXPECT_EQ(p.hl7_code, 102);
    EXPECT_EQ(p.where.field, 1);
  }
}

TEST(Hl7v2Reject, EncodingCharactersMustBeDistinctPunctuation) {
  for (const std::string text : {"MSH|^~^#|A", "MSH|^^\\&|A", "MSH|^~\\&#X|A", "MSH|^~a&|A", "MSH|^~\\&#$|A"}) {
    const ParseProblem p = rejected(text);
    EXPECT_EQ(p.hl7_code, 102) << text;
    EXPECT_EQ(p.where.field, 2);
  }
}

TEST(Hl7v2Reject, MissingMessageTypeOrControlId) {
  ParseProblem p = rejected("MSH|^~\\&|A|B|C|D|20240301|||1|P|2.5\rPID|1\r");
  EXPECT_EQ(p.hl7_code, 101);
  EXPECT_EQ(p.where.segment, "MSH");
  EXPECT_EQ(p.where.field, 9);
  p = rejected("MSH|^~\\&|A|B|C|D|20240301||ADT^A01||P|2.5\rPID|1\r");
  EXPECT_EQ(p.hl7_code, 101);
  EXPECT_EQ(p.where.field, 10);
  p = rejected("MSH|^~\\&|A|B|C|D|20240301||ADT^A01");
  EXPECT_EQ(p.where.field, 10);
}

TEST(Hl7v2Reject, SegmentNamesMustBeThreeCapitalsOrDigits) {
  for (const std::string bad : {"pid|1", "PI|1", "P|D|1", "PIDX|1", "|PID|1", "PI\xC3\x89|1", "// comment"}) {
    const ParseProblem p = rejected(kGoodMsh + "\rEVN|A01\r" + bad + "\rPV1|1\r");
    EXPECT_EQ(p.hl7_code, 100) << bad;
    EXPECT_EQ(p.where.sequence, 3) << bad;
    EXPECT_NE(p.message.find("Segment 3"), std::string::npos) << p.message;
  }
}

TEST(Hl7v2Reject, BadSegmentIsNamedWithoutDelimiters) {
  EXPECT_EQ(rejected(kGoodMsh + "\rpid|1\r").where.segment, "pid");
  EXPECT_EQ(rejected(kGoodMsh + "\rPIDX|1\r").where.segment, "PID");
  EXPECT_EQ(rejected(kGoodMsh + "\rP|D|1\r").where.segment, "P");
  EXPECT_EQ(rejected(kGoodMsh + "\r|PID|1\r").where.segment, "");
}

TEST(Hl7v2Reject, SecondMshMeansSeveralMessages) {
  const ParseProblem p = rejected(kGoodMsh + "\rPID|1\r" + kGoodMsh + "\r");
  EXPECT_EQ(p.hl7_code, 100);
  EXPECT_EQ(p.where.sequence, 3);
}

TEST(Hl7v2Reject, ParseMapsProblemToError) {
  auto result = Message::parse("PID|1\r");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, "hl7-parse");
  EXPECT_NE(result.error().message.find("must start with MSH"), std::string::npos);
}
