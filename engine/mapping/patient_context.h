// The patient a message is about, read from its PID segment the same way for every message
// type: which checks make the ACK AE, which id the patient is held under, and which data-quality
// work-list items the message opens or resolves. Mapping files build resources around it.
#pragma once
#include <optional>
#include <string>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/patient_identifiers.h"
#include "engine/mapping/types.h"

namespace cc::mapping {

struct PatientContext {
  size_t pid = 0;               // the PID segment
  PatientIdentifiers ids;
  std::string id;               // the Patient resource id the message's data belongs to
  std::string key;              // "system|value" the patient is held under (for sentences)
  std::string authority;        // the first local identifier's assigning authority
};

// Adds the issues about the patient (no PID, no identifier, an NHS number failing its check).
// `what` names the message in sentences, e.g. "ADT^A01".
void assess_patient(const hl7v2::Message& msg, const FeedContext& feed, const std::string& what,
                    std::vector<Issue>& issues);

// The patient, or nullopt (with the reason in `why`) when the message names none usable.
std::optional<PatientContext> read_patient(const hl7v2::Message& msg, const FeedContext& feed,
                                           std::string& why);

// The work-list items a message about this patient opens or resolves.
void patient_worklist(const hl7v2::Message& msg, const FeedContext& feed, const std::string& what,
                      const PatientContext& patient, MappingOutput& out);

}  // namespace cc::mapping
