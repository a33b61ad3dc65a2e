// FHIR date, dateTime and instant values read as instants, for event times (version ordering)
// and for the calendar check the R4 schema's patterns leave out ("2023-02-30" matches them).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace cc::fhir_ingest {

// Milliseconds since the Unix epoch for a FHIR date ("2024", "2024-03", "2024-03-31"), dateTime or
// instant ("2024-03-31T14:05:00.123+01:00"). A partial or date-only value is the start of that
// period at midnight Europe/London; a time always carries its own offset (FHIR requires one).
// nullopt when the text is not one of these shapes or names a day the calendar does not have.
std::optional<int64_t> fhir_time_to_epoch_ms(std::string_view text);

// false when text starts "YYYY-MM-DD" and that day does not exist (Feb 30, Apr 31, Feb 29 in a
// common year); true otherwise (other problems are the pattern's business).
bool is_calendar_day(std::string_view text);

}  // namespace cc::fhir_ingest
