// NHS number parsing: accepts the layouts PAS systems send (plain or 3-3-4 grouped)
// and the Modulus 11 check, with errors that tell an analyst what to fix.
#include "engine/identity/nhs_number.h"

#include <algorithm>

namespace cc::identity {
namespace {

constexpr std::string_view kLayoutHint =
    "write it as 10 digits, optionally grouped 3-3-4 with single spaces or hyphens "
    "(e.g. 943 476 5919)";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// The value with its separators removed, when it is one of the accepted layouts.
bool strip_layout(std::string_view text, std::string& digits) {
  if (text.size() == 10 && std::all_of(text.begin(), text.end(), is_digit)) {
    digits.assign(text);
    return true;
  }
  if (text.size() != 12 || text[3] != text[7] || (text[3] != ' ' && text[3] != '-')) return false;
  digits.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 3 || i == 7) continue;
    if (!is_digit(text[i])) return false;
    digits.push_back(text[i]);
  }
  return true;
}

}  // namespace

int NhsNumber::check_digit(std::string_view nine_digits) {
  if (nine_digits.size() != 9 || !std::all_of(nine_digits.begin(), nine_digits.end(), is_digit))
    return -1;
  int sum = 0;
  for (int i = 0; i < 9; ++i) sum += (nine_digits[i] - '0') * (10 - i);
  const int check = 11 - sum % 11;
  if (check == 11) return 0;
  return check == 10 ? -1 : check;
}

Result<NhsNumber> NhsNumber::parse(std::string_view text) {
  if (text.find_first_not_of(" \t") == std::string_view::npos)
    return make_error("nhs-number-empty",
                      "The NHS number is empty; send the patient's 10-digit NHS number, or "
                      "leave the identifier out when it is not known.");

  std::string digits;
  if (!strip_layout(text, digits)) {
    const auto bad = std::find_if(text.begin(), text.end(),
                                  [](char c) { return !is_digit(c) && c != ' ' && c != '-'; });
    if (bad != text.end())
      return make_error("nhs-number-not-digits",
                        "NHS number " + quoted(text) + " contains '" + std::string(1, *bad) +
                            "', which is not a digit; " + std::string(kLayoutHint) + ".");
    const auto count = std::count_if(text.begin(), text.end(), is_digit);
    if (count != 10)
      return make_error("nhs-number-length",
                        "NHS number " + quoted(text) + " has " + std::to_string(count) +
                            " digits but an NHS number has exactly 10; check for a missing "
                            "or extra digit.");
    return make_error("nhs-number-not-digits",
                      "NHS number " + quoted(text) + " has its spaces or hyphens in the wrong "
                          "place; " + std::string(kLayoutHint) + ".");
  }

  const int expected = check_digit(std::string_view(digits).substr(0, 9));
  if (expected < 0)
    return make_error("nhs-number-check-digit",
                      "NHS number " + quoted(text) + " cannot be valid: its first nine digits "
                          "give a Modulus 11 check digit of 10, so no such number is issued; "
                          "check the number against the patient's record (PDS).");
  if (digits[9] - '0' != expected)
    return make_error("nhs-number-check-digit",
                      "NHS number " + quoted(text) + " fails the Modulus 11 check: it ends in " +
                          std::string(1, digits[9]) + " but its first nine digits need " +
                          std::to_string(expected) + "; look for a mistyped or transposed digit "
                          "and check the number against the patient's record (PDS).");
  return NhsNumber(std::move(digits));
}

}  // namespace cc::identity
