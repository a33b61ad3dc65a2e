// Reading a body from outside as JSON without trusting it: a size limit, UTF-8 checked, a nesting
// limit enforced while parsing (iteratively, so a hostile body cannot exhaust the stack). Every
// request body the engine parses goes through this: a GP feed's push, and the API's requests.
#pragma once
#include <cstddef>
#include <string_view>

#include <rapidjson/document.h>

#include "engine/core/result.h"

namespace cc {

struct JsonLimits {
  size_t max_bytes = 64u << 20;  // the body, before parsing
  int max_depth = 64;            // objects and arrays nested inside each other
};

// What becomes of a decimal written with trailing zeros (1.50): a document holds numbers as doubles,
// and 1.5 is what a double writes back.
enum class DecimalPrecision {
  kAsDouble,  // 1.5
  // FHIR resources: the member is 1.5 and its sibling "_member" carries FHIR's quantity-precision
  // extension with the places as sent (2), as FHIR decimals keep their precision. Not added where
  // the object already has "_member", nor for a number in an array.
  kFhirExtension,
};

// The extension kFhirExtension adds.
inline constexpr const char* kQuantityPrecisionUrl = "http://hl7.org/fhir/StructureDefinition/quantity-precision";

// The places after the point a decimal is written with, when a double written back would not show
// them all (a double is written in its shortest form: 1.50 becomes 1.5, 5.0 stays 5.0); else 0.
// Only a plain decimal's text (no exponent) has places to keep.
int decimal_places_lost(std::string_view number);

// Parses `body` (a leading UTF-8 byte-order mark is skipped) into `doc`. Error codes:
// "too-large" (more than max_bytes), "too-deep" (nesting beyond max_depth), "not-json" (not
// well-formed JSON, or not UTF-8, or a number beyond a double), each with a sentence naming the
// limit or the byte offset (the caller adds what the sender should do).
Status parse_json(std::string_view body, const JsonLimits& limits, rapidjson::Document& doc,
                  DecimalPrecision decimals = DecimalPrecision::kAsDouble);

}  // namespace cc
