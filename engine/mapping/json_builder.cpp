// Building FHIR JSON with RapidJSON so that no empty value ever reaches the output.
// See json_builder.h.
#include "engine/mapping/json_builder.h"

namespace cc::mapping {

using rapidjson::Value;

Value JsonBuilder::string(std::string_view text) const {
  return Value(text.data(), static_cast<rapidjson::SizeType>(text.size()), alloc_);
}

bool JsonBuilder::is_empty(const Value& value) {
  if (value.IsNull()) return true;
  if (value.IsString()) return value.GetStringLength() == 0;
  if (value.IsObject()) return value.MemberCount() == 0;
  if (value.IsArray()) return value.Empty();
  return false;
}

void JsonBuilder::put(Value& obj, std::string_view key, std::string_view text) const {
  if (text.empty()) return;
  obj.AddMember(string(key), string(text), alloc_);
}

void JsonBuilder::put(Value& obj, std::string_view key, Value&& value) const {
  if (is_empty(value)) return;
  obj.AddMember(string(key), value, alloc_);
}

void JsonBuilder::put_bool(Value& obj, std::string_view key, bool value) const {
  obj.AddMember(string(key), Value(value), alloc_);
}

void JsonBuilder::append(Value& arr, std::string_view text) const {
  if (text.empty()) return;
  arr.PushBack(string(text), alloc_);
}

void JsonBuilder::append(Value& arr, Value&& value) const {
  if (is_empty(value)) return;
  arr.PushBack(value, alloc_);
}

Value JsonBuilder::coding(std::string_view system, std::string_view code,
                          std::string_view display) const {
  Value c = object();
  put(c, "system", system);
  put(c, "code", code);
  put(c, "display", display);
  return c;
}

Value JsonBuilder::codeable_concept(std::string_view system, std::string_view code,
                                    std::string_view display) const {
  Value codings = array();
  append(codings, coding(system, code, display));
  Value cc = object();
  put(cc, "coding", std::move(codings));
  return cc;
}

Value JsonBuilder::identifier(std::string_view system, std::string_view value) const {
  if (value.empty()) return Value();
  Value id = object();
  put(id, "system", system);
  put(id, "value", value);
  return id;
}

}  // namespace cc::mapping
