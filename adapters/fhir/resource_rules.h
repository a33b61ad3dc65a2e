// What the GP feed does with each FHIR R4 resource type (keep as patient data, keep as supporting
// data, ignore), and where each kept type names its patient and its clinical date.
#pragma once
#include <string_view>
#include <vector>

namespace cc::fhir_ingest {

enum class Role {
  kPatient,     // Patient: needs a valid NHS number; its id comes from the NHS number
  kClinical,    // AllergyIntolerance, MedicationStatement, MedicationRequest, Condition, Observation,
                // Immunization, Encounter, Procedure, DocumentReference, Flag, Consent,
                // FamilyMemberHistory, DiagnosticReport, CarePlan, RelatedPerson: filed under the patient
  kMedication,  // Medication: kept, filed under the bundle's patient (it has no subject of its own)
  kSupporting,  // Practitioner, PractitionerRole, Organization, Location: kept, under no patient
  kIgnored,     // any other R4 type (Claim, Provenance, Goal...): not stored, reported
  kUnknown,     // not an R4 resource type at all: an error
};

Role role_of(std::string_view type);
bool is_kept(Role role);
// Every type the GP feed keeps, in the order a sentence to a sender lists them: "Patient, ...".
const std::vector<std::string_view>& kept_types();
bool is_r4_resource_type(std::string_view type);

// Administrative and financial types (Claim, ExplanationOfBenefit, Coverage...) and Provenance are
// ignored with an "information" issue; other ignored types (clinical content the record does not
// hold yet, e.g. Goal, ImagingStudy, ServiceRequest) with a "warning", so a supplier sees what is dropped.
bool is_administrative(std::string_view type);

// Types allowed as contained resources of a kept resource: Medication and the supporting types.
// A Patient or clinical resource must be its own entry, so its patient is checked.
bool may_be_contained(std::string_view type);

// The element of a clinical type that references its patient: "patient" for AllergyIntolerance,
// Immunization, Consent, FamilyMemberHistory and RelatedPerson, "subject" for the others; empty
// for other roles.
std::string_view patient_element(std::string_view type);

// Where a type's own clinical date is, in order of preference (each a path of element names,
// e.g. {"onsetPeriod", "start"}); used when meta.lastUpdated is absent.
const std::vector<std::vector<std::string_view>>& event_time_elements(std::string_view type);

}  // namespace cc::fhir_ingest
