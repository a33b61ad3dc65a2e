// Escape sequences in HL7 v2 values: delimiter escapes, \Xhh..\ hex bytes, \.br\, sequences that
// pass through unchanged (\H\ \N\ \Cxxyy\ ...), malformed and unterminated ones.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "adapters/hl7v2/message.h"

using cc::hl7v2::Message;

namespace {

Message message_with_obx5(const std::string& obx5, const std::string& charset = "") {
  auto result = Message::parse("MSH|^~\\&|LAB|RXH|||20240301||ORU^R01|1|P|2.5||||||" + charset + "\rOBX|1|TX|||" +
                               obx5 + "\r");
  EXPECT_TRUE(result.ok());
  return result.ok() ? std::move(result).value() : Message{};
}

std::string decoded(const std::string& text) { return message_with_obx5("x").decode(text); }

}  // namespace

TEST(Hl7v2Escape, DelimiterEscapes) {
  EXPECT_EQ(decoded("a\\F\\b"), "a|b");
  EXPECT_EQ(decoded("a\\S\\b"), "a^b");
  EXPECT_EQ(decoded("a\\T\\b"), "a&b");
  EXPECT_EQ(decoded("a\\R\\b"), "a~b");
  EXPECT_EQ(decoded("a\\E\\b"), "a\\b");
  EXPECT_EQ(decoded("\\F\\\\S\\\\T\\\\R\\\\E\\"), "|^&~\\");
}

TEST(Hl7v2Escape, ValueDecodesWithinTheRequestedComponent) {
  const Message m = message_with_obx5("Smith \\T\\ Sons^O\\E\\Brien\\S\\X~second");
  EXPECT_EQ(m.value(1, 5), "Smith & Sons");
  EXPECT_EQ(m.value(1, 5, 1, 2), "O\\Brien^X");
  EXPECT_EQ(m.value(1, 5, 2), "second");
  EXPECT_EQ(m.raw_at(1, 5, 1, 2), "O\\E\\Brien\\S\\X");
}

TEST(Hl7v2Escape, EscapesFollowCustomDelimiters) {
  auto result = Message::parse("MSH#*@!$#A#B#C#D#20240301##ADT*A01#1#P#2.5\rNTE#1##!F!!S!!T!!R!!E!\\F\\\r");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->value(1, 3), "#*$@!\\F\\");
}

TEST(Hl7v2Escape, HexBytes) {
  EXPECT_EQ(decoded("\\X41\\"), "A");
  EXPECT_EQ(decoded("\\X414243\\"), "ABC");
  EXPECT_EQ(decoded("\\X6566\\n"), "efn");
  EXPECT_EQ(decoded("\\X0D0A\\"), "\r\n");
  EXPECT_EQ(decoded("caf\\Xc3a9\\"), "caf\xC3\xA9");  // lower-case hex, UTF-8 bytes
  EXPECT_EQ(decoded("\\XE282AC\\ 5"), "\xE2\x82\xAC 5");
}

TEST(Hl7v2Escape, MalformedHexPassesThrough) {
  EXPECT_EQ(decoded("\\X\\n"), "\\X\\n");
  EXPECT_EQ(decoded("\\X656\\n"), "\\X656\\n");
  EXPECT_EQ(decoded("\\XZZ\\"), "\\XZZ\\");
}

TEST(Hl7v2Escape, LineBreak) {
  EXPECT_EQ(decoded("line one\\.br\\line two"), "line one\nline two");
  const Message m = message_with_obx5("a\\.br\\b");
  EXPECT_EQ(m.value(1, 5), "a\nb");
}

TEST(Hl7v2Escape, FormattingAndCharsetEscapesPassThrough) {
  for (const std::string text : {"\\H\\bold\\N\\ normal", "\\C2842\\x", "\\M2442\\y", "\\Zvendor\\", "a\\.sp2\\b",
                                 "\\.in+4\\", "\\.ti-2\\", "\\.sk3\\", "\\.ce\\", "\\.fi\\", "\\.nf\\", "\\P\\"}) {
    EXPECT_EQ(decoded(text), text);
  }
}

TEST(Hl7v2Escape, UnterminatedAndEmptySequencesAreLiteral) {
  EXPECT_EQ(decoded("abc\\F"), "abc\\F");
  EXPECT_EQ(decoded("\\"), "\\");
  EXPECT_EQ(decoded("\\\\"), "\\\\");
  EXPECT_EQ(decoded("a\\F\\b\\S"), "a|b\\S");
  EXPECT_EQ(decoded("\\\\F\\"), "\\\\F\\");
  EXPECT_EQ(message_with_obx5("open\\X41").value(1, 5), "open\\X41");
}

TEST(Hl7v2Escape, NoEscapeCharacterMeansPlainText) {
  EXPECT_EQ(decoded("plain text, nothing to do"), "plain text, nothing to do");
  EXPECT_EQ(decoded(""), "");
}

TEST(Hl7v2Escape, HapiUuencodedEscapePair) {
  const std::string dir = CC_SHARED_DIR "/corpus/malformed/hapi-hl7v2/escape-pair/";
  std::ifstream plain_file(dir + "uuencoded.txt", std::ios::binary);
  std::ifstream escaped_file(dir + "uuencoded_escaped.txt", std::ios::binary);
  if (!plain_file || !escaped_file) GTEST_SKIP() << "HAPI escape pair not found under " << dir;
  std::stringstream plain, escaped;
  plain << plain_file.rdbuf();
  escaped << escaped_file.rdbuf();
  // The escaped form writes each line break as \X0D\\X0A\ (CR LF); the plain file stores LF alone.
  std::string unescaped = decoded(escaped.str());
  for (size_t at; (at = unescaped.find("\r\n")) != std::string::npos;) unescaped.erase(at, 1);
  EXPECT_EQ(unescaped, plain.str());
}
