// The unusual-access report over audit entries: distinct patients per user (a person and their
// registrations once), demographics look-ups apart from records, patients opened by their own
// say-so, refusals; only users passing a threshold are listed, each with why.
#include <gtest/gtest.h>

#include "engine/governance/ig_reports.h"

namespace cc::governance {
namespace {

store::AuditEntry entry(int64_t id, const std::string& user, const std::string& action, const std::string& outcome,
                        const std::string& patients, const std::string& resources) {
  store::AuditEntry e;
  e.id = id;
  e.time_ms = 1'700'000'000'000 + id * 1000;
  e.user = user;
  e.role = "ae-clinician";
  e.org = "RBT";
  e.action = action;
  e.outcome = outcome;
  e.patient_id = patients;
  e.resources = resources;
  return e;
}

TEST(UnusualAccess, CountsPeopleNotRegistrationsAndSaysWhy) {
  std::vector<store::AuditEntry> entries;
  int64_t id = 0;
  // dr.curious: opens 6 patients by break-glass, and looks up 3 more.
  for (int p = 0; p < 6; ++p) {
    entries.push_back(entry(++id, "dr.curious", "access", "permitted", "P" + std::to_string(p), "access:break-glass"));
    entries.push_back(entry(++id, "dr.curious", "search", "disclosed", "P" + std::to_string(p) + " R" + std::to_string(p),
                            "Encounter/e" + std::to_string(p) + "/_history/1 basis:access:break-glass;consent-overridden"));
  }
  for (int p = 6; p < 9; ++p)
    entries.push_back(entry(++id, "dr.curious", "search", "disclosed", "P" + std::to_string(p),
                            "Patient/P" + std::to_string(p) + "/_history/0"));
  // dr.usual: the same patient many times, through a relationship, and one refusal.
  for (int i = 0; i < 30; ++i)
    entries.push_back(entry(++id, "dr.usual", "read", "disclosed", "P0", "Observation/o1/_history/1 basis:open-encounter"));
  entries.push_back(entry(++id, "dr.usual", "search", "denied", "P7", ""));
  // A registration R{n} belongs to person P{n}.
  auto person_of = [](const std::string& id) { return id[0] == 'R' ? "P" + id.substr(1) : id; };

  UnusualAccessThresholds t;
  t.patients = 5;
  t.recorded = 5;
  t.refused = 2;
  auto flagged = unusual_access(entries, t, person_of);
  ASSERT_EQ(flagged.size(), 1u);
  const UnusualAccess& a = flagged[0];
  EXPECT_EQ(a.user, "dr.curious");
  EXPECT_EQ(a.patients, 6) << "a person and their registration count once";
  EXPECT_EQ(a.looked_up, 3);
  EXPECT_EQ(a.by_recorded, 6);
  EXPECT_EQ(a.break_glass, 6);
  EXPECT_EQ(a.refused, 0);
  ASSERT_EQ(a.reasons.size(), 2u);
  EXPECT_NE(a.reasons[0].find("shown the records of 6 patients"), std::string::npos) << a.reasons[0];
  EXPECT_NE(a.reasons[1].find("break-glass"), std::string::npos) << a.reasons[1];

  t.refused = 1;
  flagged = unusual_access(entries, t, person_of);
  ASSERT_EQ(flagged.size(), 2u);
  EXPECT_EQ(flagged[1].user, "dr.usual");
  EXPECT_EQ(flagged[1].patients, 1);
  EXPECT_EQ(flagged[1].refused, 1);
}

TEST(PatientAccess, EntriesFromSeveralIdsMergeNewestFirstOnce) {
  std::vector<store::AuditEntry> person{entry(5, "a", "read", "disclosed", "P", ""), entry(2, "a", "read", "disclosed", "P R", "")};
  std::vector<store::AuditEntry> registration{entry(3, "b", "search", "disclosed", "R", ""),
                                              entry(2, "a", "read", "disclosed", "P R", "")};
  auto merged = merge_newest_first({person, registration});
  ASSERT_EQ(merged.size(), 3u);
  EXPECT_EQ(merged[0].id, 5);
  EXPECT_EQ(merged[1].id, 3);
  EXPECT_EQ(merged[2].id, 2);
}

}  // namespace
}  // namespace cc::governance
