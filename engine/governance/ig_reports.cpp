// See ig_reports.h.
#include "engine/governance/ig_reports.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace cc::governance {

std::vector<std::string> patients_of(const store::AuditEntry& e) {
  std::vector<std::string> out;
  std::istringstream in(e.patient_id);
  for (std::string id; in >> id;) out.push_back(id);
  return out;
}

std::string id_list(const std::set<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : " ") + id;
  return out;
}

std::vector<store::AuditEntry> merge_newest_first(std::vector<std::vector<store::AuditEntry>> lists) {
  std::map<int64_t, store::AuditEntry, std::greater<>> by_id;
  for (auto& list : lists)
    for (auto& e : list) by_id.emplace(e.id, std::move(e));
  std::vector<store::AuditEntry> out;
  out.reserve(by_id.size());
  for (auto& [id, e] : by_id) out.push_back(std::move(e));
  return out;
}

namespace {
bool is_disclosure(const std::string& action) {
  return action == "read" || action == "vread" || action == "history" || action == "search" || action == "everything";
}
bool has_token(const std::string& list, const std::string& token) {
  std::istringstream in(list);
  for (std::string t; in >> t;)
    if (t == token || t.rfind(token + ";", 0) == 0) return true;  // basis:access:break-glass;consent-overridden
  return false;
}
}  // namespace

std::vector<UnusualAccess> unusual_access(const std::vector<store::AuditEntry>& entries,
                                          const UnusualAccessThresholds& thresholds,
                                          const std::function<std::string(const std::string&)>& person_of) {
  struct Tally {
    UnusualAccess a;
    std::set<std::string> patients, looked_up, by_recorded;
  };
  std::map<std::string, Tally> users;
  std::map<std::string, std::string> person_cache;
  auto person = [&](const std::string& id) -> const std::string& {
    auto it = person_cache.find(id);
    if (it == person_cache.end()) it = person_cache.emplace(id, person_of ? person_of(id) : id).first;
    return it->second;
  };
  for (const store::AuditEntry& e : entries) {
    if (e.user.empty()) continue;
    Tally& t = users[e.user];
    if (t.a.user.empty()) {  // entries come newest first: the role and organisation they hold now
      t.a.user = e.user;
      t.a.role = e.role;
      t.a.org = e.org;
    }
    t.a.first_ms = t.a.first_ms == 0 ? e.time_ms : std::min(t.a.first_ms, e.time_ms);
    t.a.last_ms = std::max(t.a.last_ms, e.time_ms);
    if (e.outcome == "denied") ++t.a.refused;  // any refusal: records, accesses, reports, work-lists
    if (e.action == "access" && e.outcome == "permitted") {
      if (has_token(e.resources, "access:break-glass")) ++t.a.break_glass;
      if (has_token(e.resources, "access:self-declared")) ++t.a.self_declared;
    }
    if (!is_disclosure(e.action) || e.outcome != "disclosed") continue;
    // Demographics only (finding a patient): every item disclosed is a Patient.
    bool clinical = false;
    std::istringstream in(e.resources);
    for (std::string item; in >> item;)
      if (item.rfind("basis:", 0) != 0 && item.rfind("Patient/", 0) != 0) clinical = true;
    const bool recorded = has_token(e.resources, "basis:access:break-glass") ||
                          has_token(e.resources, "basis:access:self-declared");
    for (const std::string& id : patients_of(e)) {
      const std::string& p = person(id);
      (clinical ? t.patients : t.looked_up).insert(p);
      if (clinical && recorded) t.by_recorded.insert(p);
    }
  }
  std::vector<UnusualAccess> out;
  for (auto& [user, t] : users) {
    t.a.patients = static_cast<int64_t>(t.patients.size());
    t.a.looked_up = static_cast<int64_t>(t.looked_up.size());
    t.a.by_recorded = static_cast<int64_t>(t.by_recorded.size());
    if (t.a.patients >= thresholds.patients)
      t.a.reasons.push_back("shown the records of " + std::to_string(t.a.patients) + " patients (threshold " +
                            std::to_string(thresholds.patients) + ")");
    if (t.a.looked_up >= thresholds.patients)
      t.a.reasons.push_back("looked up " + std::to_string(t.a.looked_up) + " patients (threshold " +
                            std::to_string(thresholds.patients) + ")");
    if (t.a.by_recorded >= thresholds.recorded)
      t.a.reasons.push_back("opened " + std::to_string(t.a.by_recorded) +
                            " patients' records by self-declared or break-glass access (threshold " +
                            std::to_string(thresholds.recorded) + ")");
    if (t.a.refused >= thresholds.refused)
      t.a.reasons.push_back("refused " + std::to_string(t.a.refused) + " times (threshold " +
                            std::to_string(thresholds.refused) + ")");
    if (!t.a.reasons.empty()) out.push_back(std::move(t.a));
  }
  std::sort(out.begin(), out.end(), [](const UnusualAccess& a, const UnusualAccess& b) {
    return a.patients + a.looked_up != b.patients + b.looked_up ? a.patients + a.looked_up > b.patients + b.looked_up
                                                                : a.user < b.user;
  });
  return out;
}

}  // namespace cc::governance
