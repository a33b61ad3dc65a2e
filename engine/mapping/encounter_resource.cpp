// UK Core Encounter from PV1 (and PV2): how each trigger event sets the status, and the
// HL7 table 0004 patient class to v3 ActCode mapping.
#include "engine/mapping/encounter_resource.h"

#include "engine/fhir/datetime.h"
#include "engine/mapping/json_builder.h"
#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping {

using rapidjson::Value;

namespace {

constexpr std::string_view kProfile =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter";
constexpr std::string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

// A11/A12/A13 correct an earlier event: the encounter gets a new version (cancelled, back in
// progress) rather than being deleted, so its history shows what happened.
std::string_view encounter_status(std::string_view trigger, const hl7v2::Message& msg, size_t pv1) {
  if (trigger == "A05") return "planned";
  if (trigger == "A03") return "finished";
  if (trigger == "A11") return "cancelled";
  if (trigger == "A08") {
    if (!text(msg, pv1, 45).empty()) return "finished";
    if (text(msg, pv1, 2) == "P") return "planned";
  }
  return "in-progress";  // A01, A02, A04 (A&E attendance or registration), A08, A12, A13
}

// HL7 table 0004 -> v3 ActCode. Encounter.class is required, so a class the table does not
// cover (C commercial, N not applicable, U unknown, local codes) becomes NullFlavor UNK.
Value encounter_class(std::string_view patient_class, const JsonBuilder& json) {
  if (patient_class == "E") return json.coding(kActCode, "EMER", "emergency");
  if (patient_class == "I" || patient_class == "B") {
    return json.coding(kActCode, "IMP", "inpatient encounter");
  }
  if (patient_class == "O" || patient_class == "R")
    return json.coding(kActCode, "AMB", "ambulatory");
  if (patient_class == "P") return json.coding(kActCode, "PRENC", "pre-admission");
  return json.coding("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK", "unknown");
}

std::string_view location_status(std::string_view status) {
  if (status == "planned") return "planned";
  if (status == "in-progress") return "active";
  if (status == "finished") return "completed";
  return {};
}

Issue no_encounter(std::string message, hl7v2::Location where) {
  return Issue{false, where.field == 0 ? 100 : 101, std::move(message), std::move(where)};
}

}  // namespace

std::optional<EncounterResource> encounter_resource(
    const hl7v2::Message& msg, std::string_view trigger, const std::string& patient_id,
    const std::string& default_authority, const FeedContext& feed, std::vector<Issue>& issues) {
  const auto pv1 = msg.find("PV1");
  if (!pv1) {
    issues.push_back(no_encounter(
        "The ADT^" + std::string(trigger) +
            " message has no PV1 segment, so no Encounter was recorded (the patient's details "
            "were); send PV1 with the visit number for the visit to appear in the record.",
        hl7v2::Location{"PV1"}));
    return std::nullopt;
  }
  const std::string_view status = encounter_status(trigger, msg, *pv1);

  std::optional<std::string> start = fhir_datetime(text(msg, *pv1, 44));
  if (!start && status == "planned") {
    if (const auto pv2 = msg.find("PV2")) start = fhir_datetime(text(msg, *pv2, 8));
  }
  std::optional<std::string> end;
  if (status == "finished") end = fhir_datetime(text(msg, *pv1, 45));
  if (start && end) {
    auto start_ms = fhir::hl7_to_epoch_ms(text(msg, *pv1, 44));
    auto end_ms = fhir::hl7_to_epoch_ms(text(msg, *pv1, 45));
    if (start_ms && end_ms && *end_ms < *start_ms) {
      issues.push_back(Issue{false, 102,
                             "PV1-45 discharge date/time " + text(msg, *pv1, 45) +
                                 " is before PV1-44 admit date/time " + text(msg, *pv1, 44) +
                                 "; the Encounter was recorded without an end. Correct the "
                                 "dates at source and send an A08 update.",
                             hl7v2::Location{"PV1", 1, 45}});
      end.reset();
    }
  }

  EncounterResource out;
  const JsonBuilder json(out.resource.GetAllocator());
  Value identifiers = json.array();
  const std::string visit_number = text(msg, *pv1, 19, 1, 1);
  if (!visit_number.empty()) {
    std::string authority = text(msg, *pv1, 19, 1, 4, 1);
    if (authority.empty()) authority = text(msg, *pv1, 19, 1, 4, 2);
    if (authority.empty()) authority = default_authority;
    const std::string system = feed.system_for(authority, "VN");
    out.id = derive_id("Encounter", system, visit_number);
    Value identifier = json.object();
    json.put(identifier, "type",
             json.codeable_concept("http://terminology.hl7.org/CodeSystem/v2-0203", "VN",
                                   "Visit number"));
    json.put(identifier, "system", system);
    json.put(identifier, "value", visit_number);
    json.append(identifiers, std::move(identifier));
    out.identifiers.emplace_back(system, visit_number);
  } else if (start) {
    // Without a visit number the admission is known by its patient and start time.
    out.id = derive_id("Encounter", "Patient/" + patient_id, *start);
  } else {
    issues.push_back(no_encounter(
        "PV1-19 (visit number) and PV1-44 (admit date/time) are both empty, so no Encounter "
        "was recorded for this ADT^" +
            std::string(trigger) + "; send the visit number for the visit to appear in the record.",
        hl7v2::Location{"PV1", 1, 19}));
    return std::nullopt;
  }

  Value& encounter = out.resource.SetObject();
  json.put(encounter, "resourceType", "Encounter");
  json.put(encounter, "id", out.id);
  Value profiles = json.array();
  json.append(profiles, kProfile);
  Value meta = json.object();
  json.put(meta, "profile", std::move(profiles));
  json.put(encounter, "meta", std::move(meta));
  json.put(encounter, "identifier", std::move(identifiers));
  json.put(encounter, "status", status);
  json.put(encounter, "class", encounter_class(text(msg, *pv1, 2), json));

  Value service = json.object();
  json.put(service, "text", text(msg, *pv1, 10));
  json.put(encounter, "serviceType", std::move(service));

  Value subject = json.object();
  json.put(subject, "reference", "Patient/" + patient_id);
  json.put(encounter, "subject", std::move(subject));

  if (auto attending = named_person(msg, *pv1, 7)) {
    Value type = json.array();
    json.append(type, json.codeable_concept(kParticipationType, "ATND", "attender"));
    Value participant = json.object();
    json.put(participant, "type", std::move(type));
    json.put(participant, "individual", practitioner_reference(*attending, json));
    Value participants = json.array();
    json.append(participants, std::move(participant));
    json.put(encounter, "participant", std::move(participants));
  }

  Value period = json.object();
  if (start) json.put(period, "start", *start);
  if (end) json.put(period, "end", *end);
  json.put(encounter, "period", std::move(period));

  if (const std::string where = location_text(msg, *pv1, 3); !where.empty()) {
    Value reference = json.object();
    json.put(reference, "display", where);
    Value location = json.object();
    json.put(location, "location", std::move(reference));
    json.put(location, "status", location_status(status));
    Value locations = json.array();
    json.append(locations, std::move(location));
    json.put(encounter, "location", std::move(locations));
  }
  return out;
}

}  // namespace cc::mapping
