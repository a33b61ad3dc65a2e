// The regional patient as FHIR: one Patient made from the registrations (source Patients) the
// patient index joined under one NHS number. Built when read, so it is never out of step with them.
#pragma once
#include <string>
#include <vector>

namespace cc::identity {

struct RegistrationView {
  std::string id;     // the source Patient's id
  std::string state;  // verified, linked, merged
  std::string json;   // its current version ("" when the source sent data but no Patient of its own)
};

// `registrations` in the index's order: the first is the record's reference (the earliest
// joined), whose name, sex, birth date, address and telecom are shown. The result carries the NHS
// number and every registration's identifiers, and links each registration (Patient.link, seealso).
// meta.lastUpdated is the newest of theirs; there is no meta.versionId (each source versions its own).
// A registration whose family or given name, birth date, sex or postcode differs from those shown
// gets an extension urn:connecting-care:extension:source-demographics naming it (sub-extension
// `registration`) and its differing values (`family`, `given`, `birthDate`, `gender`, `postalCode`,
// normalised as matching compares them).
std::string regional_patient_json(const std::string& person_id, const std::string& nhs_number,
                                  const std::vector<RegistrationView>& registrations);

}  // namespace cc::identity
