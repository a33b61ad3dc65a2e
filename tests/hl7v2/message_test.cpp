// Structure of a parsed HL7 v2 message: delimiters, MSH numbering, segments, fields,
// repetitions, components, subcomponents, segment ends, BOM, Z-segments and versions.
#include <gtest/gtest.h>

#include <string>

#include "adapters/hl7v2/message.h"

using cc::hl7v2::Message;

namespace {

const std::string kAdt =
    "MSH|^~\\&|PAS|RXH|EMPI|NHS|20240301120000||ADT^A01^ADT_A01|MSG0001|P|2.4\r"
    "EVN|A01|20240301120000\r"
    "PID|1||9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH~H123456^^^RXH^MR||SMITH^JOHN^A^^MR||19700101|M\r"
    "PV1|1|I|WARD1^BED2\r"
    "ZPI|custom|data^here\r";

Message parsed(std::string text) {
  auto result = Message::parse(std::move(text));
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : Message{};
}

}  // namespace

TEST(Hl7v2Message, StandardDelimitersAndMshShortcuts) {
  const Message m = parsed(kAdt);
  const auto& d = m.delimiters();
  EXPECT_EQ(d.field, '|');
  EXPECT_EQ(d.component, '^');
  EXPECT_EQ(d.repetition, '~');
  EXPECT_EQ(d.escape, '\\');
  EXPECT_EQ(d.subcomponent, '&');
  EXPECT_EQ(d.truncation, '\0');
  EXPECT_EQ(m.sending_application(), "PAS");
  EXPECT_EQ(m.sending_facility(), "RXH");
  EXPECT_EQ(m.receiving_application(), "EMPI");
  EXPECT_EQ(m.receiving_facility(), "NHS");
  EXPECT_EQ(m.message_time(), "20240301120000");
  EXPECT_EQ(m.message_code(), "ADT");
  EXPECT_EQ(m.trigger_event(), "A01");
  EXPECT_EQ(m.control_id(), "MSG0001");
  EXPECT_EQ(m.processing_id(), "P");
  EXPECT_EQ(m.version(), "2.4");
  EXPECT_EQ(m.encode(), kAdt);
}

TEST(Hl7v2Message, MshOneIsTheFieldSeparatorAndMshTwoTheEncodingCharacters) {
  const Message m = parsed(kAdt);
  EXPECT_EQ(m.field_raw(0, 1), "|");
  EXPECT_EQ(m.field_raw(0, 2), "^~\\&");
  EXPECT_EQ(m.value(0, 1), "|");
  EXPECT_EQ(m.value(0, 2), "^~\\&");
  EXPECT_EQ(m.raw_at(0, 2, 1, 1), "^~\\&");  // never split on its own component separator
  EXPECT_EQ(m.raw_at(0, 2, 1, 2), "");
  EXPECT_EQ(m.repetition_count(0, 1), 1);
  EXPECT_EQ(m.repetition_count(0, 2), 1);
  EXPECT_EQ(m.field_raw(0, 3), "PAS");
  EXPECT_EQ(m.field_raw(0, 9), "ADT^A01^ADT_A01");
  EXPECT_EQ(m.field_raw(0, 12), "2.4");
  EXPECT_EQ(m.field_count(0), 12);
  EXPECT_EQ(m.field_raw(0, 13), "");
}

TEST(Hl7v2Message, SegmentsFieldsRepetitionsComponentsSubcomponents) {
  const Message m = parsed(kAdt);
  ASSERT_EQ(m.segment_count(), 5u);
  EXPECT_EQ(m.segment_name(2), "PID");
  EXPECT_EQ(m.segment_text(3), "PV1|1|I|WARD1^BED2");
  EXPECT_EQ(m.find("PID"), 2u);
  EXPECT_EQ(m.find("PID", 3), std::nullopt);
  EXPECT_EQ(m.find_all("PV1"), std::vector<size_t>{3});
  EXPECT_EQ(m.field_count(2), 8);
  EXPECT_EQ(m.field_raw(2, 1), "1");
  EXPECT_EQ(m.field_raw(2, 2), "");
  EXPECT_EQ(m.repetition_count(2, 3), 2);
  EXPECT_EQ(m.repetition_count(2, 2), 0);
  EXPECT_EQ(m.raw_at(2, 3, 1), "9434765919^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH");
  EXPECT_EQ(m.raw_at(2, 3, 0), m.field_raw(2, 3));
  EXPECT_EQ(m.raw_at(2, 3, 1, 4), "NHS&2.16.840.1.113883.2.1.4.1&ISO");
  EXPECT_EQ(m.raw_at(2, 3, 1, 4, 2), "2.16.840.1.113883.2.1.4.1");
  EXPECT_EQ(m.value(2, 3), "9434765919");
  EXPECT_EQ(m.value(2, 3, 1, 4), "NHS");
  EXPECT_EQ(m.value(2, 3, 1, 4, 3), "ISO");
  EXPECT_EQ(m.value(2, 3, 2, 1), "H123456");
  EXPECT_EQ(m.value(2, 3, 2, 5), "MR");
  EXPECT_EQ(m.value(2, 3, 3), "");
  EXPECT_EQ(m.value(2, 5, 1, 2), "JOHN");
  EXPECT_EQ(m.value(2, 5, 1, 9), "");
  EXPECT_EQ(m.value(3, 3, 1, 2), "BED2");
}

// A field of many repetitions is read through an index of where each begins (built once, the last
// few fields kept): every repetition, component and count reads as a scan from the field's start
// would, across more fields than the index keeps, read in turn.
TEST(Hl7v2Message, ManyRepetitionsReadAlikeThroughTheIndex) {
  auto field_of = [](const std::string& prefix, int n) {
    std::string f;
    for (int i = 1; i <= n; ++i) f += (i > 1 ? "~" : "") + prefix + std::to_string(i) + "^^^RXH^MR";
    return f;
  };
  const int sizes[] = {3, 8, 9, 40, 2000, 7};
  std::string text = "MSH|^~\\&|PAS|RXH|EMPI|NHS|20240301120000||ADT^A01^ADT_A01|MSG0001|P|2.4\r";
  for (int k = 0; k < 6; ++k) text += "ZRP|" + field_of("F" + std::to_string(k) + "-", sizes[k]) + "|~~\r";
  const Message m = parsed(text);
  for (int pass = 0; pass < 2; ++pass)
    for (int k = 0; k < 6; ++k) {  // six fields: more than the index keeps, so entries are replaced
      const size_t seg = static_cast<size_t>(k + 1);
      ASSERT_EQ(m.repetition_count(seg, 1), sizes[k]);
      const std::string_view whole = m.field_raw(seg, 1);
      for (int rep = sizes[k] + 1; rep >= 1; --rep) {
        ASSERT_EQ(m.raw_at(seg, 1, rep), cc::hl7v2::piece(whole, '~', rep)) << k << " " << rep;
        ASSERT_EQ(m.value(seg, 1, rep, 1), rep <= sizes[k] ? "F" + std::to_string(k) + "-" + std::to_string(rep) : "");
        ASSERT_EQ(m.raw_at(seg, 1, rep, 4), rep <= sizes[k] ? "RXH" : "");
      }
      EXPECT_EQ(m.repetition_count(seg, 1), sizes[k]);
      EXPECT_EQ(m.repetition_count(seg, 2), 3);  // "~~": three empty repetitions
      EXPECT_EQ(m.raw_at(seg, 2, 3), "");
    }
}

TEST(Hl7v2Message, AccessorsOutOfRangeAreEmpty) {
  const Message m = parsed(kAdt);
  EXPECT_EQ(m.segment_name(99), "");
  EXPECT_EQ(m.segment_text(99), "");
  EXPECT_EQ(m.field_count(99), 0);
  EXPECT_EQ(m.field_raw(99, 1), "");
  EXPECT_EQ(m.field_raw(2, 0), "");
  EXPECT_EQ(m.field_raw(2, -1), "");
  EXPECT_EQ(m.field_raw(2, 1000), "");
  EXPECT_EQ(m.raw_at(2, 3, -1), "");
  EXPECT_EQ(m.value(2, 3, 1, -2), "");
  EXPECT_EQ(m.value(99, 3), "");
  EXPECT_EQ(m.repetition_count(99, 3), 0);
  const Message empty;
  EXPECT_EQ(empty.segment_count(), 0u);
  EXPECT_EQ(empty.control_id(), "");
  EXPECT_EQ(empty.field_raw(0, 1), "");
}

TEST(Hl7v2Message, PieceHelpers) {
  using cc::hl7v2::piece;
  using cc::hl7v2::piece_count;
  EXPECT_EQ(piece("a^b^^d", '^', 1), "a");
  EXPECT_EQ(piece("a^b^^d", '^', 3), "");
  EXPECT_EQ(piece("a^b^^d", '^', 4), "d");
  EXPECT_EQ(piece("a^b^^d", '^', 5), "");
  EXPECT_EQ(piece("a^b", '^', 0), "");
  EXPECT_EQ(piece("a^b", '\0', 1), "a^b");
  EXPECT_EQ(piece_count("", '^'), 0);
  EXPECT_EQ(piece_count("a", '^'), 1);
  EXPECT_EQ(piece_count("a^", '^'), 2);
  EXPECT_EQ(piece_count("a^b^^d", '^'), 4);
}

TEST(Hl7v2Message, WalkingEverySubcomponentOfASegment) {
  const Message m = parsed(kAdt);
  std::vector<std::string> pieces;
  const auto record = [&](const Message::Piece& p) {
    pieces.push_back(std::to_string(p.field) + "." + std::to_string(p.rep) + "." + std::to_string(p.comp) + "." +
                     std::to_string(p.sub) + "=" + std::string(p.raw));
  };
  m.for_each_subcomponent(2, record);
  EXPECT_EQ(pieces, (std::vector<std::string>{
                        "1.1.1.1=1", "3.1.1.1=9434765919", "3.1.2.1=", "3.1.3.1=", "3.1.4.1=NHS",
                        "3.1.4.2=2.16.840.1.113883.2.1.4.1", "3.1.4.3=ISO", "3.1.5.1=NH", "3.2.1.1=H123456", "3.2.2.1=",
                        "3.2.3.1=", "3.2.4.1=RXH", "3.2.5.1=MR", "5.1.1.1=SMITH", "5.1.2.1=JOHN", "5.1.3.1=A",
                        "5.1.4.1=", "5.1.5.1=MR", "7.1.1.1=19700101", "8.1.1.1=M"}));
  pieces.clear();
  m.for_each_subcomponent(0, record);
  ASSERT_GE(pieces.size(), 4u);
  EXPECT_EQ(pieces[0], "1.1.1.1=|");
  EXPECT_EQ(pieces[1], "2.1.1.1=^~\\&");
  EXPECT_EQ(pieces[2], "3.1.1.1=PAS");
  pieces.clear();
  m.for_each_subcomponent(99, record);
  EXPECT_TRUE(pieces.empty());
}

TEST(Hl7v2Message, WalkerFlagsEscapedPiecesAcrossLongFields) {
  const std::string long_text = std::string(40, 'x') + "\\E\\" + std::string(30, 'y');
  const Message m = parsed("MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\rNTE|1|" + std::string(20, 'a') + "^" +
                           long_text + "^" + std::string(33, 'z') + "|\\E\\\r");
  std::vector<std::pair<std::string, bool>> pieces;
  m.for_each_subcomponent(1, [&](const Message::Piece& p) { pieces.emplace_back(std::string(p.raw), p.escaped); });
  ASSERT_EQ(pieces.size(), 5u);
  EXPECT_EQ(pieces[1], std::make_pair(std::string(20, 'a'), false));
  EXPECT_EQ(pieces[2], std::make_pair(long_text, true));
  EXPECT_EQ(pieces[3], std::make_pair(std::string(33, 'z'), false));
  EXPECT_EQ(pieces[4], std::make_pair(std::string("\\E\\"), true));
}

TEST(Hl7v2Message, CustomDelimiters) {
  const std::string text =
      "MSH#*@!$#SND#FAC#RCV#FAC#20240301##ORU*R01#42#P#2.5\r"
      "PID#1##111*x*y*AUTH$SUB1$SUB2@222*z##DOE*JANE!F!X!S!Y\r";
  const Message m = parsed(text);
  const auto& d = m.delimiters();
  EXPECT_EQ(d.field, '#');
  EXPECT_EQ(d.component, '*');
  EXPECT_EQ(d.repetition, '@');
  EXPECT_EQ(d.escape, '!');
  EXPECT_EQ(d.subcomponent, '$');
  EXPECT_EQ(m.field_raw(0, 1), "#");
  EXPECT_EQ(m.field_raw(0, 2), "*@!$");
  EXPECT_EQ(m.message_code(), "ORU");
  EXPECT_EQ(m.trigger_event(), "R01");
  EXPECT_EQ(m.control_id(), "42");
  EXPECT_EQ(m.repetition_count(1, 3), 2);
  EXPECT_EQ(m.value(1, 3, 1, 4, 3), "SUB2");
  EXPECT_EQ(m.value(1, 3, 2, 2), "z");
  EXPECT_EQ(m.value(1, 5, 1, 2), "JANE#X*Y");
  EXPECT_EQ(m.encode(), text);
}

TEST(Hl7v2Message, AlternativeDelimitersFromHapi) {
  // Component and field separators swapped, as in HAPI's segment finder test.
  const std::string text =
      "MSH^~|\\&^SENDING^200M^RECEIVING^200^20120918173931-0500^^ADT~A24^2003582144^T^2.4\r"
      "PID^1^^11111~~~FOO&&0363~NI|SECOND~X\r";
  const Message m = parsed(text);
  EXPECT_EQ(m.delimiters().field, '^');
  EXPECT_EQ(m.delimiters().component, '~');
  EXPECT_EQ(m.delimiters().repetition, '|');
  EXPECT_EQ(m.message_code(), "ADT");
  EXPECT_EQ(m.trigger_event(), "A24");
  EXPECT_EQ(m.value(1, 3, 1, 4, 3), "0363");
  EXPECT_EQ(m.value(1, 3, 2, 2), "X");
}

TEST(Hl7v2Message, TruncationCharacterFromVersion27) {
  const Message m = parsed("MSH|^~\\&#|A|B|C|D|20240301||ADT^A01|1|P|2.7\rOBX|1|ST|||cut#\\P\\\r");
  EXPECT_EQ(m.delimiters().truncation, '#');
  EXPECT_EQ(m.field_raw(0, 2), "^~\\&#");
  EXPECT_EQ(m.value(1, 5), "cut##");
}

TEST(Hl7v2Message, ShortEncodingCharactersLeaveDelimitersUnused) {
  const Message m = parsed("MSH|^~|A|B|C|D|20240301||ADT^A01|1|P|2.1\rPID|1||1\\S\\2&3\r");
  EXPECT_EQ(m.delimiters().escape, '\0');
  EXPECT_EQ(m.delimiters().subcomponent, '\0');
  EXPECT_EQ(m.value(1, 3), "1\\S\\2&3");
}

TEST(Hl7v2Message, SegmentEndsCrLfCrLfMixedAndMissing) {
  struct Ends {
    std::string after_msh, after_pid, after_pv1;
  };
  const std::string msh = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5";
  for (const Ends& e : {Ends{"\r", "\r", "\r"}, Ends{"\n", "\n", "\n"}, Ends{"\r\n", "\r\n", "\r\n"},
                        Ends{"\n", "\r", "\r\n"}, Ends{"\r\n", "\n", ""}, Ends{"\n\r", "\r", "\r"}}) {
    const std::string text = msh + e.after_msh + "PID|1||42" + e.after_pid + "PV1|1|I" + e.after_pv1;
    SCOPED_TRACE(testing::PrintToString(text));
    const Message m = parsed(text);
    ASSERT_EQ(m.segment_count(), 3u);
    EXPECT_EQ(m.segment_text(0), msh);
    EXPECT_EQ(m.segment_text(1), "PID|1||42");
    EXPECT_EQ(m.segment_text(2), "PV1|1|I");
    EXPECT_EQ(m.value(1, 3), "42");
    EXPECT_EQ(m.value(2, 2), "I");
    EXPECT_EQ(m.encode(), text);
  }
}

TEST(Hl7v2Message, BlankLinesBetweenSegmentsAreKeptForEncode) {
  const std::string text = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\r\n\r\n  \t\r\nPID|1||42\r\n\r\n \n";
  const Message m = parsed(text);
  ASSERT_EQ(m.segment_count(), 2u);
  EXPECT_EQ(m.segment_name(1), "PID");
  EXPECT_EQ(m.segment_text(1), "PID|1||42");
  EXPECT_EQ(m.encode(), text);
}

TEST(Hl7v2Message, LeadingByteOrderMark) {
  const std::string text = "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P|2.5\rPID|1||42\r";
  const Message m = parsed(text);
  EXPECT_EQ(m.segment_name(0), "MSH");
  EXPECT_EQ(m.field_raw(0, 1), "|");
  EXPECT_EQ(m.sending_application(), "A");
  EXPECT_EQ(m.encode(), text);
}

TEST(Hl7v2Message, ZSegmentsAreKept) {
  const Message m = parsed(kAdt);
  const auto z = m.find("ZPI");
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(m.value(*z, 1), "custom");
  EXPECT_EQ(m.value(*z, 2, 1, 2), "here");
}

TEST(Hl7v2Message, VersionsReadTheSameWay) {
  for (const std::string version : {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"}) {
    const std::string text = "MSH|^~\\&|LAB|RXH|||20240301||ORU^R01|9|P|" + version +
                             "\rPID|||123^^^RXH^MR||DOE^JANE\rOBX|1|NM|GLU^Glucose||5.4|mmol/L\r";
    SCOPED_TRACE(version);
    const Message m = parsed(text);
    EXPECT_EQ(m.version(), version);
    EXPECT_EQ(m.value(1, 3, 1, 5), "MR");
    EXPECT_EQ(m.value(2, 3, 1, 2), "Glucose");
    EXPECT_EQ(m.value(2, 5), "5.4");
    EXPECT_EQ(m.encode(), text);
  }
}

TEST(Hl7v2Message, VersionWithComponents) {
  const Message m = parsed("MSH|^~\\&|A|B|C|D|20240301||ADT^A01|1|P^T|2.5.1^GBR^2.5\r");
  EXPECT_EQ(m.version(), "2.5.1");
  EXPECT_EQ(m.processing_id(), "P");
  EXPECT_EQ(m.value(0, 12, 1, 2), "GBR");
}
