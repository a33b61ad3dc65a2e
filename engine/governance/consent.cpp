// See consent.h.
#include "engine/governance/consent.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "engine/core/json_member.h"
#include "engine/fhir/datetime.h"

namespace cc::governance {

namespace {
using rapidjson::Value;

// Only privacy consents speak about sharing the record: a treatment or research Consent (another
// scope) says nothing about it, whatever its provision.
bool privacy_scope(const Value& consent) {
  const Value* scope = member_of(consent, "scope");
  const Value* codings = scope ? member_of(*scope, "coding") : nullptr;
  if (!codings || !codings->IsArray()) return false;
  for (auto& c : codings->GetArray())
    if (string_member(c, "code") == "patient-privacy") return true;
  return false;
}

// A deny provision: what it withholds (everything when it names no class and no actor).
void apply_deny(const Value& provision, ConsentState& s) {
  bool narrowed = false;
  if (const Value* classes = member_of(provision, "class"); classes && classes->IsArray())
    for (auto& c : classes->GetArray())
      if (!string_member(c, "code").empty()) {
        s.withheld_types.insert(string_member(c, "code"));
        narrowed = true;
      }
  if (const Value* actors = member_of(provision, "actor"); actors && actors->IsArray())
    for (auto& a : actors->GetArray()) {
      const Value* ref = member_of(a, "reference");
      const Value* id = ref ? member_of(*ref, "identifier") : nullptr;
      if (id && !string_member(*id, "value").empty()) {
        s.withheld_sources.insert(string_member(*id, "value"));
        narrowed = true;
      }
    }
  if (!narrowed) s.dissent = true;
}
}  // namespace

std::string consent_patient(const Value& consent) {
  const Value* patient = member_of(consent, "patient");
  const std::string ref = patient ? string_member(*patient, "reference") : "";
  return ref.rfind("Patient/", 0) == 0 ? ref.substr(8) : "";
}

ConsentState consent_state(const std::vector<store::StoredResource>& consents) {
  ConsentState s;
  rapidjson::Document latest;
  std::pair<int64_t, std::string> latest_time{INT64_MIN, ""};
  std::string latest_id;
  for (const store::StoredResource& r : consents) {
    if (r.type != "Consent") continue;
    rapidjson::Document d;
    d.Parse(r.json.c_str(), r.json.size());
    if (!d.IsObject() || string_member(d, "status") != "active" || !privacy_scope(d)) continue;
    // Latest by dateTime as an instant (offsets and date-only values compared as times), then by
    // when it was stored (meta.lastUpdated), which also stands in for a missing dateTime. A decision
    // takes effect no later than it was stored: a Consent dated 2999 would otherwise outrank every
    // decision the patient makes until then, a dissent recorded tomorrow included.
    const Value* meta = member_of(d, "meta");
    const std::string stored = meta ? string_member(*meta, "lastUpdated") : "";
    auto when_ms = fhir::fhir_to_epoch_ms(string_member(d, "dateTime"));
    auto stored_ms = fhir::fhir_to_epoch_ms(stored);
    int64_t effective = when_ms ? *when_ms : stored_ms ? *stored_ms : INT64_MIN;
    if (stored_ms) effective = std::min(effective, *stored_ms);
    const std::pair<int64_t, std::string> when{effective, stored};
    if (!latest.IsObject() || when > latest_time) {
      latest_time = when;
      latest_id = r.id;
      latest.Swap(d);
    }
  }
  if (!latest.IsObject()) return s;
  s.consent_id = latest_id;
  const Value* provision = member_of(latest, "provision");
  if (!provision) return s;
  if (string_member(*provision, "type") == "deny") apply_deny(*provision, s);
  s.permits = string_member(*provision, "type") == "permit" && !s.dissent;
  if (const Value* nested = member_of(*provision, "provision"); nested && nested->IsArray())
    for (auto& p : nested->GetArray())
      if (string_member(p, "type") == "deny") {
        // An exception to a permit names what it withholds; a bare one withholds everything.
        apply_deny(p, s);
      }
  if (s.dissent) s.permits = false;
  return s;
}

std::vector<std::string> check_consent(const Value& c) {
  std::vector<std::string> problems;
  if (!c.IsObject() || string_member(c, "resourceType") != "Consent") {
    problems.emplace_back("The body is not a Consent resource.");
    return problems;
  }
  const std::string status = string_member(c, "status");
  static const std::set<std::string> statuses{"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"};
  if (!statuses.count(status))
    problems.emplace_back("Consent.status is required: draft, proposed, active, rejected, inactive or entered-in-error.");
  bool privacy = false;
  if (const Value* scope = member_of(c, "scope"); scope)
    if (const Value* codings = member_of(*scope, "coding"); codings && codings->IsArray())
      for (auto& coding : codings->GetArray()) privacy = privacy || string_member(coding, "code") == "patient-privacy";
  if (!privacy)
    problems.emplace_back("Consent.scope must be patient-privacy (system http://terminology.hl7.org/CodeSystem/consentscope): "
                          "this record keeps consent to share the record.");
  if (consent_patient(c).empty())
    problems.emplace_back("Consent.patient.reference must name the patient as Patient/{id}.");
  const Value* provision = member_of(c, "provision");
  const std::string type = provision ? string_member(*provision, "type") : "";
  if (type != "permit" && type != "deny")
    problems.emplace_back("Consent.provision.type is required: deny (dissent, or what is withheld) or permit.");
  auto check_classes = [&](const Value& p, const std::string& where) {
    if (const Value* classes = member_of(p, "class"); classes && classes->IsArray())
      for (auto& k : classes->GetArray()) {
        const std::string code = string_member(k, "code");
        if (code.empty() || code[0] < 'A' || code[0] > 'Z')
          problems.push_back(where + ".class: each is a resource type (system http://hl7.org/fhir/resource-types), "
                                     "e.g. {\"code\": \"Observation\"}.");
      }
  };
  if (provision) {
    check_classes(*provision, "Consent.provision");
    if (const Value* nested = member_of(*provision, "provision"); nested && nested->IsArray())
      for (auto& p : nested->GetArray()) check_classes(p, "Consent.provision.provision");
  }
  return problems;
}

}  // namespace cc::governance
