// Building FHIR JSON with RapidJSON so that no empty value ever reaches the output:
// FHIR forbids empty strings, arrays and objects, so every put/append here drops them.
#pragma once
#include <string_view>

#include <rapidjson/document.h>

namespace cc::mapping {

class JsonBuilder {
 public:
  explicit JsonBuilder(rapidjson::Document::AllocatorType& alloc) : alloc_(alloc) {}

  rapidjson::Value object() const { return rapidjson::Value(rapidjson::kObjectType); }
  rapidjson::Value array() const { return rapidjson::Value(rapidjson::kArrayType); }
  rapidjson::Value string(std::string_view text) const;

  // Each skips an empty string, a null, an empty object or an empty array.
  void put(rapidjson::Value& obj, std::string_view key, std::string_view text) const;
  void put(rapidjson::Value& obj, std::string_view key, rapidjson::Value&& value) const;
  void put_bool(rapidjson::Value& obj, std::string_view key, bool value) const;
  void append(rapidjson::Value& arr, std::string_view text) const;
  void append(rapidjson::Value& arr, rapidjson::Value&& value) const;

  // {"system", "code", "display"} (display skipped when empty).
  rapidjson::Value coding(std::string_view system, std::string_view code,
                          std::string_view display) const;
  // {"coding": [coding(...)]}
  rapidjson::Value codeable_concept(std::string_view system, std::string_view code,
                                    std::string_view display) const;
  // {"system", "value"}; null when value is empty.
  rapidjson::Value identifier(std::string_view system, std::string_view value) const;

  static bool is_empty(const rapidjson::Value& value);

 private:
  rapidjson::Document::AllocatorType& alloc_;
};

}  // namespace cc::mapping
