// Reading members of a JSON object (RapidJSON) without asserting on a value of another shape.
#pragma once
#include <string>

#include <rapidjson/document.h>

namespace cc {

// The member `name` of `v`; nullptr when `v` is not an object or has no such member.
inline const rapidjson::Value* member_of(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}

// The string member `name` of `v`; "" when `v` is not an object, or the member is absent or not a
// string.
inline std::string string_member(const rapidjson::Value& v, const char* name) {
  const rapidjson::Value* m = member_of(v, name);
  return m && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : std::string();
}

}  // namespace cc
