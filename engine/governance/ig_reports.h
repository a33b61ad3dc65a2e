// The IG officer's reports over the audit trail: every access to one patient (for a subject access
// request), and unusual access (a user shown many patients, many by their own say-so, or often
// refused). Pure functions over audit entries; DisclosureService fetches, authorises and audits.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "engine/store/audit_log.h"

namespace cc::governance {

// The patient ids an entry names (its space-separated list).
std::vector<std::string> patients_of(const store::AuditEntry& e);
// The other way: ids as an entry's space-separated list.
std::string id_list(const std::set<std::string>& ids);

// The entries naming any of `ids` (a person and their registrations), newest first, each once.
std::vector<store::AuditEntry> merge_newest_first(std::vector<std::vector<store::AuditEntry>> lists);

struct UnusualAccessThresholds {
  int64_t patients = 50;  // distinct patients whose records a user was shown in the period
  int64_t recorded = 5;   // distinct patients a user opened by self-declared or break-glass access
  int64_t refused = 20;   // refusals (no relationship, dissent, role)
};

struct UnusualAccess {
  std::string user, role, org;
  int64_t patients = 0;        // distinct patients whose records they were shown (demographics aside)
  int64_t looked_up = 0;       // distinct patients whose demographics they were shown (finding a patient)
  int64_t by_recorded = 0;     // distinct patients shown on a self-declared or break-glass basis
  int64_t break_glass = 0;     // break-glass accesses recorded
  int64_t self_declared = 0;   // self-declared accesses recorded
  int64_t refused = 0;         // requests refused (records, accesses, reports, work-lists, admin)
  int64_t first_ms = 0, last_ms = 0;
  std::vector<std::string> reasons;  // which thresholds it passed, as sentences
};

// Users whose activity in `entries` (newest first) passes a threshold, most patients first; role
// and organisation as in their newest entry. `person_of` reads a
// registration's person, so a person and their registrations count once.
std::vector<UnusualAccess> unusual_access(const std::vector<store::AuditEntry>& entries,
                                          const UnusualAccessThresholds& thresholds,
                                          const std::function<std::string(const std::string&)>& person_of);

}  // namespace cc::governance
