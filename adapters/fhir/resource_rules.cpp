// The GP feed's resource-type catalogue: roles, patient elements and clinical date elements.
#include "adapters/fhir/resource_rules.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>

namespace cc::fhir_ingest {

namespace {

// Every FHIR R4 (4.0.1) resource type, sorted.
constexpr std::array<std::string_view, 146> kR4Types = {
    "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
    "AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
    "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
    "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
    "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition",
    "ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric",
    "DeviceRequest", "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
    "DocumentReference", "EffectEvidenceSynthesis", "Encounter", "Endpoint", "EnrollmentRequest",
    "EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable",
    "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
    "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy",
    "Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
    "InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
    "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
    "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
    "MedicinalProductAuthorization", "MedicinalProductContraindication",
    "MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
    "MedicinalProductManufactured", "MedicinalProductPackaged", "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect", "MessageDefinition", "MessageHeader",
    "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation", "ObservationDefinition",
    "OperationDefinition", "OperationOutcome", "Organization", "OrganizationAffiliation",
    "Parameters", "Patient", "PaymentNotice", "PaymentReconciliation", "Person", "PlanDefinition",
    "Practitioner", "PractitionerRole", "Procedure", "Provenance", "Questionnaire",
    "QuestionnaireResponse", "RelatedPerson", "RequestGroup", "ResearchDefinition",
    "ResearchElementDefinition", "ResearchStudy", "ResearchSubject", "RiskAssessment",
    "RiskEvidenceSynthesis", "Schedule", "SearchParameter", "ServiceRequest", "Slot", "Specimen",
    "SpecimenDefinition", "StructureDefinition", "StructureMap", "Subscription", "Substance",
    "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
    "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification",
    "SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
    "TestScript", "ValueSet", "VerificationResult", "VisionPrescription"};

constexpr std::array<std::string_view, 16> kAdministrative = {
    "Account", "ChargeItem", "Claim", "ClaimResponse", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "EnrollmentRequest", "EnrollmentResponse",
    "ExplanationOfBenefit", "InsurancePlan", "Invoice", "PaymentNotice", "PaymentReconciliation",
    "Provenance", "AuditEvent"};

using Paths = std::vector<std::vector<std::string_view>>;

const std::map<std::string_view, Paths, std::less<>>& event_times() {
  static const std::map<std::string_view, Paths, std::less<>> table = {
      {"AllergyIntolerance",
       {{"recordedDate"}, {"onsetDateTime"}, {"onsetPeriod", "start"}, {"lastOccurrence"}}},
      {"MedicationStatement",
       {{"dateAsserted"}, {"effectiveDateTime"}, {"effectivePeriod", "start"}}},
      {"MedicationRequest", {{"authoredOn"}}},
      {"Condition",
       {{"recordedDate"}, {"onsetDateTime"}, {"onsetPeriod", "start"}, {"abatementDateTime"}}},
      {"Observation",
       {{"issued"}, {"effectiveDateTime"}, {"effectiveInstant"}, {"effectivePeriod", "start"}}},
      {"Immunization", {{"recorded"}, {"occurrenceDateTime"}}},
      {"Consent", {{"dateTime"}}},
      // An encounter's later version is the one that ended: prefer the end.
      {"Encounter", {{"period", "end"}, {"period", "start"}}},
      {"Procedure", {{"performedDateTime"}, {"performedPeriod", "end"}, {"performedPeriod", "start"}}},
      {"DocumentReference", {{"date"}, {"context", "period", "start"}}},
      {"Flag", {{"period", "start"}}},
      {"FamilyMemberHistory", {{"date"}}},
      {"DiagnosticReport", {{"issued"}, {"effectiveDateTime"}, {"effectivePeriod", "start"}}},
      {"CarePlan", {{"created"}, {"period", "start"}}},
      {"RelatedPerson", {{"period", "start"}}},
  };
  return table;
}

}  // namespace

bool is_r4_resource_type(std::string_view type) {
  return std::binary_search(kR4Types.begin(), kR4Types.end(), type);
}

namespace {
constexpr std::array<std::string_view, 15> kClinicalTypes{
    "AllergyIntolerance", "MedicationStatement", "MedicationRequest", "Condition", "Observation",
    "Immunization",       "Encounter",           "Procedure",         "DocumentReference", "Flag",
    "Consent",            "FamilyMemberHistory", "DiagnosticReport",  "CarePlan",  "RelatedPerson"};
constexpr std::array<std::string_view, 4> kSupportingTypes{"Practitioner", "PractitionerRole", "Organization",
                                                           "Location"};
}  // namespace

Role role_of(std::string_view type) {
  if (type == "Patient") return Role::kPatient;
  if (std::find(kClinicalTypes.begin(), kClinicalTypes.end(), type) != kClinicalTypes.end()) return Role::kClinical;
  if (type == "Medication") return Role::kMedication;
  if (std::find(kSupportingTypes.begin(), kSupportingTypes.end(), type) != kSupportingTypes.end())
    return Role::kSupporting;
  return is_r4_resource_type(type) ? Role::kIgnored : Role::kUnknown;
}

const std::vector<std::string_view>& kept_types() {
  static const std::vector<std::string_view> types = [] {
    std::vector<std::string_view> all{"Patient"};
    all.insert(all.end(), kClinicalTypes.begin(), kClinicalTypes.end());
    all.push_back("Medication");
    all.insert(all.end(), kSupportingTypes.begin(), kSupportingTypes.end());
    return all;
  }();
  return types;
}

bool is_kept(Role role) {
  return role == Role::kPatient || role == Role::kClinical || role == Role::kMedication ||
         role == Role::kSupporting;
}

bool is_administrative(std::string_view type) {
  return std::find(kAdministrative.begin(), kAdministrative.end(), type) != kAdministrative.end();
}

bool may_be_contained(std::string_view type) {
  const Role role = role_of(type);
  return role == Role::kMedication || role == Role::kSupporting;
}

std::string_view patient_element(std::string_view type) {
  if (role_of(type) != Role::kClinical) return {};
  if (type == "AllergyIntolerance" || type == "Immunization" || type == "Consent" || type == "FamilyMemberHistory" ||
      type == "RelatedPerson")
    return "patient";
  return "subject";
}

const std::vector<std::vector<std::string_view>>& event_time_elements(std::string_view type) {
  static const Paths none;
  const auto& table = event_times();
  auto it = table.find(type);
  return it == table.end() ? none : it->second;
}

}  // namespace cc::fhir_ingest
