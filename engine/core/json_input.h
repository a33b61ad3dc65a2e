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

// Parses `body` (a leading UTF-8 byte-order mark is skipped) into `doc`. Error codes:
// "too-large" (more than max_bytes), "too-deep" (nesting beyond max_depth), "not-json" (not
// well-formed JSON, or not UTF-8), each with a sentence naming the limit or the byte offset (the
// caller adds what the sender should do).
Status parse_json(std::string_view body, const JsonLimits& limits, rapidjson::Document& doc);

}  // namespace cc
