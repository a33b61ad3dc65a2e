// UK Core Patient from PID and PD1: which PID and PD1 fields feed which Patient elements,
// and the HL7 code tables (identifier type, verification status, sex) they go through.
#include "engine/mapping/patient_resource.h"

#include <array>

#include "engine/mapping/json_builder.h"
#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping {

using rapidjson::Value;

namespace {

constexpr std::string_view kProfile = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";
constexpr std::string_view kVerificationStatusUrl =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus";
constexpr std::string_view kVerificationStatusSystem =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland";
constexpr std::string_view kIdentifierTypeSystem = "http://terminology.hl7.org/CodeSystem/v2-0203";

struct Code {
  std::string_view code;
  std::string_view display;
};

// UKCore-NHSNumberVerificationStatusEngland.
constexpr std::array<Code, 8> kVerificationStatuses{{
    {"01", "Number present and verified"},
    {"02", "Number present but not traced"},
    {"03", "Trace required"},
    {"04", "Trace attempted - No match or multiple match found"},
    {"05", "Trace needs to be resolved - (NHS number or patient detail conflict)"},
    {"06", "Trace in progress"},
    {"07", "Number not present and trace not required"},
    {"08", "Trace postponed (baby under six weeks old)"},
}};

// The HL7 table 0203 identifier types worth carrying as Identifier.type; local codes are dropped.
constexpr std::array<Code, 7> kIdentifierTypes{{
    {"MR", "Medical record number"},
    {"PI", "Patient internal identifier"},
    {"PT", "Patient external identifier"},
    {"PN", "Person number"},
    {"AN", "Account number"},
    {"DL", "Driver's license number"},
    {"PPN", "Passport number"},
}};

template <size_t N>
const Code* find_code(const std::array<Code, N>& table, std::string_view code) {
  for (const Code& c : table) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

// PID-32 carries the NHS number verification status on NHS feeds. When it is absent (or holds
// a code outside the England code system) the extension is left out: claiming "02 present but
// not traced" would assert something the feed never said.
Value verification_status(const hl7v2::Message& msg, size_t pid, const JsonBuilder& json) {
  const int reps = msg.repetition_count(pid, 32);
  for (int rep = 1; rep <= reps; ++rep) {
    const Code* status = find_code(kVerificationStatuses, text(msg, pid, 32, rep));
    if (!status) continue;
    Value ext = json.object();
    json.put(ext, "url", kVerificationStatusUrl);
    json.put(ext, "valueCodeableConcept",
             json.codeable_concept(kVerificationStatusSystem, status->code, status->display));
    Value extensions = json.array();
    json.append(extensions, std::move(ext));
    return extensions;
  }
  return Value();
}

std::string_view gender(std::string_view sex) {
  if (sex == "M") return "male";
  if (sex == "F") return "female";
  if (sex == "O" || sex == "A") return "other";
  if (sex == "U" || sex == "N") return "unknown";
  return {};
}

}  // namespace

PatientResource patient_resource(const hl7v2::Message& msg, size_t pid, std::optional<size_t> pd1,
                                 const PatientIdentifiers& ids, const std::string& id) {
  PatientResource out;
  Value& patient = out.resource.SetObject();
  const JsonBuilder json(out.resource.GetAllocator());

  json.put(patient, "resourceType", "Patient");
  json.put(patient, "id", id);
  Value profiles = json.array();
  json.append(profiles, kProfile);
  Value meta = json.object();
  json.put(meta, "profile", std::move(profiles));
  json.put(patient, "meta", std::move(meta));

  Value identifiers = json.array();
  if (ids.nhs_number) {
    const std::string& nhs = ids.nhs_number->str();
    Value identifier = json.object();
    json.put(identifier, "extension", verification_status(msg, pid, json));
    json.put(identifier, "system", identity::NhsNumber::kSystem);
    json.put(identifier, "value", nhs);
    json.append(identifiers, std::move(identifier));
    out.identifiers.emplace_back(identity::NhsNumber::kSystem, nhs);
  }
  for (const LocalIdentifier& local : ids.local) {
    Value identifier = json.object();
    if (const Code* type = find_code(kIdentifierTypes, local.type_code)) {
      json.put(identifier, "type",
               json.codeable_concept(kIdentifierTypeSystem, type->code, type->display));
    }
    json.put(identifier, "system", local.system);
    json.put(identifier, "value", local.value);
    json.append(identifiers, std::move(identifier));
    out.identifiers.emplace_back(local.system, local.value);
  }
  json.put(patient, "identifier", std::move(identifiers));

  Value names = json.array();
  for (int rep = 1, n = msg.repetition_count(pid, 5); rep <= n; ++rep) {
    json.append(names, human_name(msg, pid, 5, rep, json));
  }
  json.put(patient, "name", std::move(names));

  Value telecom = json.array();
  for (int rep = 1, n = msg.repetition_count(pid, 13); rep <= n; ++rep) {
    json.append(telecom, contact_point(msg, pid, 13, rep, "home", json));
  }
  for (int rep = 1, n = msg.repetition_count(pid, 14); rep <= n; ++rep) {
    json.append(telecom, contact_point(msg, pid, 14, rep, "work", json));
  }
  json.put(patient, "telecom", std::move(telecom));

  json.put(patient, "gender", gender(text(msg, pid, 8)));
  if (auto birth = fhir_date(text(msg, pid, 7))) json.put(patient, "birthDate", *birth);

  if (auto death = fhir_datetime(text(msg, pid, 29))) {
    json.put(patient, "deceasedDateTime", *death);
  } else if (const std::string indicator = text(msg, pid, 30);
             indicator == "Y" || indicator == "N") {
    json.put_bool(patient, "deceasedBoolean", indicator == "Y");
  }

  Value addresses = json.array();
  for (int rep = 1, n = msg.repetition_count(pid, 11); rep <= n; ++rep) {
    json.append(addresses, address(msg, pid, 11, rep, json));
  }
  json.put(patient, "address", std::move(addresses));

  if (pd1) {
    Value gps = json.array();
    for (int rep = 1, n = msg.repetition_count(*pd1, 3); rep <= n && gps.Empty(); ++rep) {
      json.append(gps, organization_reference(msg, *pd1, 3, rep, json));
    }
    if (auto gp = named_person(msg, *pd1, 4)) {
      json.append(gps, practitioner_reference(*gp, json));
    }
    json.put(patient, "generalPractitioner", std::move(gps));
  }
  return out;
}

}  // namespace cc::mapping
