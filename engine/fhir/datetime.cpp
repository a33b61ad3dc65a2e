// HL7 v2 DTM/TS parsing and conversion to FHIR date/dateTime/instant, reading times
// without an offset as Europe/London local time: GMT, and BST from 01:00 UTC on the last Sunday in
// March to 01:00 UTC on the last Sunday in October (the rule since 1996, applied to every year, as
// the POSIX zone "GMT0BST,M3.5.0/1,M10.5.0/2" does), in integer arithmetic: it runs for every date
// in every message.
#include "engine/fhir/datetime.h"

#include <boost/date_time/gregorian/gregorian_types.hpp>
#include <chrono>

namespace cc::fhir {
namespace {

namespace bg = boost::gregorian;

constexpr std::string_view kHl7Layout = "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]";

// An HL7 DTM split into its parts; fields beyond `date_digits` keep their defaults.
struct Hl7DateTime {
  size_t date_digits = 0;  // 4, 6, 8, 10, 12 or 14
  int year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0;
  std::string fraction;  // digits after the decimal point, as sent
  bool has_offset = false;
  int offset_minutes = 0;   // east of UTC
  std::string offset_text;  // "+01:00"

  bool has_time() const { return date_digits >= 10; }
};

Error bad_value(std::string_view hl7, const std::string& problem) {
  return make_error("hl7-datetime", "HL7 date/time '" + std::string(hl7) + "' " + problem +
                                        "; correct it in the sending system (expected " +
                                        std::string(kHl7Layout) + ", e.g. 20240331140500+0100).");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int number_at(std::string_view text, size_t pos, size_t len) {
  int n = 0;
  for (size_t i = pos; i < pos + len; ++i) n = n * 10 + (text[i] - '0');
  return n;
}

size_t digit_run(std::string_view text, size_t pos) {
  size_t end = pos;
  while (end < text.size() && is_digit(text[end])) ++end;
  return end - pos;
}

Result<Hl7DateTime> parse_hl7(std::string_view hl7) {
  if (hl7.empty()) return bad_value(hl7, "is empty");
  Hl7DateTime v;
  v.date_digits = digit_run(hl7, 0);
  size_t pos = v.date_digits;
  switch (v.date_digits) {
    case 14: v.second = number_at(hl7, 12, 2); [[fallthrough]];
    case 12: v.minute = number_at(hl7, 10, 2); [[fallthrough]];
    case 10: v.hour = number_at(hl7, 8, 2); [[fallthrough]];
    case 8: v.day = number_at(hl7, 6, 2); [[fallthrough]];
    case 6: v.month = number_at(hl7, 4, 2); [[fallthrough]];
    case 4: v.year = number_at(hl7, 0, 4); break;
    default:
      if (v.date_digits == 0) return bad_value(hl7, "does not start with a four-digit year");
      return bad_value(hl7, "has " + std::to_string(v.date_digits) +
                                " digits before any fraction or offset; expected 4, 6, 8, 10, "
                                "12 or 14");
  }

  if (pos < hl7.size() && hl7[pos] == '.') {
    if (v.date_digits != 14)
      return bad_value(hl7, "has a fraction of a second without whole seconds");
    const size_t fraction_digits = digit_run(hl7, pos + 1);
    if (fraction_digits < 1 || fraction_digits > 4)
      return bad_value(hl7, "needs one to four digits after the decimal point");
    v.fraction.assign(hl7.substr(pos + 1, fraction_digits));
    pos += 1 + fraction_digits;
  }

  if (pos < hl7.size() && (hl7[pos] == '+' || hl7[pos] == '-')) {
    if (hl7.size() - pos != 5 || digit_run(hl7, pos + 1) != 4)
      return bad_value(hl7, "has an offset that is not a sign and four digits (+HHMM or -HHMM)");
    const int hours = number_at(hl7, pos + 1, 2);
    const int minutes = number_at(hl7, pos + 3, 2);
    if (minutes > 59 || hours * 60 + minutes > 14 * 60)
      return bad_value(hl7, "has an offset outside -1400 to +1400");
    v.has_offset = true;
    v.offset_minutes = (hl7[pos] == '-' ? -1 : 1) * (hours * 60 + minutes);
    v.offset_text = std::string(1, hl7[pos]) + std::string(hl7.substr(pos + 1, 2)) + ":" +
                    std::string(hl7.substr(pos + 3, 2));
    pos += 5;
  }

  if (pos < hl7.size())
    return bad_value(hl7, "has an unexpected '" + std::string(1, hl7[pos]) + "' at position " +
                              std::to_string(pos + 1));

  if (v.year < 1400)  // the earliest year Boost.DateTime's Gregorian calendar holds
    return bad_value(hl7, "has year " + std::to_string(v.year) +
                              "; years before 1400 are not accepted");
  if (v.month < 1 || v.month > 12)
    return bad_value(hl7, "has month " + std::to_string(v.month) + "; months run 01 to 12");
  const int month_days = bg::gregorian_calendar::end_of_month_day(v.year, v.month);
  if (v.day < 1 || v.day > month_days)
    return bad_value(hl7, "has day " + std::to_string(v.day) + "; that month has days 01 to " +
                              std::to_string(month_days));
  if (v.hour > 23)
    return bad_value(hl7, "has hour " + std::to_string(v.hour) + "; hours run 00 to 23");
  if (v.minute > 59)
    return bad_value(hl7, "has minute " + std::to_string(v.minute) + "; minutes run 00 to 59");
  if (v.second > 59)
    return bad_value(hl7, "has second " + std::to_string(v.second) + "; seconds run 00 to 59");
  return v;
}


// The day (days since 1970-01-01) of the last Sunday of a 31-day month.
int64_t last_sunday(int64_t year, unsigned month) {
  const int64_t last = days_from_civil(year, month, 31);
  const int64_t weekday = ((last + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday (4); 0 is Sunday
  return last - weekday;
}

// Seconds since the epoch, as if the clock time were UTC.
int64_t clock_seconds(const Hl7DateTime& v) {
  return days_from_civil(v.year, static_cast<unsigned>(v.month), static_cast<unsigned>(v.day)) * 86400 +
         v.hour * 3600 + v.minute * 60 + v.second;
}

// Europe/London on a local clock reading (seconds, as if UTC): BST from 02:00 on the last Sunday in
// March (01:00-02:00 that day does not exist and is read as GMT) until 02:00 on the last Sunday in
// October (the repeated 01:00-02:00 is read as the first, BST, one).
int london_offset_for_clock(int64_t year, int64_t local_seconds) {
  const int64_t start = last_sunday(year, 3) * 86400 + 2 * 3600;
  const int64_t end = last_sunday(year, 10) * 86400 + 2 * 3600;
  return local_seconds >= start && local_seconds < end ? 60 : 0;
}

// Offset east of UTC, in minutes, for a value: as sent, or Europe/London when none was.
int offset_minutes(const Hl7DateTime& v) {
  if (v.has_offset) return v.offset_minutes;
  return london_offset_for_clock(v.year, clock_seconds(v));
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Result<std::string> hl7_to_fhir_datetime(std::string_view hl7) {
  auto parsed = parse_hl7(hl7);
  if (!parsed) return parsed.error();
  const Hl7DateTime& v = *parsed;
  // Written digit by digit: every date in every message passes through here.
  std::string out;
  out.reserve(32);
  auto digits = [&out](int value, int width) {
    char buf[8];
    for (int i = width - 1; i >= 0; --i, value /= 10) buf[i] = static_cast<char>('0' + value % 10);
    out.append(buf, static_cast<size_t>(width));
  };
  digits(v.year, 4);
  if (v.date_digits >= 6) {
    out += '-';
    digits(v.month, 2);
  }
  if (v.date_digits >= 8) {
    out += '-';
    digits(v.day, 2);
  }
  if (!v.has_time()) return out;
  out += 'T';
  digits(v.hour, 2);
  out += ':';
  digits(v.minute, 2);
  out += ':';
  digits(v.second, 2);
  if (!v.fraction.empty()) out += "." + v.fraction;
  if (v.has_offset) out += v.offset_text;
  else out += offset_minutes(v) == 60 ? "+01:00" : "+00:00";
  return out;
}

Result<int64_t> hl7_to_epoch_ms(std::string_view hl7) {
  auto parsed = parse_hl7(hl7);
  if (!parsed) return parsed.error();
  const Hl7DateTime& v = *parsed;
  int64_t micros = 0;
  for (size_t i = 0; i < 6; ++i) micros = micros * 10 + (i < v.fraction.size() ? v.fraction[i] - '0' : 0);
  const int64_t utc_seconds = clock_seconds(v) - int64_t{offset_minutes(v)} * 60;
  return floor_div(utc_seconds * 1000000 + micros, 1000);
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {
struct CivilDate {
  int64_t year;
  unsigned month, day;
};

// The proleptic Gregorian date of a day since 1970-01-01 (H. Hinnant's civil_from_days): any day,
// in integer arithmetic, nothing thrown.
CivilDate civil_from_days(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const auto day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const auto month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}
}  // namespace

int london_offset_minutes_at_utc(int64_t epoch_ms) {
  // BST from 01:00 UTC on the last Sunday in March to 01:00 UTC on the last Sunday in October.
  const int64_t seconds = floor_div(epoch_ms, 1000);
  const int64_t year = civil_from_days(floor_div(seconds, 86400)).year;
  const int64_t start = last_sunday(year, 3) * 86400 + 3600;
  const int64_t end = last_sunday(year, 10) * 86400 + 3600;
  return seconds >= start && seconds < end ? 60 : 0;
}

std::string fhir_instant_utc(int64_t epoch_ms) {
  const int64_t seconds = floor_div(epoch_ms, 1000);
  const int64_t days = floor_div(seconds, 86400);
  const int64_t of_day = seconds - days * 86400;
  const CivilDate d = civil_from_days(days);
  // Written digit by digit, as hl7_to_fhir_datetime is: every result's issued time passes here.
  std::string out;
  out.reserve(24);
  auto digits = [&out](int64_t value, int width) {
    char buf[24];
    int n = 0;
    do {
      buf[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value > 0 || n < width);
    while (n > 0) out += buf[--n];
  };
  if (d.year < 0) out += '-';
  digits(d.year < 0 ? -d.year : d.year, 4);
  out += '-';
  digits(d.month, 2);
  out += '-';
  digits(d.day, 2);
  out += 'T';
  digits(of_day / 3600, 2);
  out += ':';
  digits(of_day / 60 % 60, 2);
  out += ':';
  digits(of_day % 60, 2);
  out += '.';
  digits(epoch_ms - seconds * 1000, 3);
  out += 'Z';
  return out;
}

int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<int64_t> fhir_to_epoch_ms(std::string_view v) {
  std::string hl7;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == 'Z') hl7 += "+0000";
    else if (c == '-' && i < 10) continue;
    else if (c == ':' || c == 'T') continue;
    else hl7 += c;
  }
  return hl7_to_epoch_ms(hl7);
}

}  // namespace cc::fhir
