// HL7 v2 date/times (DTM/TS) to FHIR date / dateTime / instant, with the
// England rule that a time without an offset is local time in Europe/London.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/core/result.h"

namespace cc::fhir {

// "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]" (a trailing degree-of-precision
// component, as in 2.3 TS "^...", must already be stripped by the caller).
// Returns a FHIR value of the same precision: "2024", "2024-03", "2024-03-31",
// or a dateTime with seconds and an offset "2024-03-31T14:05:00+01:00" when a time is
// present (hours-only and minutes-only times are completed with zeros, since FHIR
// needs seconds once a time is given). A time without an offset is read as
// Europe/London: +00:00 in GMT, +01:00 in BST. A time in the hour that does not exist
// (clocks go forward at 01:00 GMT) is read as GMT (+00:00); a time in the hour that
// happens twice (clocks go back at 02:00 BST) is read as the first, BST, one (+01:00).
// Error code "hl7-datetime" with a sentence naming the bad value.
Result<std::string> hl7_to_fhir_datetime(std::string_view hl7);

// The same instant as milliseconds since the Unix epoch (UTC), for ordering events.
// Date-only values are midnight Europe/London of that day (or midnight at the offset
// given, when the value carries one).
Result<int64_t> hl7_to_epoch_ms(std::string_view hl7);

// A FHIR date or dateTime (2024-03-16, 2024-03-16T09:00:00Z, ...+01:00) — or an HL7 one — as
// epoch ms; a time without an offset is Europe/London.
Result<int64_t> fhir_to_epoch_ms(std::string_view value);

// Europe/London offset from UTC, in minutes (0 or 60), at the given UTC instant.
int london_offset_minutes_at_utc(int64_t epoch_ms);
// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

// A FHIR instant in UTC with milliseconds: "2026-11-22T07:33:56.123Z". Any instant is written (one
// past 9999 with more than four digits of year, which is not a FHIR instant: see kLastFhirMs).
std::string fhir_instant_utc(int64_t epoch_ms);
// 9999-12-31T23:59:59.999Z, the last instant a FHIR date, dateTime or instant can hold (four-digit
// years). An HL7 time of 9999-12-31 with a negative offset falls after it.
constexpr int64_t kLastFhirMs = 253402300799999;
int64_t now_epoch_ms();

}  // namespace cc::fhir
