// AuditLog: append-only record of every disclosure of patient data (who, role, organisation,
// what, when), committed before the response leaves. Group-committed like the inbox.
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
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> open(const std::string& data_dir);
  ~AuditLog();
  // Calls `done` on the writer thread once the entry is durable (or could not be written).
  void append(AuditEntry entry, std::function<void(Status)> done);
  void stop();
  // The newest entries, read from DIR/audit.db without opening it for writing.
  static Result<std::vector<AuditEntry>> read_recent(const std::string& data_dir, int64_t limit);

 private:
  AuditLog() = default;
  std::unique_ptr<GroupCommitWriter> writer_;
  std::string path_;
};

}  // namespace cc::store
