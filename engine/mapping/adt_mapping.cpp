// assess_adt (the checks that decide AA or AE before the commit) and map_adt (Patient,
// Encounter and work-list changes after it) for the supported ADT trigger events.
#include "engine/mapping/adt_mapping.h"

#include <algorithm>
#include <array>

#include "engine/fhir/datetime.h"
#include "engine/mapping/encounter_resource.h"
#include "engine/mapping/patient_identifiers.h"
#include "engine/mapping/patient_resource.h"
#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping {

namespace {

constexpr std::array<std::string_view, 11> kSupportedTriggers{
    "A01", "A02", "A03", "A04", "A05", "A08", "A11", "A12", "A13", "A28", "A31"};

// MSH-9.2, or EVN-1 for the old feeds that leave the trigger out of MSH-9.
std::string trigger_event(const hl7v2::Message& msg) {
  std::string trigger = msg.trigger_event();
  if (trigger.empty()) {
    if (const auto evn = msg.find("EVN")) trigger = text(msg, *evn, 1);
  }
  return trigger;
}

// A28/A31 (add/update person information) carry no visit.
bool has_encounter(std::string_view trigger) { return trigger != "A28" && trigger != "A31"; }

// Where the event time comes from: EVN-2 when sent, else MSH-7.
struct EventTimeSource {
  std::string value;
  hl7v2::Location where;
};

EventTimeSource event_time_source(const hl7v2::Message& msg) {
  if (const auto evn = msg.find("EVN")) {
    std::string recorded = text(msg, *evn, 2);
    if (!recorded.empty()) return {std::move(recorded), hl7v2::Location{"EVN", 1, 2}};
  }
  std::string sent = msg.message_time();
  return {std::move(sent), hl7v2::Location{"MSH", 1, 7}};
}

Issue unreadable_datetime(hl7v2::Location where, std::string_view what, const Error& error) {
  std::string message = where.segment + "-" + std::to_string(where.field) + " " +
                        std::string(what) + ": " + error.message + " Then send an A08 update.";
  return Issue{true, 102, std::move(message), std::move(where)};
}

// AE for a date/time field the mapping needs that is not a readable HL7 date/time.
void check_datetime(const hl7v2::Message& msg, size_t seg, int field, std::string_view what,
                    std::vector<Issue>& issues) {
  const std::string value = text(msg, seg, field);
  if (value.empty()) return;
  auto readable = fhir::hl7_to_fhir_datetime(value);
  if (readable) return;
  const std::string segment(msg.segment_name(seg));
  issues.push_back(unreadable_datetime(hl7v2::Location{segment, 1, field}, what, readable.error()));
}

std::string describe(const hl7v2::Message& msg, const FeedContext& feed) {
  return "Message " + msg.control_id() + " (ADT^" + trigger_event(msg) + " from " +
         msg.sending_application() + " at " + msg.sending_facility() + ", feed " + feed.feed + ")";
}

}  // namespace

bool Assessment::has_error() const {
  return std::any_of(issues.begin(), issues.end(), [](const Issue& i) { return i.error; });
}

Assessment assess_adt(const hl7v2::Message& msg, const FeedContext& feed) {
  Assessment a;
  const std::string code = msg.message_code();
  const std::string trigger = trigger_event(msg);
  if (code != "ADT" || std::find(kSupportedTriggers.begin(), kSupportedTriggers.end(), trigger) ==
                           kSupportedTriggers.end()) {
    a.supported = false;
    return a;
  }

  const auto pid = msg.find("PID");
  if (!pid) {
    a.issues.push_back(Issue{true, 100,
                             "The ADT^" + trigger +
                                 " message has no PID segment, so there is no patient to "
                                 "record; the PAS interface must send PID in every ADT message.",
                             hl7v2::Location{"PID"}});
    return a;
  }

  const PatientIdentifiers ids = read_patient_identifiers(msg, *pid, feed);
  if (!ids.nhs_number && ids.rejected.empty() && ids.local.empty()) {
    a.issues.push_back(Issue{true, 101,
                             "PID-3 (patient identifier list) is empty; send at least the "
                             "hospital number so the patient can be recorded.",
                             hl7v2::Location{"PID", 1, 3}});
  }
  for (const RejectedNhsNumber& nhs : ids.rejected) {
    a.issues.push_back(Issue{true, 102,
                             "PID-3 repetition " + std::to_string(nhs.repetition) +
                                 ": NHS number " + nhs.value + " " + nhs.problem +
                                 "; correct it at source and send an A08 update.",
                             hl7v2::Location{"PID", 1, 3, nhs.repetition}});
  }
  if (!ids.nhs_number && !ids.rejected.empty() && ids.local.empty()) {
    a.issues.push_back(Issue{true, 101,
                             "PID-3 has no identifier other than an invalid NHS number, so the "
                             "patient cannot be recorded; send the hospital number as well.",
                             hl7v2::Location{"PID", 1, 3}});
  }

  check_datetime(msg, *pid, 7, "birth date", a.issues);
  check_datetime(msg, *pid, 29, "date of death", a.issues);
  const EventTimeSource event = event_time_source(msg);
  if (event.value.empty()) {
    a.issues.push_back(Issue{true, 101,
                             "Neither EVN-2 nor MSH-7 gives the time of the event, so this "
                             "update cannot be put in order with others; send MSH-7.",
                             hl7v2::Location{"MSH", 1, 7}});
  } else if (auto readable = fhir::hl7_to_fhir_datetime(event.value); !readable) {
    a.issues.push_back(unreadable_datetime(event.where, "event date/time", readable.error()));
  }
  if (has_encounter(trigger)) {
    if (const auto pv1 = msg.find("PV1")) {
      check_datetime(msg, *pv1, 44, "admit date/time", a.issues);
      check_datetime(msg, *pv1, 45, "discharge date/time", a.issues);
    }
  }
  return a;
}

Result<MappingOutput> map_adt(const hl7v2::Message& msg, const FeedContext& feed) {
  Assessment assessment = assess_adt(msg, feed);
  if (!assessment.supported) {
    return make_error("adt-unsupported", "Message type " + msg.message_code() + "^" +
                                             trigger_event(msg) +
                                             " is not mapped to the shared care record, which "
                                             "takes ADT A01, A02, A03, A04, A05, A08, A11, A12, "
                                             "A13, A28 and A31.");
  }
  const auto pid = msg.find("PID");
  if (!pid) return make_error("adt-no-pid", assessment.issues.front().message);

  const PatientIdentifiers ids = read_patient_identifiers(msg, *pid, feed);
  std::string patient_id;
  std::string key;  // system|value the patient is held under, for the work-list sentences
  if (!ids.local.empty()) {
    patient_id = derive_id("Patient", ids.local.front().system, ids.local.front().value);
    key = ids.local.front().system + "|" + ids.local.front().value;
  } else if (ids.nhs_number) {
    patient_id = derive_id("Patient", identity::NhsNumber::kSystem, ids.nhs_number->str());
  } else {
    return make_error("adt-no-patient-identifier",
                      "PID-3 holds no usable patient identifier (no hospital number and no valid "
                      "NHS number), so nothing was recorded; send the hospital number.");
  }

  MappingOutput out;
  out.issues = std::move(assessment.issues);
  const std::string trigger = trigger_event(msg);
  int64_t event_time_ms = 0;
  if (auto ms = fhir::hl7_to_epoch_ms(event_time_source(msg).value))
    event_time_ms = *ms;
  else if (auto sent = fhir::hl7_to_epoch_ms(msg.message_time()))
    event_time_ms = *sent;

  PatientResource patient = patient_resource(msg, *pid, msg.find("PD1"), ids, patient_id);
  MappedResource patient_out;
  patient_out.type = "Patient";
  patient_out.id = patient_id;
  patient_out.resource = std::move(patient.resource);
  patient_out.event_time_ms = event_time_ms;
  patient_out.patient_id = patient_id;
  patient_out.identifiers = std::move(patient.identifiers);
  out.resources.push_back(std::move(patient_out));

  if (!ids.rejected.empty()) {
    const RejectedNhsNumber& bad = ids.rejected.front();
    out.worklist_add.push_back({"invalid-nhs-number", patient_id,
                                describe(msg, feed) + ": PID-3 repetition " +
                                    std::to_string(bad.repetition) + " NHS number " + bad.value +
                                    " " + bad.problem + "; the patient is held under " + key +
                                    " only until the source sends a corrected NHS number."});
  } else if (ids.nhs_number) {
    out.worklist_resolve.emplace_back(patient_id, "no-nhs-number");
    out.worklist_resolve.emplace_back(patient_id, "invalid-nhs-number");
  } else {
    out.worklist_add.push_back({"no-nhs-number", patient_id,
                                describe(msg, feed) +
                                    " has no NHS number; the patient is held "
                                    "under " +
                                    key + " until a later message supplies one."});
  }

  if (has_encounter(trigger)) {
    const std::string authority = ids.local.empty() ? std::string() : ids.local.front().authority;
    if (auto encounter =
            encounter_resource(msg, trigger, patient_id, authority, feed, out.issues)) {
      MappedResource encounter_out;
      encounter_out.type = "Encounter";
      encounter_out.id = std::move(encounter->id);
      encounter_out.resource = std::move(encounter->resource);
      encounter_out.event_time_ms = event_time_ms;
      encounter_out.patient_id = patient_id;
      encounter_out.identifiers = std::move(encounter->identifiers);
      out.resources.push_back(std::move(encounter_out));
    }
  }
  return out;
}

}  // namespace cc::mapping
