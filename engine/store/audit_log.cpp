// AuditLog: append-only record of every disclosure of patient data (who, role, organisation,
// what, when), committed before the response leaves. Group-committed like the inbox.
#include "engine/store/audit_log.h"

namespace cc::store {

namespace {
constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL, org TEXT NOT NULL,
  purpose_of_use TEXT NOT NULL, action TEXT NOT NULL, query TEXT NOT NULL, patient_id TEXT NOT NULL,
  resources TEXT NOT NULL, outcome TEXT NOT NULL, peer TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_patient ON audit(patient_id, time_ms);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
)SQL";
}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& data_dir) {
  std::string path = data_dir + "/audit.db";
  try {
    auto db = std::make_unique<Database>(path, Database::Mode::ReadWrite);
    db->exec(kSchema);
    std::unique_ptr<AuditLog> log(new AuditLog());
    log->path_ = path;
    log->writer_ = std::make_unique<GroupCommitWriter>(std::move(db));
    return log;
  } catch (const SqliteError& e) {
    return make_error("audit-open", "Cannot open the audit log at " + path + ": " + e.what());
  }
}

AuditLog::~AuditLog() { stop(); }

void AuditLog::stop() {
  if (writer_) writer_->stop();
}

void AuditLog::append(AuditEntry e, std::function<void(Status)> done) {
  auto entry = std::make_shared<AuditEntry>(std::move(e));
  writer_->submit(
      [entry](Database& db) {
        auto& st = db.prepare(
            "INSERT INTO audit(time_ms, user, role, org, purpose_of_use, action, query, patient_id, resources, "
            "outcome, peer) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)");
        st.bind(1, entry->time_ms).bind(2, entry->user).bind(3, entry->role).bind(4, entry->org);
        st.bind(5, entry->purpose_of_use).bind(6, entry->action).bind(7, entry->query).bind(8, entry->patient_id);
        st.bind(9, entry->resources).bind(10, entry->outcome).bind(11, entry->peer);
        st.run();
      },
      std::move(done));
}

Result<std::vector<AuditEntry>> AuditLog::read_recent(const std::string& data_dir, int64_t limit) try {
  Database db(data_dir + "/audit.db", Database::Mode::ReadOnly);
  std::vector<AuditEntry> out;
  auto& st = db.prepare(
      "SELECT id, time_ms, user, role, org, purpose_of_use, action, query, patient_id, resources, outcome, peer "
      "FROM audit ORDER BY id DESC LIMIT ?1");
  st.bind(1, limit);
  while (st.step()) {
    AuditEntry e;
    e.id = st.int64(0);
    e.time_ms = st.int64(1);
    e.user = st.text(2);
    e.role = st.text(3);
    e.org = st.text(4);
    e.purpose_of_use = st.text(5);
    e.action = st.text(6);
    e.query = st.text(7);
    e.patient_id = st.text(8);
    e.resources = st.text(9);
    e.outcome = st.text(10);
    e.peer = st.text(11);
    out.push_back(std::move(e));
  }
  return out;
} catch (const SqliteError& e) {
  return make_error("audit-read", "Cannot read the audit log in " + data_dir + ": " + e.what());
}

}  // namespace cc::store
