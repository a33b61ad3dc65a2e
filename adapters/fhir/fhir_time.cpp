// FHIR date/dateTime/instant to epoch milliseconds, with Europe/London midnight for dates.
#include "adapters/fhir/fhir_time.h"

#include "engine/fhir/datetime.h"

namespace cc::fhir_ingest {

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}


}  // namespace

bool is_calendar_day(std::string_view s) {
  int y, m, d;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return true;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return true;
  if (m < 1 || m > 12 || d < 1) return true;  // the pattern reports these
  return d <= days_in_month(y, m);
}

std::optional<int64_t> fhir_time_to_epoch_ms(std::string_view s) {
  int y = 0, m = 1, d = 1;
  if (!digits(s, 0, 4, y)) return std::nullopt;
  size_t pos = 4;
  if (pos < s.size()) {
    if (s[pos] != '-' || !digits(s, pos + 1, 2, m) || m < 1 || m > 12) return std::nullopt;
    pos += 3;
  }
  if (pos < s.size()) {
    if (s[pos] != '-' || !digits(s, pos + 1, 2, d) || d < 1 || d > days_in_month(y, m))
      return std::nullopt;
    pos += 3;
  }
  const int64_t day_ms = fhir::days_from_civil(y, m, d) * 86400000LL;
  if (pos == s.size()) {
    // Midnight Europe/London: the offset in force just before midnight UTC of that day.
    const int offset = fhir::london_offset_minutes_at_utc(day_ms - 3600000LL);
    return day_ms - offset * 60000LL;
  }
  int hh, mi, ss;
  if (s[pos] != 'T' || !digits(s, pos + 1, 2, hh) || s.size() < pos + 9 || s[pos + 3] != ':' ||
      !digits(s, pos + 4, 2, mi) || s[pos + 6] != ':' || !digits(s, pos + 7, 2, ss) || hh > 23 ||
      mi > 59 || ss > 60)
    return std::nullopt;
  pos += 9;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_min = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || s.size() < pos + 6 || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om))
      return std::nullopt;
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;  // FHIR requires an offset once a time is given
  }
  if (pos != s.size()) return std::nullopt;
  return day_ms + ((hh * 60 + mi) * 60 + ss) * 1000LL + ms - offset_min * 60000LL;
}

}  // namespace cc::fhir_ingest
