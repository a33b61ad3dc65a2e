// Consent: what the patient's Consent resources (recorded with POST /fhir/Consent) say about
// sharing their record — full dissent, or withholding some resource types or some sources — and
// the checks a posted Consent must pass. The most recent active Consent is the patient's word.
#pragma once
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "engine/store/record_store.h"

namespace cc::governance {

struct ConsentState {
  bool dissent = false;                   // nothing clinical is shared (break-glass aside, if policy allows)
  std::set<std::string> withheld_types;   // resource types not shared
  std::set<std::string> withheld_sources; // ODS codes whose data are not shared
  std::string consent_id;                 // the Consent that says so ("" for none)
  bool permits = false;                   // that Consent's provision permits sharing (exceptions aside)
  bool withholds_anything() const { return dissent || !withheld_types.empty() || !withheld_sources.empty(); }
};

// The patient's effective consent: among their Consent resources with status "active" and scope
// patient-privacy (a treatment or research consent says nothing about sharing), the one with the
// latest dateTime as an instant (then the latest stored). Its provision:
//   type "deny" with no class, actor or nested provision: dissent from the shared record;
//   type "deny" with class (resource types) and/or actor (organisations, by ODS identifier):
//     those types / those sources withheld;
//   type "permit" with nested provisions of type "deny": each as above, as exceptions.
// A latest active Consent that permits without exceptions ends an earlier dissent; one that permits
// is the recorded consent a policy's consent_required_sources ask for.
ConsentState consent_state(const std::vector<store::StoredResource>& consents);

// What is wrong with a Consent posted by a reader (empty: acceptable): resourceType Consent; status
// one of draft, proposed, active, rejected, inactive, entered-in-error; scope patient-privacy;
// patient a reference "Patient/{id}"; provision.type permit or deny; class codes resource types.
std::vector<std::string> check_consent(const rapidjson::Value& consent);

// The id in Consent.patient.reference ("Patient/{id}"), "" when there is none.
std::string consent_patient(const rapidjson::Value& consent);

}  // namespace cc::governance
