// AuditLog: append-only record of every disclosure of patient data (who, role, organisation,
// what, when), committed before the response leaves. Group-committed like the inbox.
//
// Tamper-evident: each entry carries hash = SHA-256(previous entry's hash, the entry's canonical
// form, its id included), computed inside the transaction that writes it; every kCheckpointEvery
// entries a checkpoint signs (Ed25519, a key kept in DIR/audit-signing.key) the id and hash reached.
// verify() walks the chain and the checkpoints and names the first entry that does not hold.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/result.h"
#include "engine/store/group_commit.h"

namespace cc::store {

struct AuditEntry {
  int64_t id = 0;
  int64_t time_ms = 0;
  std::string user;
  std::string role;
  std::string org;
  std::string purpose_of_use;
  std::string action;      // read, vread, search, history
  std::string query;       // the request path and query as received
  std::string patient_id;  // the patient whose data was disclosed ("" for none)
  std::string resources;   // Type/id list disclosed, space separated
  std::string outcome;     // disclosed, denied, not-found
  std::string peer;
  std::string prev_hash;   // the chain (hex); set by the log
  std::string hash;
};

// What the IG officer searches the trail by (empty / 0: any).
struct AuditFilter {
  std::string patient_id;
  std::string user;
  std::string org;
  std::string outcome;
  std::string action;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
};

// What verify() found.
struct AuditVerification {
  bool ok = true;
  int64_t entries = 0;      // entries checked
  int64_t checkpoints = 0;  // signed checkpoints checked
  int64_t first_bad = 0;    // the first entry that does not hold (0 when ok)
  std::string problem;      // why, a sentence for the IG officer
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const std::string& data_dir);
  ~AuditLog();
  // Calls `done` on the writer thread once the entry is durable (or could not be written).
  void append(AuditEntry entry, std::function<void(Status)> done);
  // Several entries in order, in one transaction (one flush to disk): all are written or none.
  void append_all(std::vector<AuditEntry> entries, std::function<void(Status)> done);
  void stop();
  // The newest entries, read from DIR/audit.db without opening it for writing.
  static Result<std::vector<AuditEntry>> read_recent(const std::string& data_dir, int64_t limit);
  // Proves the chain of DIR/audit.db, read-only: every entry's hash from its content and the one
  // before, ids without gaps, and every checkpoint's signature and hash. Error only when the log
  // cannot be read at all.
  // `public_key_file`: the checkpoint key's public half (PEM) kept elsewhere; empty: the key beside
  // the log.
  static Result<AuditVerification> verify(const std::string& data_dir, const std::string& public_key_file = "");
  // Entries matching the filter, newest first, and how many match in all.
  Result<std::pair<std::vector<AuditEntry>, int64_t>> search(const AuditFilter& filter, int64_t offset,
                                                             int64_t count) const;
  // The canonical form an entry's hash covers (id, time and every field, length-prefixed).
  static std::string canonical(const AuditEntry& e);
  static constexpr int64_t kCheckpointEvery = 1000;

 private:
  AuditLog() = default;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::string path_;
  std::shared_ptr<void> signing_key_;  // EVP_PKEY (Ed25519), shared with the writer's jobs
};

}  // namespace cc::store
