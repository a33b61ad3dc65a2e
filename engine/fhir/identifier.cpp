#include "engine/fhir/identifier.h"

namespace cc::fhir {

std::vector<std::pair<std::string, std::string>> indexed_identifiers(const rapidjson::Value& resource) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!resource.IsObject()) return out;
  auto it = resource.FindMember("identifier");
  if (it == resource.MemberEnd() || !it->value.IsArray()) return out;
  for (const auto& id : it->value.GetArray()) {
    if (!id.IsObject()) continue;
    auto s = id.FindMember("system");
    auto v = id.FindMember("value");
    if (v == id.MemberEnd() || !v->value.IsString() || v->value.GetStringLength() == 0) continue;
    out.emplace_back(s != id.MemberEnd() && s->value.IsString() ? s->value.GetString() : "", v->value.GetString());
  }
  return out;
}

}  // namespace cc::fhir
