// AccessGrants: the accesses readers record (POST /fhir/Patient/{id}/$access) — permission to view,
// self-declared, break-glass — each for one user and one patient until it expires, durable in
// DATA_DIR/governance.db; the self-declared and break-glass ones wait for an IG officer's review.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/result.h"
#include "engine/store/sqlite.h"

namespace cc::governance {

struct AccessGrant {
  int64_t id = 0;
  std::string user, role, org;
  std::string patient_id;  // the patient as the index reads it (a regional patient, or a registration standing alone)
  std::string kind;        // permission-to-view, self-declared, break-glass
  std::string reason;
  int64_t granted_ms = 0, expires_ms = 0;
  int64_t reviewed_ms = 0;  // 0: not reviewed (only self-declared and break-glass are reviewed)
  std::string reviewer, review_note;
};

class AccessGrants {
 public:
  static Result<std::unique_ptr<AccessGrants>> open(const std::string& data_dir);

  // Stores the grant (durably) and returns it with its id.
  Result<AccessGrant> record(AccessGrant grant);
  // The user's latest unexpired grant for the patient.
  std::optional<AccessGrant> active(const std::string& user, const std::string& patient_id, int64_t now_ms);
  // Self-declared and break-glass grants, newest first: awaiting review only, or all.
  std::vector<AccessGrant> for_review(bool awaiting_only, int64_t limit);
  // Marks a self-declared or break-glass grant reviewed. Errors: "not-found", "invalid" (already
  // reviewed, or a permission to view, which needs no review).
  Result<AccessGrant> mark_reviewed(int64_t id, const std::string& reviewer, const std::string& note, int64_t now_ms);

 private:
  explicit AccessGrants(std::unique_ptr<store::Database> db) : db_(std::move(db)) {}
  std::optional<AccessGrant> by_id(int64_t id);
  std::mutex mu_;
  std::unique_ptr<store::Database> db_;
};

}  // namespace cc::governance
