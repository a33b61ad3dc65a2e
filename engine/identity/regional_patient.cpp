// See regional_patient.h.
#include "engine/identity/regional_patient.h"

#include <set>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/identity/matching.h"
#include "engine/identity/nhs_number.h"

namespace cc::identity {

namespace {
using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value str(const std::string& s, Alloc& a) {
  return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}
}  // namespace

std::string regional_patient_json(const std::string& person_id, const std::string& nhs_number,
                                  const std::vector<RegistrationView>& registrations) {
  rapidjson::Document out(rapidjson::kObjectType);
  Alloc& a = out.GetAllocator();
  out.AddMember("resourceType", "Patient", a);
  out.AddMember("id", str(person_id, a), a);
  std::string last_updated;
  rapidjson::Value identifiers(rapidjson::kArrayType);
  std::set<std::pair<std::string, std::string>> seen;
  {
    rapidjson::Value nhs(rapidjson::kObjectType);
    nhs.AddMember("system", rapidjson::Value(NhsNumber::kSystem.data(), a), a);
    nhs.AddMember("value", str(nhs_number, a), a);
    identifiers.PushBack(nhs, a);
    seen.emplace(std::string(NhsNumber::kSystem), nhs_number);
  }
  rapidjson::Value links(rapidjson::kArrayType);
  rapidjson::Document reference;  // the earliest joined registration's Patient
  Demographics reference_demographics;
  rapidjson::Value differences(rapidjson::kArrayType);
  for (const RegistrationView& r : registrations) {
    rapidjson::Value link(rapidjson::kObjectType);
    rapidjson::Value other(rapidjson::kObjectType);
    other.AddMember("reference", str("Patient/" + r.id, a), a);
    link.AddMember("other", other, a);
    link.AddMember("type", "seealso", a);
    links.PushBack(link, a);
    rapidjson::Document p;
    p.Parse(r.json.c_str());
    if (!p.IsObject()) continue;
    if (p.HasMember("meta") && p["meta"].IsObject() && p["meta"].HasMember("lastUpdated") &&
        p["meta"]["lastUpdated"].IsString()) {
      std::string lu = p["meta"]["lastUpdated"].GetString();
      if (lu > last_updated) last_updated = lu;  // all UTC instants in one format: text order is time order
    }
    if (p.HasMember("identifier") && p["identifier"].IsArray())
      for (auto& id : p["identifier"].GetArray()) {
        if (!id.IsObject() || !id.HasMember("system") || !id.HasMember("value") || !id["system"].IsString() ||
            !id["value"].IsString())
          continue;
        if (!seen.emplace(id["system"].GetString(), id["value"].GetString()).second) continue;
        identifiers.PushBack(rapidjson::Value(id, a), a);
      }
    if (!reference.IsObject()) {
      reference_demographics = demographics_of(p);
      reference.Swap(p);
      continue;
    }
    // Where this source's demographics differ from those shown, say so (the reader sees both).
    const Demographics d = demographics_of(p);
    std::vector<std::pair<const char*, std::string>> differ;
    auto compare = [&](const char* element, const std::string& shown, const std::string& theirs) {
      if (!theirs.empty() && theirs != shown) differ.emplace_back(element, theirs);
    };
    compare("family", reference_demographics.family, d.family);
    compare("given", reference_demographics.given, d.given);
    compare("birthDate", reference_demographics.birth_date, d.birth_date);
    compare("gender", reference_demographics.gender, d.gender);
    compare("postalCode", reference_demographics.postcode, d.postcode);
    if (differ.empty()) continue;
    rapidjson::Value ext(rapidjson::kObjectType);
    ext.AddMember("url", "urn:connecting-care:extension:source-demographics", a);
    rapidjson::Value parts(rapidjson::kArrayType);
    rapidjson::Value source(rapidjson::kObjectType);
    source.AddMember("url", "registration", a);
    rapidjson::Value ref(rapidjson::kObjectType);
    ref.AddMember("reference", str("Patient/" + r.id, a), a);
    source.AddMember("valueReference", ref, a);
    parts.PushBack(source, a);
    for (auto& [element, value] : differ) {
      rapidjson::Value part(rapidjson::kObjectType);
      part.AddMember("url", rapidjson::Value(element, a), a);
      part.AddMember("valueString", str(value, a), a);
      parts.PushBack(part, a);
    }
    ext.AddMember("extension", parts, a);
    differences.PushBack(ext, a);
  }
  // Elements in the specification's order.
  if (!last_updated.empty()) {
    rapidjson::Value meta(rapidjson::kObjectType);
    meta.AddMember("lastUpdated", str(last_updated, a), a);
    meta.AddMember("source", "urn:connecting-care:patient-index", a);
    out.AddMember("meta", meta, a);
  }
  if (!differences.Empty()) out.AddMember("extension", differences, a);
  out.AddMember("identifier", identifiers, a);
  out.AddMember("active", true, a);
  if (reference.IsObject())
    for (const char* member : {"name", "telecom", "gender", "birthDate", "deceasedBoolean", "deceasedDateTime",
                               "address"}) {
      auto it = reference.FindMember(member);
      if (it != reference.MemberEnd()) out.AddMember(rapidjson::Value(member, a), rapidjson::Value(it->value, a), a);
    }
  out.AddMember("link", links, a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  out.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace cc::identity
