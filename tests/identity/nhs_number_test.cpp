// Tests for NhsNumber: Modulus 11 check, accepted layouts and the error codes
// an analyst sees for each kind of bad value. Numbers are from the 999 test range.
#include <gtest/gtest.h>

#include "engine/identity/nhs_number.h"

namespace {

using cc::identity::NhsNumber;

std::string error_code(std::string_view text) {
  auto parsed = NhsNumber::parse(text);
  return parsed.ok() ? "ok" : parsed.error().code;
}

TEST(NhsNumber, AcceptsValidTestRangeNumbers) {
  for (const char* text : {"9990000018", "9990000026", "9990000034", "9990000042", "9990000069",
                           "9990000077", "9990000085", "9990000093", "9434765919"}) {
    auto parsed = NhsNumber::parse(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.error().message;
    EXPECT_EQ(parsed->str(), text);
  }
}

TEST(NhsNumber, CheckDigitMatchesTheWorkedExample) {
  // 9 4 3 4 7 6 5 9 1 weighted 10..2 sums to 299; 299 mod 11 = 2; 11 - 2 = 9.
  EXPECT_EQ(NhsNumber::check_digit("943476591"), 9);
  EXPECT_EQ(NhsNumber::check_digit("999000001"), 8);
}

TEST(NhsNumber, EveryStemWithACheckDigitParses) {
  int parsed_count = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string stem = "999" + std::string(6 - std::to_string(i).size(), '0') + std::to_string(i);
    const int check = NhsNumber::check_digit(stem);
    if (check < 0) continue;
    auto parsed = NhsNumber::parse(stem + std::to_string(check));
    EXPECT_TRUE(parsed.ok()) << stem;
    ++parsed_count;
  }
  EXPECT_GT(parsed_count, 800);
}

TEST(NhsNumber, RejectsWrongCheckDigit) {
  auto parsed = NhsNumber::parse("9434765918");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "nhs-number-check-digit");
  EXPECT_NE(parsed.error().message.find("9434765918"), std::string::npos);
  EXPECT_NE(parsed.error().message.find("need 9"), std::string::npos);
}

TEST(NhsNumber, RejectsTransposedDigits) {
  EXPECT_EQ(error_code("9434765991"), "nhs-number-check-digit");
  EXPECT_EQ(error_code("4934765919"), "nhs-number-check-digit");
}

TEST(NhsNumber, RejectsStemWhoseCheckDigitWouldBeTen) {
  // 999000000: 9*10 + 9*9 + 9*8 = 243; 243 mod 11 = 1; 11 - 1 = 10.
  EXPECT_EQ(NhsNumber::check_digit("999000000"), -1);
  for (int last = 0; last <= 9; ++last) {
    auto parsed = NhsNumber::parse("999000000" + std::to_string(last));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().code, "nhs-number-check-digit");
    EXPECT_NE(parsed.error().message.find("check digit of 10"), std::string::npos);
  }
}

TEST(NhsNumber, RemainderZeroGivesCheckDigitZero) {
  // 999000005: sum 253 = 23 * 11, so 11 - 0 = 11, which becomes 0.
  EXPECT_EQ(NhsNumber::check_digit("999000005"), 0);
  EXPECT_TRUE(NhsNumber::parse("9990000050").ok());
  EXPECT_EQ(error_code("9990000051"), "nhs-number-check-digit");
}

TEST(NhsNumber, RejectsWrongLength) {
  auto nine = NhsNumber::parse("943476591");
  ASSERT_FALSE(nine.ok());
  EXPECT_EQ(nine.error().code, "nhs-number-length");
  EXPECT_NE(nine.error().message.find("has 9 digits"), std::string::npos);
  EXPECT_EQ(error_code("94347659190"), "nhs-number-length");
  EXPECT_EQ(error_code("943 476 591"), "nhs-number-length");
}

TEST(NhsNumber, AcceptsSpaceAndHyphenGroups) {
  auto spaced = NhsNumber::parse("943 476 5919");
  ASSERT_TRUE(spaced.ok()) << spaced.error().message;
  EXPECT_EQ(spaced->str(), "9434765919");
  auto hyphened = NhsNumber::parse("943-476-5919");
  ASSERT_TRUE(hyphened.ok()) << hyphened.error().message;
  EXPECT_EQ(*hyphened, *spaced);
}

TEST(NhsNumber, RejectsMixedOrMisplacedSeparators) {
  EXPECT_EQ(error_code("943 476-5919"), "nhs-number-not-digits");
  EXPECT_EQ(error_code("9434 765 919"), "nhs-number-not-digits");
  EXPECT_EQ(error_code("943  476 5919"), "nhs-number-not-digits");
  EXPECT_EQ(error_code(" 9434765919"), "nhs-number-not-digits");
}

TEST(NhsNumber, RejectsLetters) {
  auto parsed = NhsNumber::parse("94347A5919");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, "nhs-number-not-digits");
  EXPECT_NE(parsed.error().message.find("'A'"), std::string::npos);
  EXPECT_NE(parsed.error().message.find("94347A5919"), std::string::npos);
  EXPECT_EQ(error_code("943.476.5919"), "nhs-number-not-digits");
}

TEST(NhsNumber, RejectsEmpty) {
  EXPECT_EQ(error_code(""), "nhs-number-empty");
  EXPECT_EQ(error_code("   "), "nhs-number-empty");
}

TEST(NhsNumber, SystemIsTheNhsNumberNamingSystem) {
  EXPECT_EQ(NhsNumber::kSystem, "https://fhir.nhs.uk/Id/nhs-number");
}

}  // namespace
