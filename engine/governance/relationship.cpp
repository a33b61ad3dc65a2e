// See relationship.h.
#include "engine/governance/relationship.h"

#include "engine/core/json_member.h"
#include "engine/governance/sensitive.h"

#include <rapidjson/document.h>

namespace cc::governance {

bool Organisations::covers(const std::string& reader_org, const std::string& org) const {
  if (reader_org.empty() || org.empty()) return false;
  std::string at = org;
  for (int depth = 0; depth < 16; ++depth) {
    if (at == reader_org) return true;
    auto it = parent_.find(at);
    if (it == parent_.end()) return false;
    at = it->second;
  }
  return false;
}

namespace {
using rapidjson::Value;

// The ODS code a Reference carries in its identifier.
std::string ods_of(const Value& reference) {
  if (!reference.IsObject()) return {};
  auto id = reference.FindMember("identifier");
  return id == reference.MemberEnd() ? std::string() : string_member(id->value, "value");
}

void each_reference(const Value& resource, const char* member, std::vector<std::string>& out) {
  auto it = resource.FindMember(member);
  if (it == resource.MemberEnd()) return;
  if (it->value.IsArray()) {
    for (auto& r : it->value.GetArray()) out.push_back(ods_of(r));
  } else {
    out.push_back(ods_of(it->value));
  }
}

}  // namespace

namespace {
bool one_of(const std::string& s, std::initializer_list<const char*> values) {
  for (const char* v : values)
    if (s == v) return true;
  return false;
}
}  // namespace

std::optional<RecordRelationship> relationship_in_record(const std::vector<store::StoredResource>& facts,
                                                         const std::string& reader_org, const Organisations& orgs,
                                                         const DisclosurePolicy& policy,
                                                         const std::set<std::string>& gp_feeds) {
  std::optional<RecordRelationship> best;
  auto consider = [&](RecordRelationship r, const std::vector<std::string>& candidates) {
    if (!policy.counts(r) || (best && *best <= r)) return;
    for (const std::string& org : candidates)
      if (orgs.covers(reader_org, org)) {
        best = r;
        return;
      }
  };
  for (const store::StoredResource& fact : facts) {
    rapidjson::Document d;
    d.Parse(fact.json.c_str(), fact.json.size());
    if (!d.IsObject()) continue;
    const auto [feed, facility] = item_source(d);
    std::vector<std::string> candidates;
    const std::string status = string_member(d, "status");
    if (fact.type == "Patient") {
      each_reference(d, "generalPractitioner", candidates);
      if (gp_feeds.count(feed)) candidates.push_back(facility);
      consider(RecordRelationship::kRegisteredGp, candidates);
    } else if (fact.type == "Encounter") {
      if (!one_of(status, {"planned", "arrived", "triaged", "in-progress", "onleave"})) continue;
      each_reference(d, "serviceProvider", candidates);
      candidates.push_back(facility);
      consider(RecordRelationship::kOpenEncounter, candidates);
    } else if (fact.type == "EpisodeOfCare") {
      if (!one_of(status, {"planned", "waitlist", "active", "onhold"})) continue;
      each_reference(d, "managingOrganization", candidates);
      candidates.push_back(facility);
      consider(RecordRelationship::kOpenEpisode, candidates);
    } else if (fact.type == "CareTeam") {
      if (!status.empty() && !one_of(status, {"proposed", "active"})) continue;
      each_reference(d, "managingOrganization", candidates);
      auto participants = d.FindMember("participant");
      if (participants != d.MemberEnd() && participants->value.IsArray())
        for (auto& p : participants->value.GetArray()) {
          auto on_behalf = p.FindMember("onBehalfOf");
          if (on_behalf != p.MemberEnd()) candidates.push_back(ods_of(on_behalf->value));
          auto member = p.FindMember("member");
          if (member != p.MemberEnd()) candidates.push_back(ods_of(member->value));
        }
      candidates.push_back(facility);
      consider(RecordRelationship::kCareTeam, candidates);
    }
  }
  return best;
}

AccessDecision decide_access(const DisclosurePolicy& policy, const std::string& role, const std::string& type,
                             const std::optional<RecordRelationship>& relationship, const ConsentState& consent,
                             const std::function<std::string()>& recorded_access) {
  AccessDecision d;
  if (!policy.may_read_type(role, type)) {
    d.refusal = "role";
    return d;
  }
  if (type == "Patient") {
    d.permitted = true;
    d.basis = "demographics";
    return d;
  }
  if (relationship) {
    d.basis = std::string(to_string(*relationship));
  } else if (const std::string kind = recorded_access ? recorded_access() : std::string(); !kind.empty()) {
    d.basis = "access:" + kind;
  } else {
    d.refusal = "relationship";
    return d;
  }
  const bool overrides = d.basis == "access:break-glass" && policy.dissent_break_glass();
  if (!overrides && consent.dissent) {
    d.refusal = "dissent";
    return d;
  }
  if (!overrides && consent.withheld_types.count(type)) {
    d.refusal = "withheld";
    return d;
  }
  if (!overrides) d.withheld_sources = consent.withheld_sources;
  if (!overrides && !consent.permits && policy.any_consent_required())
    for (const char* t : {"gp", "acute", "mental-health", "community", "social-care", "tertiary", "ambulance"})
      if (policy.consent_required(t)) d.withheld_source_types.insert(t);
  d.hidden_categories = policy.hidden_categories(role);  // break-glass opens no sensitive category
  if (const RolePolicy* r = policy.role(role)) d.allowed_source_types = r->sources;
  if (overrides && consent.withholds_anything()) d.basis += ";consent-overridden";  // one word: the trail lists bases as names
  d.permitted = true;
  return d;
}

AccessDecision decide_access(const DisclosurePolicy& policy, const Organisations& orgs,
                             const std::set<std::string>& gp_feeds, const std::string& role,
                             const std::string& reader_org, const std::string& type,
                             const std::vector<store::StoredResource>& facts,
                             const std::function<std::string()>& recorded_access) {
  AccessDecision d = !policy.may_read_type(role, type) || type == "Patient"
                       ? decide_access(policy, role, type, std::nullopt, ConsentState{}, recorded_access)
                       : decide_access(policy, role, type,
                                       relationship_in_record(facts, reader_org, orgs, policy, gp_feeds),
                                       consent_state(facts), recorded_access);
  d.restricted_patient = any_restricted(facts);
  return d;
}

bool any_restricted(const std::vector<store::StoredResource>& facts) {
  for (const store::StoredResource& f : facts)
    if (f.type == "Patient" && restricted(f.json)) return true;
  return false;
}

std::string item_refusal(const DisclosurePolicy& policy, const AccessDecision& d,
                         const std::map<std::string, std::string>& feed_types, const store::StoredResource& item) {
  if (!d.withheld_sources.empty() || !d.withheld_source_types.empty() || !d.allowed_source_types.empty()) {
    rapidjson::Document doc;
    doc.Parse(item.json.c_str(), item.json.size());
    const auto [feed, facility] = item_source(doc);
    if (d.withheld_sources.count(facility)) return "withheld";
    auto type = feed_types.find(feed);
    const std::string source_type = type == feed_types.end() ? std::string() : type->second;
    if (!d.allowed_source_types.empty() && !d.allowed_source_types.count(source_type)) return "policy";
    // An undeclared type (a feed since removed from the configuration) might be one that needs consent.
    if (!d.withheld_source_types.empty() && (source_type.empty() || d.withheld_source_types.count(source_type)))
      return "policy";
  }
  if (!d.hidden_categories.empty() && policy.may_be_sensitive(item.json))
    for (const std::string& c : sensitive_categories(policy, item.json))
      if (d.hidden_categories.count(c)) return "policy";
  return "";
}

}  // namespace cc::governance
