// MSH-18 character sets: values always come out as UTF-8, whether the message is ASCII,
// ISO 8859-1, UTF-8, or declares nothing (or something unknown) and the bytes must decide.
#include <gtest/gtest.h>

#include <string>

#include "adapters/hl7v2/charset.h"
#include "adapters/hl7v2/message.h"

using cc::hl7v2::Charset;
using cc::hl7v2::Message;

namespace {

Message with_name(const std::string& family, const std::string& msh18) {
  auto result = Message::parse("MSH|^~\\&|PAS|RXH|||20240301||ADT^A01|1|P|2.4||||||" + msh18 + "\rPID|1||42||" +
                               family + "^ZOE\r");
  EXPECT_TRUE(result.ok());
  return result.ok() ? std::move(result).value() : Message{};
}

}  // namespace

TEST(Hl7v2Charset, EmptyOrAsciiIsAscii) {
  EXPECT_EQ(with_name("SMITH", "").charset(), Charset::Ascii);
  EXPECT_EQ(with_name("SMITH", "ASCII").charset(), Charset::Ascii);
  EXPECT_EQ(with_name("SMITH", "ASCII").value(1, 5), "SMITH");
}

TEST(Hl7v2Charset, Latin1IsConvertedToUtf8) {
  const Message m = with_name("CL\xC9MENT", "8859/1");
  EXPECT_EQ(m.charset(), Charset::Latin1);
  EXPECT_EQ(m.value(1, 5), "CL\xC3\x89MENT");
  EXPECT_EQ(m.decode("caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(m.encode().find("CL\xC9MENT") != std::string::npos, true);  // raw bytes untouched
}

TEST(Hl7v2Charset, Latin1HexEscapesAreConvertedLikeTheRest) {
  const Message m = with_name("CL\\XC9\\MENT", "8859/1");
  EXPECT_EQ(m.value(1, 5), "CL\xC3\x89MENT");
}

TEST(Hl7v2Charset, Utf8PassesThrough) {
  for (const std::string declared : {"UNICODE UTF-8", "UTF-8", "unicode utf-8"}) {
    const Message m = with_name("CL\xC3\x89MENT", declared);
    EXPECT_EQ(m.charset(), Charset::Utf8) << declared;
    EXPECT_EQ(m.value(1, 5), "CL\xC3\x89MENT");
  }
  EXPECT_EQ(with_name("\\XC389\\", "UNICODE UTF-8").value(1, 5), "\xC3\x89");
}

TEST(Hl7v2Charset, FirstRepetitionOfMsh18Counts) {
  EXPECT_EQ(with_name("CL\xC9MENT", "8859/1~ISO IR87").charset(), Charset::Latin1);
}

TEST(Hl7v2Charset, UndeclaredOrUnknownCharsetIsJudgedByTheBytes) {
  EXPECT_EQ(with_name("CL\xC3\x89MENT", "").charset(), Charset::Utf8);
  EXPECT_EQ(with_name("CL\xC9MENT", "").charset(), Charset::Latin1);
  EXPECT_EQ(with_name("CL\xC9MENT", "").value(1, 5), "CL\xC3\x89MENT");
  EXPECT_EQ(with_name("CL\xC3\x89MENT", "ISO IR87").charset(), Charset::Utf8);
  EXPECT_EQ(with_name("CL\xC9MENT", "ISO IR87").charset(), Charset::Latin1);
  // Declared UTF-8 but the bytes are not: read as Latin-1 rather than hand out broken UTF-8.
  EXPECT_EQ(with_name("CL\xC9MENT", "UNICODE UTF-8").value(1, 5), "CL\xC3\x89MENT");
}

TEST(Hl7v2Charset, DecodedHexThatIsNotUtf8IsRepaired) {
  const Message m = with_name("\\XE9\\", "");
  EXPECT_EQ(m.charset(), Charset::Ascii);
  EXPECT_EQ(m.value(1, 5), "\xC3\xA9");
  EXPECT_EQ(m.decode("stray \xFF byte"), "stray \xC3\xBF byte");
}

TEST(Hl7v2Charset, ByteHelpers) {
  using namespace cc::hl7v2;
  EXPECT_TRUE(is_utf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 and ascii"));
  EXPECT_FALSE(is_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_utf8("\xE2\x82"));          // truncated
  std::string out;
  append_utf8_repaired("a\xE2\x82\xAC\xE2\x82z", out);
  EXPECT_EQ(out, "a\xE2\x82\xAC\xC3\xA2\xC2\x82z");
  out.clear();
  append_latin1_as_utf8("\xA3 5", out);
  EXPECT_EQ(out, "\xC2\xA3 5");
}
