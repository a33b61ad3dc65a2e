// Tests for HL7 v2 DTM/TS to FHIR conversion: every precision, Europe/London offsets
// around the 2024 and 2026 clock changes, explicit offsets, epoch instants and bad values.
#include <cstdio>
#include <ctime>
#include <random>

#include <gtest/gtest.h>

#include "engine/fhir/datetime.h"

namespace {

using cc::fhir::fhir_instant_utc;
using cc::fhir::hl7_to_epoch_ms;
using cc::fhir::hl7_to_fhir_datetime;
using cc::fhir::london_offset_minutes_at_utc;

constexpr int64_t kHourMs = 3600 * 1000;

std::string fhir(std::string_view hl7) {
  auto converted = hl7_to_fhir_datetime(hl7);
  return converted.ok() ? converted.value() : "error: " + converted.error().message;
}

int64_t epoch_ms(std::string_view hl7) {
  auto converted = hl7_to_epoch_ms(hl7);
  EXPECT_TRUE(converted.ok()) << hl7 << ": " << converted.error().message;
  return converted.ok() ? converted.value() : 0;
}

TEST(Hl7ToFhir, KeepsEachPrecision) {
  EXPECT_EQ(fhir("2024"), "2024");
  EXPECT_EQ(fhir("202403"), "2024-03");
  EXPECT_EQ(fhir("20240331"), "2024-03-31");
  EXPECT_EQ(fhir("2024013114"), "2024-01-31T14:00:00+00:00");
  EXPECT_EQ(fhir("202401311405"), "2024-01-31T14:05:00+00:00");
  EXPECT_EQ(fhir("20240131140517"), "2024-01-31T14:05:17+00:00");
}

TEST(Hl7ToFhir, KeepsFractionalSecondsAsSent) {
  EXPECT_EQ(fhir("20240131140517.1"), "2024-01-31T14:05:17.1+00:00");
  EXPECT_EQ(fhir("20240131140517.12"), "2024-01-31T14:05:17.12+00:00");
  EXPECT_EQ(fhir("20240131140517.123"), "2024-01-31T14:05:17.123+00:00");
  EXPECT_EQ(fhir("20240731140517.1230"), "2024-07-31T14:05:17.1230+01:00");
  EXPECT_EQ(fhir("20240131140517.5-0500"), "2024-01-31T14:05:17.5-05:00");
}

TEST(Hl7ToFhir, WinterIsGmtAndSummerIsBst) {
  EXPECT_EQ(fhir("20241225093000"), "2024-12-25T09:30:00+00:00");
  EXPECT_EQ(fhir("20240615093000"), "2024-06-15T09:30:00+01:00");
  EXPECT_EQ(fhir("20260101000000"), "2026-01-01T00:00:00+00:00");
  EXPECT_EQ(fhir("20260815235959"), "2026-08-15T23:59:59+01:00");
}

TEST(Hl7ToFhir, SpringForward2024) {
  // Clocks went forward at 01:00 GMT on Sunday 31 March 2024.
  EXPECT_EQ(fhir("20240331005900"), "2024-03-31T00:59:00+00:00");
  EXPECT_EQ(fhir("20240331013000"), "2024-03-31T01:30:00+00:00");  // never shown on a clock
  EXPECT_EQ(fhir("20240331015959"), "2024-03-31T01:59:59+00:00");
  EXPECT_EQ(fhir("20240331020000"), "2024-03-31T02:00:00+01:00");
  EXPECT_EQ(fhir("20240330020000"), "2024-03-30T02:00:00+00:00");
}

TEST(Hl7ToFhir, FallBack2024) {
  // Clocks went back at 02:00 BST on Sunday 27 October 2024, so 01:00-01:59 happened twice.
  EXPECT_EQ(fhir("20241027005900"), "2024-10-27T00:59:00+01:00");
  EXPECT_EQ(fhir("20241027013000"), "2024-10-27T01:30:00+01:00");  // the first 01:30
  EXPECT_EQ(fhir("20241027015959.9999"), "2024-10-27T01:59:59.9999+01:00");
  EXPECT_EQ(fhir("20241027020000"), "2024-10-27T02:00:00+00:00");
  EXPECT_EQ(fhir("20241028013000"), "2024-10-28T01:30:00+00:00");
}

TEST(Hl7ToFhir, ClockChanges2026) {
  // 2026: forward on Sunday 29 March, back on Sunday 25 October.
  EXPECT_EQ(fhir("202603290059"), "2026-03-29T00:59:00+00:00");
  EXPECT_EQ(fhir("202603290130"), "2026-03-29T01:30:00+00:00");
  EXPECT_EQ(fhir("202603290200"), "2026-03-29T02:00:00+01:00");
  EXPECT_EQ(fhir("202610250059"), "2026-10-25T00:59:00+01:00");
  EXPECT_EQ(fhir("202610250130"), "2026-10-25T01:30:00+01:00");
  EXPECT_EQ(fhir("202610250200"), "2026-10-25T02:00:00+00:00");
  EXPECT_EQ(fhir("2026032901"), "2026-03-29T01:00:00+00:00");
  EXPECT_EQ(fhir("2026102501"), "2026-10-25T01:00:00+01:00");
}

TEST(Hl7ToFhir, KeepsExplicitOffsets) {
  EXPECT_EQ(fhir("20240615093000+0000"), "2024-06-15T09:30:00+00:00");
  EXPECT_EQ(fhir("20241225093000+0100"), "2024-12-25T09:30:00+01:00");
  EXPECT_EQ(fhir("20241225093000-0500"), "2024-12-25T09:30:00-05:00");
  EXPECT_EQ(fhir("202412250930+0530"), "2024-12-25T09:30:00+05:30");
  EXPECT_EQ(fhir("20240331013000+0000"), "2024-03-31T01:30:00+00:00");
  EXPECT_EQ(fhir("20241225+0100"), "2024-12-25");  // a FHIR date has no offset
}

TEST(Hl7ToFhir, AcceptsLeapDay) {
  EXPECT_EQ(fhir("20240229"), "2024-02-29");
  EXPECT_EQ(fhir("20000229"), "2000-02-29");
}

TEST(Hl7ToFhir, RejectsGarbage) {
  for (const char* bad :
       {"", "abc", "2024-03-31", "20240331T140500", "2024033", "20241", "202413", "202400",
        "20240132", "20240230", "20230229", "21000229", "20240431", "20240131250000",
        "20240131240000", "20240131146000", "20240131140560", "20240131140500+01",
        "20240131140500+01:00", "20240131140500+2500", "20240131140500+0160", "20240131140500Z",
        "20240131140500.", "20240131140500.12345", "202401311405.5", "20240131140500^S",
        " 20240131", "20240131 ", "0999", "+0100"}) {
    auto converted = hl7_to_fhir_datetime(bad);
    ASSERT_FALSE(converted.ok()) << "accepted '" << bad << "' as " << converted.value();
    EXPECT_EQ(converted.error().code, "hl7-datetime");
    EXPECT_NE(converted.error().message.find("'" + std::string(bad) + "'"), std::string::npos)
        << converted.error().message;
    EXPECT_FALSE(hl7_to_epoch_ms(bad).ok()) << bad;
  }
}

TEST(Hl7ToFhir, ErrorsSayWhatIsWrong) {
  EXPECT_NE(fhir("202413").find("month 13"), std::string::npos);
  EXPECT_NE(fhir("20240132").find("day 32"), std::string::npos);
  EXPECT_NE(fhir("20240230").find("days 01 to 29"), std::string::npos);
  EXPECT_NE(fhir("2024013125").find("hour 25"), std::string::npos);
  EXPECT_NE(fhir("202401311460").find("minute 60"), std::string::npos);
  EXPECT_NE(fhir("20240131140500+01:00").find("+HHMM"), std::string::npos);
}

TEST(Hl7ToEpochMs, KnownInstants) {
  EXPECT_EQ(epoch_ms("19700101000000+0000"), 0);
  EXPECT_EQ(epoch_ms("19700101010000+0100"), 0);
  EXPECT_EQ(epoch_ms("19691231235959.999+0000"), -1);
  EXPECT_EQ(epoch_ms("20000101"), 946684800000);              // GMT midnight
  EXPECT_EQ(epoch_ms("20240701"), 1719788400000);             // BST midnight: 23:00Z on 30 June
  EXPECT_EQ(epoch_ms("2024"), epoch_ms("20240101000000"));
  EXPECT_EQ(epoch_ms("202407"), epoch_ms("20240701"));
  EXPECT_EQ(epoch_ms("20261122073356.123+0000"), 1795332836123);
  EXPECT_EQ(epoch_ms("20261122073356.1239"), 1795332836123);  // truncated to the millisecond
  EXPECT_EQ(epoch_ms("20241225093000-0500"), epoch_ms("20241225143000"));
}

TEST(Hl7ToEpochMs, AroundTheClockChanges) {
  const int64_t spring_2024 = 1711846800000;  // 2024-03-31T01:00:00Z
  EXPECT_EQ(epoch_ms("20240331005959"), spring_2024 - 1000);
  EXPECT_EQ(epoch_ms("20240331020000"), spring_2024);
  EXPECT_EQ(epoch_ms("20240331013000"), spring_2024 + kHourMs / 2);  // read as GMT
  const int64_t autumn_2024 = 1729990800000;  // 2024-10-27T01:00:00Z
  EXPECT_EQ(epoch_ms("20241027013000"), autumn_2024 - kHourMs / 2);  // the first, BST, 01:30
  EXPECT_EQ(epoch_ms("20241027020000"), autumn_2024 + kHourMs);
  EXPECT_EQ(epoch_ms("20260329020000"), 1774746000000);
  EXPECT_EQ(epoch_ms("20261025020000"), 1792890000000 + kHourMs);
}

TEST(LondonOffset, SwitchesAtOneAmUtc) {
  for (int64_t spring : {int64_t{1711846800000}, int64_t{1774746000000}}) {
    EXPECT_EQ(london_offset_minutes_at_utc(spring - 1), 0);
    EXPECT_EQ(london_offset_minutes_at_utc(spring), 60);
  }
  for (int64_t autumn : {int64_t{1729990800000}, int64_t{1792890000000}}) {
    EXPECT_EQ(london_offset_minutes_at_utc(autumn - 1), 60);
    EXPECT_EQ(london_offset_minutes_at_utc(autumn), 0);
  }
  EXPECT_EQ(london_offset_minutes_at_utc(0), 0);
}

TEST(FhirInstant, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(fhir_instant_utc(1795332836123), "2026-11-22T07:33:56.123Z");
  EXPECT_EQ(fhir_instant_utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(fhir_instant_utc(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(fhir_instant_utc(1711846800000), "2024-03-31T01:00:00.000Z");
  EXPECT_EQ(fhir_instant_utc(951782400000), "2000-02-29T00:00:00.000Z");  // a leap day of a century
  EXPECT_EQ(fhir_instant_utc(-17987443200000), "1400-01-01T00:00:00.000Z");
}

// Checked against the C library's calendar over the years a record holds (1400 to 9999).
TEST(FhirInstant, AgreesWithGmtimeFrom1400To9999) {
  std::mt19937_64 random(20261123);
  std::uniform_int_distribution<int64_t> any(-17987443200000, cc::fhir::kLastFhirMs);
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = any(random);
    const std::time_t seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&seconds, &tm), nullptr);
    char expected[40];
    std::snprintf(expected, sizeof expected, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms - int64_t{seconds} * 1000));
    ASSERT_EQ(fhir_instant_utc(ms), expected) << ms;
  }
}

// The latest time HL7 can send (9999-12-31 23:59:59 at -14:00) falls in the year 10000 in UTC: it is
// written, not thrown (Boost's calendar stops at 9999), and kLastFhirMs tells a caller it is past
// what a FHIR instant holds.
TEST(FhirInstant, AnInstantPastTheYear9999IsWrittenNotThrown) {
  EXPECT_EQ(fhir_instant_utc(cc::fhir::kLastFhirMs), "9999-12-31T23:59:59.999Z");
  auto latest = cc::fhir::hl7_to_epoch_ms("99991231235959-1400");
  ASSERT_TRUE(latest.ok());
  EXPECT_GT(*latest, cc::fhir::kLastFhirMs);
  EXPECT_EQ(fhir_instant_utc(*latest), "10000-01-01T13:59:59.000Z");
  EXPECT_EQ(london_offset_minutes_at_utc(*latest), 0);
}

TEST(FhirInstant, NowIsRecent) {
  const int64_t now = cc::fhir::now_epoch_ms();
  EXPECT_GT(now, 1704067200000);  // after 2024-01-01
  EXPECT_EQ(fhir_instant_utc(now).size(), 24u);
}

}  // namespace
