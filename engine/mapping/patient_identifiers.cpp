// PID-3 read once for both the ACK decision and the mapping.
// See patient_identifiers.h.
#include "engine/mapping/patient_identifiers.h"

#include <algorithm>

#include "engine/mapping/v2_datatypes.h"

namespace cc::mapping {

namespace {

constexpr std::string_view kNhsNumberOid = "2.16.840.1.113883.2.1.4.1";

bool is_nhs_repetition(const hl7v2::Message& msg, size_t pid, int rep) {
  const std::string type = text(msg, pid, 3, rep, 5);
  return type == "NH" || type == "NHS" || text(msg, pid, 3, rep, 4, 1) == "NHS" ||
         text(msg, pid, 3, rep, 4, 2) == kNhsNumberOid;
}

std::string problem_with(const Error& error) {
  if (error.code == "nhs-number-length") return "is not 10 digits";
  if (error.code == "nhs-number-not-digits") return "contains characters other than digits";
  return "fails the Modulus 11 check";
}

// The system for a CX-4 assigning authority: a configured namespace id, else a configured
// universal id, else the feed's default for whichever of the two was sent.
std::string local_system(const hl7v2::Message& msg, size_t pid, int rep,
                         const FeedContext& feed) {
  const std::string namespace_id = text(msg, pid, 3, rep, 4, 1);
  const std::string universal_id = text(msg, pid, 3, rep, 4, 2);
  if (!namespace_id.empty() && feed.authority_systems.count(namespace_id)) {
    return feed.system_for(namespace_id);
  }
  if (!universal_id.empty() && feed.authority_systems.count(universal_id)) {
    return feed.system_for(universal_id);
  }
  return feed.system_for(namespace_id.empty() ? universal_id : namespace_id);
}

}  // namespace

PatientIdentifiers read_patient_identifiers(const hl7v2::Message& msg, size_t pid,
                                            const FeedContext& feed) {
  PatientIdentifiers ids;
  const int reps = msg.repetition_count(pid, 3);
  for (int rep = 1; rep <= reps; ++rep) {
    const std::string value = text(msg, pid, 3, rep, 1);
    if (value.empty()) continue;
    if (is_nhs_repetition(msg, pid, rep)) {
      auto nhs = identity::NhsNumber::parse(value);
      if (!nhs) ids.rejected.push_back({rep, value, problem_with(nhs.error())});
      else if (!ids.nhs_number) ids.nhs_number = std::move(nhs).value();
      continue;
    }
    LocalIdentifier id{rep, local_system(msg, pid, rep, feed), value, text(msg, pid, 3, rep, 5)};
    const bool seen = std::any_of(ids.local.begin(), ids.local.end(), [&](const auto& other) {
      return other.system == id.system && other.value == id.value;
    });
    if (!seen) ids.local.push_back(std::move(id));
  }
  return ids;
}

}  // namespace cc::mapping
