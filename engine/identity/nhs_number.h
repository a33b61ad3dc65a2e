// NhsNumber: a 10-digit NHS number that has passed the Modulus 11 check.
// The only way to make one is parse(), so holding an NhsNumber means it is valid.
#pragma once
#include <string>
#include <string_view>

#include "engine/core/result.h"

namespace cc::identity {

class NhsNumber {
 public:
  static constexpr std::string_view kSystem = "https://fhir.nhs.uk/Id/nhs-number";

  // Accepts 10 digits, optionally grouped 3-3-4 with single spaces or hyphens
  // ("943 476 5919", "943-476-5919"). Error codes: "nhs-number-empty",
  // "nhs-number-length", "nhs-number-not-digits", "nhs-number-check-digit"
  // (the Modulus 11 remainder gives 10, or the check digit does not match).
  static Result<NhsNumber> parse(std::string_view text);

  // The check digit for the first nine digits, or -1 when the remainder makes it 10
  // (such a nine-digit stem is never issued) or the input is not exactly nine digits.
  static int check_digit(std::string_view nine_digits);

  const std::string& str() const { return digits_; }
  bool operator==(const NhsNumber&) const = default;

 private:
  explicit NhsNumber(std::string digits) : digits_(std::move(digits)) {}
  std::string digits_;
};

}  // namespace cc::identity
