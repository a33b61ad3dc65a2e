// JSON parsing with size and depth limits: RapidJSON's iterative reader feeding the document
// through a handler that counts nesting and stops at the limit.
#include "engine/core/json_input.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace cc {

namespace {

// Forwards SAX events to the document, refusing to open a level beyond the limit.
struct DepthLimitedHandler {
  rapidjson::Document& doc;
  int max_depth;
  int depth = 0;
  bool too_deep = false;

  bool open() {
    if (++depth > max_depth) {
      too_deep = true;
      return false;
    }
    return true;
  }
  bool Null() { return doc.Null(); }
  bool Bool(bool b) { return doc.Bool(b); }
  bool Int(int i) { return doc.Int(i); }
  bool Uint(unsigned u) { return doc.Uint(u); }
  bool Int64(int64_t i) { return doc.Int64(i); }
  bool Uint64(uint64_t u) { return doc.Uint64(u); }
  bool Double(double d) { return doc.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return doc.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc.Key(s, n, copy); }
  bool StartObject() { return open() && doc.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { --depth; return doc.EndObject(n); }
  bool StartArray() { return open() && doc.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { --depth; return doc.EndArray(n); }
};

// The same, reading numbers as their text (kParseNumbersAsStringsFlag) so that a decimal written
// with trailing zeros gets FHIR's quantity-precision extension beside it (DecimalPrecision).
struct PrecisionKeepingHandler : DepthLimitedHandler {
  struct Level {
    bool object = false;
    std::string key;                                 // the member being read
    std::vector<std::pair<std::string, int>> places;  // members written with trailing zeros
    std::vector<std::string> underscored;            // "_member" names the object already has
  };
  std::vector<Level> levels;
  bool number_too_big = false;

  bool StartObject() {
    if (!open()) return false;
    levels.push_back(Level{true, {}, {}, {}});
    return doc.StartObject();
  }
  bool StartArray() {
    if (!open()) return false;
    levels.push_back(Level{});
    return doc.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    levels.pop_back();
    --depth;
    return doc.EndArray(n);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    Level& level = levels.back();
    level.key.assign(s, n);
    if (n > 1 && s[0] == '_') level.underscored.emplace_back(s + 1, n - 1);
    return doc.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    Level& level = levels.back();
    for (const auto& [key, places] : level.places) {
      if (std::find(level.underscored.begin(), level.underscored.end(), key) != level.underscored.end()) continue;
      const std::string sibling = "_" + key;
      const bool ok = doc.Key(sibling.c_str(), static_cast<rapidjson::SizeType>(sibling.size()), true) &&
                      doc.StartObject() && doc.Key("extension", 9, false) && doc.StartArray() && doc.StartObject() &&
                      doc.Key("url", 3, false) &&
                      doc.String(kQuantityPrecisionUrl, static_cast<rapidjson::SizeType>(std::strlen(kQuantityPrecisionUrl)), false) &&
                      doc.Key("valueInteger", 12, false) && doc.Int(places) && doc.EndObject(2) && doc.EndArray(1) &&
                      doc.EndObject(1);
      if (!ok) return false;
      ++n;
    }
    levels.pop_back();
    --depth;
    return doc.EndObject(n);
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view text(s, n);
    if (text.find_first_of(".eE") == std::string_view::npos) {
      int64_t i = 0;
      if (auto [end, error] = std::from_chars(s, s + n, i); error == std::errc() && end == s + n) return doc.Int64(i);
      uint64_t u = 0;
      if (auto [end, error] = std::from_chars(s, s + n, u); error == std::errc() && end == s + n) return doc.Uint64(u);
    }
    const double d = std::strtod(std::string(text).c_str(), nullptr);
    if (!std::isfinite(d)) {
      number_too_big = true;
      return false;
    }
    if (const int places = decimal_places_lost(text); places > 0 && !levels.empty() && levels.back().object)
      levels.back().places.emplace_back(levels.back().key, places);
    return doc.Double(d);
  }
};

}  // namespace

int decimal_places_lost(std::string_view number) {
  const size_t point = number.find('.');
  if (point == std::string_view::npos || number.find_first_of("eE") != std::string_view::npos) return 0;
  const size_t places = number.size() - point - 1;
  return places >= 2 && number.back() == '0' ? static_cast<int>(places) : 0;
}

Status parse_json(std::string_view body, const JsonLimits& limits, rapidjson::Document& doc,
                  DecimalPrecision decimals) {
  if (body.size() > limits.max_bytes)
    return make_error("too-large", "The body is " + std::to_string(body.size()) +
                                       " bytes, over the limit of " +
                                       std::to_string(limits.max_bytes) + " bytes.");
  size_t skipped = 0;
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") {
    body.remove_prefix(3);
    skipped = 3;
  }
  rapidjson::MemoryStream stream(body.data(), body.size());
  rapidjson::Reader reader;
  bool too_deep = false;
  rapidjson::ParseResult parsed;
  bool number_too_big = false;
  auto generator = [&](rapidjson::Document& target) {
    if (decimals == DecimalPrecision::kFhirExtension) {
      PrecisionKeepingHandler handler{{target, limits.max_depth}, {}, false};
      parsed = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                            rapidjson::kParseNumbersAsStringsFlag>(stream, handler);
      too_deep = handler.too_deep;
      number_too_big = handler.number_too_big;
    } else {
      DepthLimitedHandler handler{target, limits.max_depth};
      parsed = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream, handler);
      too_deep = handler.too_deep;
    }
    return !parsed.IsError();
  };
  doc.SetNull();
  doc.Populate(generator);
  if (number_too_big)
    return make_error("not-json", "The body holds a number too large for the record (at byte " +
                                      std::to_string(parsed.Offset() + skipped) + ").");
  if (too_deep)
    return make_error("too-deep", "The JSON nests objects and arrays more than " +
                                      std::to_string(limits.max_depth) +
                                      " levels deep (at byte " +
                                      std::to_string(parsed.Offset() + skipped) + ").");
  if (parsed.IsError())
    return make_error("not-json", std::string("The body is not well-formed JSON: ") +
                                      rapidjson::GetParseError_En(parsed.Code()) + " (at byte " +
                                      std::to_string(parsed.Offset() + skipped) + ").");
  return {};
}

}  // namespace cc
