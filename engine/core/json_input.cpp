// JSON parsing with size and depth limits: RapidJSON's iterative reader feeding the document
// through a handler that counts nesting and stops at the limit.
#include "engine/core/json_input.h"

#include <string>

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

}  // namespace

Status parse_json(std::string_view body, const JsonLimits& limits, rapidjson::Document& doc) {
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
  auto generator = [&](rapidjson::Document& target) {
    DepthLimitedHandler handler{target, limits.max_depth};
    parsed = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
        stream, handler);
    too_deep = handler.too_deep;
    return !parsed.IsError();
  };
  doc.SetNull();
  doc.Populate(generator);
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
