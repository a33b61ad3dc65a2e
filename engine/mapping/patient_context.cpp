// See patient_context.h. The sentences are for the analyst who reads the ACK or the work-list.
#include "engine/mapping/patient_context.h"

#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping {

namespace {

std::string describe(const hl7v2::Message& msg, const FeedContext& feed, const std::string& what) {
  return "Message " + msg.control_id() + " (" + what + " from " + msg.sending_application() +
         " at " + msg.sending_facility() + ", feed " + feed.feed + ")";
}

}  // namespace

void assess_patient(const hl7v2::Message& msg, const FeedContext& feed, const std::string& what,
                    std::vector<Issue>& issues) {
  const auto pid = msg.find("PID");
  if (!pid) {
    issues.push_back(Issue{true, 100,
                           "The " + what +
                               " message has no PID segment, so there is no patient to record; "
                               "the sending system must send PID in every " +
                               msg.message_code() + " message.",
                           hl7v2::Location{"PID"}});
    return;
  }
  const PatientIdentifiers ids = read_patient_identifiers(msg, *pid, feed);
  if (!ids.nhs_number && ids.rejected.empty() && ids.local.empty()) {
    issues.push_back(Issue{true, 101,
                           "PID-3 (patient identifier list) is empty; send at least the "
                           "hospital number so the patient can be recorded.",
                           hl7v2::Location{"PID", 1, 3}});
  }
  for (const RejectedNhsNumber& nhs : ids.rejected) {
    issues.push_back(Issue{true, 102,
                           "PID-3 repetition " + std::to_string(nhs.repetition) + ": NHS number " +
                               nhs.value + " " + nhs.problem +
                               "; correct it at source and send an A08 update.",
                           hl7v2::Location{"PID", 1, 3, nhs.repetition}});
  }
  if (!ids.nhs_number && !ids.rejected.empty() && ids.local.empty()) {
    issues.push_back(Issue{true, 101,
                           "PID-3 has no identifier other than an invalid NHS number, so the "
                           "patient cannot be recorded; send the hospital number as well.",
                           hl7v2::Location{"PID", 1, 3}});
  }
}

std::optional<PatientContext> read_patient(const hl7v2::Message& msg, const FeedContext& feed,
                                           std::string& why) {
  const auto pid = msg.find("PID");
  if (!pid) {
    why = "The message has no PID segment, so there is no patient to record.";
    return std::nullopt;
  }
  PatientContext p;
  p.pid = *pid;
  p.ids = read_patient_identifiers(msg, *pid, feed);
  if (!p.ids.local.empty()) {
    const LocalIdentifier& first = p.ids.local.front();
    p.id = derive_id("Patient", first.system, first.value);
    p.key = first.system + "|" + first.value;
    p.authority = first.authority;
  } else if (p.ids.nhs_number) {
    p.id = derive_id("Patient", identity::NhsNumber::kSystem, p.ids.nhs_number->str());
    p.key = std::string(identity::NhsNumber::kSystem) + "|" + p.ids.nhs_number->str();
  } else {
    why = "PID-3 holds no usable patient identifier (no hospital number and no valid NHS number), "
          "so nothing was recorded; send the hospital number.";
    return std::nullopt;
  }
  return p;
}

void patient_worklist(const hl7v2::Message& msg, const FeedContext& feed, const std::string& what,
                      const PatientContext& patient, MappingOutput& out) {
  if (!patient.ids.rejected.empty()) {
    const RejectedNhsNumber& bad = patient.ids.rejected.front();
    out.worklist_add.push_back({"invalid-nhs-number", patient.id,
                                describe(msg, feed, what) + ": PID-3 repetition " +
                                    std::to_string(bad.repetition) + " NHS number " + bad.value +
                                    " " + bad.problem + "; the patient is held under " +
                                    patient.key +
                                    " only until the source sends a corrected NHS number."});
  } else if (patient.ids.nhs_number) {
    out.worklist_resolve.emplace_back(patient.id, "no-nhs-number");
    out.worklist_resolve.emplace_back(patient.id, "invalid-nhs-number");
  } else {
    out.worklist_add.push_back({"no-nhs-number", patient.id,
                                describe(msg, feed, what) +
                                    " has no NHS number; the patient is held under " +
                                    patient.key + " until a later message supplies one."});
  }
}

}  // namespace cc::mapping
