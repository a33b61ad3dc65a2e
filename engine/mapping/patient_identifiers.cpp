// PID-3 read once for both the ACK decision and the mapping.
// See patient_identifiers.h.
#include "engine/mapping/patient_identifiers.h"

#include <set>

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

// The CX-4 assigning authority whose system applies: the namespace id, unless only the universal
// id is configured (or sent).
std::string authority_of(const hl7v2::Message& msg, size_t pid, int rep, const FeedContext& feed) {
  std::string namespace_id = text(msg, pid, 3, rep, 4, 1);
  std::string universal_id = text(msg, pid, 3, rep, 4, 2);
  const std::string type = text(msg, pid, 3, rep, 5);
  if (namespace_id.empty() || (!feed.declares(namespace_id, type) && !universal_id.empty() &&
                               feed.declares(universal_id, type))) {
    return universal_id;
  }
  return namespace_id;
}

}  // namespace

PatientIdentifiers read_patient_identifiers(const hl7v2::Message& msg, size_t pid,
                                            const FeedContext& feed) {
  PatientIdentifiers ids;
  std::set<std::pair<std::string, std::string>> seen;  // (system, value) of the local ones kept
  const int reps = msg.repetition_count(pid, 3);
  for (int rep = 1; rep <= reps; ++rep) {
    const std::string value = text(msg, pid, 3, rep, 1);
    if (value.empty()) continue;
    if (is_nhs_repetition(msg, pid, rep)) {
      auto nhs = identity::NhsNumber::parse(value);
      if (!nhs)
        ids.rejected.push_back({rep, value, problem_with(nhs.error())});
      else if (!ids.nhs_number)
        ids.nhs_number = std::move(nhs).value();
      continue;
    }
    const std::string type = text(msg, pid, 3, rep, 5);
    std::string authority = authority_of(msg, pid, rep, feed);
    LocalIdentifier id{rep, feed.system_for(authority, type), value, type, std::move(authority)};
    if (seen.emplace(id.system, id.value).second) ids.local.push_back(std::move(id));
  }
  return ids;
}

}  // namespace cc::mapping
