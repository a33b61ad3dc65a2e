#include "engine/store/version_text.h"

#include <algorithm>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/core/sha256.h"
#include "engine/fhir/datetime.h"

namespace cc::store {

namespace {

using Alloc = rapidjson::Document::AllocatorType;

constexpr std::string_view kVersionPlaceholder = "@@cc-version@@";
constexpr std::string_view kTimePlaceholder = "@@cc-last-updated@@";

std::string to_json(const rapidjson::Document& d) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

void set_member(rapidjson::Value& obj, const char* name, rapidjson::Value v, Alloc& a) {
  auto it = obj.FindMember(name);
  if (it != obj.MemberEnd())
    it->value = std::move(v);
  else
    obj.AddMember(rapidjson::Value(name, a), std::move(v), a);
}

rapidjson::Value str(std::string_view s, Alloc& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

rapidjson::Value sub_extension(const char* url, const char* value_kind, rapidjson::Value v, Alloc& a) {
  rapidjson::Value e(rapidjson::kObjectType);
  e.AddMember("url", rapidjson::Value(url, a), a);
  e.AddMember(rapidjson::Value(value_kind, a), std::move(v), a);
  return e;
}

// meta.versionId, meta.lastUpdated, meta.source and the provenance extension on meta.
void stamp_meta(rapidjson::Document& d, std::string_view version, std::string_view last_updated, const Provenance& p,
                const std::string& part, int64_t part_number) {
  auto& a = d.GetAllocator();
  if (!d.HasMember("meta")) d.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), a);
  auto& meta = d["meta"];
  set_member(meta, "versionId", str(version, a), a);
  set_member(meta, "lastUpdated", str(last_updated, a), a);
  set_member(meta, "source", str("urn:connecting-care:feed:" + p.feed + "#" + p.control_id, a), a);
  rapidjson::Value prov(rapidjson::kObjectType);
  prov.AddMember("url", "urn:connecting-care:extension:provenance", a);
  rapidjson::Value parts(rapidjson::kArrayType);
  parts.PushBack(sub_extension("feed", "valueString", str(p.feed, a), a), a);
  if (!p.sending_facility.empty())
    parts.PushBack(sub_extension("sendingFacility", "valueString", str(p.sending_facility, a), a), a);
  if (!p.control_id.empty())
    parts.PushBack(sub_extension("messageControlId", "valueString", str(p.control_id, a), a), a);
  parts.PushBack(sub_extension("received", "valueInstant", str(fhir::fhir_instant_utc(p.received_ms), a), a), a);
  if (!part.empty()) parts.PushBack(sub_extension(part.c_str(), "valueInteger", rapidjson::Value(part_number), a), a);
  prov.AddMember("extension", parts, a);
  rapidjson::Value exts(rapidjson::kArrayType);
  exts.PushBack(prov, a);
  set_member(meta, "extension", std::move(exts), a);
}

// Where meta's `key` with the value `placeholder` is: the offset of the placeholder, or npos unless
// the member occurs exactly once. The search is for "key":"placeholder" with its quotes: a string
// inside the resource cannot hold that (its quotes would be escaped), so a feed's text can never be
// mistaken for it.
size_t placeholder_at(const std::string& json, std::string_view key, std::string_view placeholder) {
  const std::string member = "\"" + std::string(key) + "\":\"" + std::string(placeholder) + "\"";
  const size_t at = json.find(member);
  if (at == std::string::npos || json.find(member, at + 1) != std::string::npos) return std::string::npos;
  return at + key.size() + 4;
}

}  // namespace

void prepare_text(ResourceWrite& w, const Provenance& p) {
  stamp_meta(w.resource, kVersionPlaceholder, kTimePlaceholder, p, w.part, w.part_number);
  auto& t = w.text.emplace();
  t.json = to_json(w.resource);
  // The hash of the text with placeholders is the version's content: the same message mapped again
  // gives the same text.
  t.hash = sha256_hex(t.json);
  t.version_at = placeholder_at(t.json, "versionId", kVersionPlaceholder);
  t.time_at = placeholder_at(t.json, "lastUpdated", kTimePlaceholder);
  // From here the store writes the text. It reads the document itself only for a Patient (the
  // patient index), for a write that may keep identifiers from the version on record, and where
  // a placeholder was not found; otherwise the document, most of the memory a batch in flight
  // holds, is freed now.
  if (w.type != "Patient" && w.keep_identifier_systems.empty() && t.version_at != std::string::npos &&
      t.time_at != std::string::npos)
    w.resource = rapidjson::Document();
}

void prepare_texts(MappedBatchItem& item) {
  for (auto& w : item.writes) prepare_text(w, item.provenance);
}

std::string version_json(ResourceWrite& w, const Provenance& p, int64_t version, int64_t now_ms) {
  if (!w.text) prepare_text(w, p);
  const auto& t = *w.text;
  const std::string v = std::to_string(version);
  const std::string time = fhir::fhir_instant_utc(now_ms);
  if (t.version_at == std::string::npos || t.time_at == std::string::npos) {
    stamp_meta(w.resource, v, time, p, w.part, w.part_number);
    return to_json(w.resource);
  }
  // The two placeholders, in the order they occur, replaced in one copy.
  struct Fill {
    size_t at, len;
    const std::string* value;
  };
  Fill fills[2] = {{t.version_at, kVersionPlaceholder.size(), &v}, {t.time_at, kTimePlaceholder.size(), &time}};
  if (fills[1].at < fills[0].at) std::swap(fills[0], fills[1]);
  std::string out;
  out.reserve(t.json.size() + v.size() + time.size());
  size_t from = 0;
  for (const auto& f : fills) {
    out.append(t.json, from, f.at - from).append(*f.value);
    from = f.at + f.len;
  }
  out.append(t.json, from, std::string::npos);
  return out;
}

}  // namespace cc::store
