// See access_grants.h.
#include "engine/governance/access_grants.h"

namespace cc::governance {

namespace {
constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS access_grant (
  id INTEGER PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, org TEXT NOT NULL, patient_id TEXT NOT NULL,
  kind TEXT NOT NULL, reason TEXT NOT NULL, granted_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  reviewed_ms INTEGER NOT NULL DEFAULT 0, reviewer TEXT NOT NULL DEFAULT '', review_note TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS grant_by_user_patient ON access_grant(user, patient_id, expires_ms);
CREATE INDEX IF NOT EXISTS grant_for_review ON access_grant(reviewed_ms, id) WHERE kind <> 'permission-to-view';
)SQL";

constexpr const char* kColumns =
    "id, user, role, org, patient_id, kind, reason, granted_ms, expires_ms, reviewed_ms, reviewer, review_note";

AccessGrant grant_from(store::Statement& st) {
  AccessGrant g;
  g.id = st.int64(0);
  g.user = std::string(st.text(1));
  g.role = std::string(st.text(2));
  g.org = std::string(st.text(3));
  g.patient_id = std::string(st.text(4));
  g.kind = std::string(st.text(5));
  g.reason = std::string(st.text(6));
  g.granted_ms = st.int64(7);
  g.expires_ms = st.int64(8);
  g.reviewed_ms = st.int64(9);
  g.reviewer = std::string(st.text(10));
  g.review_note = std::string(st.text(11));
  return g;
}
}  // namespace

Result<std::unique_ptr<AccessGrants>> AccessGrants::open(const std::string& data_dir) {
  const std::string path = data_dir + "/governance.db";
  try {
    auto db = std::make_unique<store::Database>(path, store::Database::Mode::ReadWrite);
    db->exec(kSchema);
    return std::unique_ptr<AccessGrants>(new AccessGrants(std::move(db)));
  } catch (const store::SqliteError& e) {
    return make_error("governance-open", "Cannot open the governance store at " + path + ": " + e.what());
  }
}

Result<AccessGrant> AccessGrants::record(AccessGrant g) {
  std::lock_guard lk(mu_);
  try {
    auto& st = db_->prepare(
        "INSERT INTO access_grant(user, role, org, patient_id, kind, reason, granted_ms, expires_ms) "
        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
    st.bind(1, g.user).bind(2, g.role).bind(3, g.org).bind(4, g.patient_id).bind(5, g.kind).bind(6, g.reason);
    st.bind(7, g.granted_ms).bind(8, g.expires_ms);
    st.run();
    g.id = db_->last_insert_id();
    return g;
  } catch (const store::SqliteError& e) {
    return make_error("governance-write", std::string("The access could not be recorded: ") + e.what());
  }
}

std::optional<AccessGrant> AccessGrants::active(const std::string& user, const std::string& patient_id,
                                                int64_t now_ms) {
  std::lock_guard lk(mu_);
  auto& st = db_->prepare(std::string("SELECT ") + kColumns +
                          " FROM access_grant WHERE user=?1 AND patient_id=?2 AND expires_ms>?3 ORDER BY id DESC LIMIT 1");
  st.bind(1, user).bind(2, patient_id).bind(3, now_ms);
  std::optional<AccessGrant> g;
  if (st.step()) g = grant_from(st);
  st.reset();
  return g;
}

std::vector<AccessGrant> AccessGrants::for_review(bool awaiting_only, int64_t limit) {
  std::lock_guard lk(mu_);
  std::vector<AccessGrant> out;
  auto& st = db_->prepare(std::string("SELECT ") + kColumns +
                          " FROM access_grant WHERE kind <> 'permission-to-view' AND (?1=0 OR reviewed_ms=0) "
                          "ORDER BY id DESC LIMIT ?2");
  st.bind(1, int64_t(awaiting_only ? 1 : 0)).bind(2, limit);
  while (st.step()) out.push_back(grant_from(st));
  st.reset();
  return out;
}

std::optional<AccessGrant> AccessGrants::by_id(int64_t id) {
  auto& st = db_->prepare(std::string("SELECT ") + kColumns + " FROM access_grant WHERE id=?1");
  st.bind(1, id);
  std::optional<AccessGrant> g;
  if (st.step()) g = grant_from(st);
  st.reset();
  return g;
}

Result<AccessGrant> AccessGrants::mark_reviewed(int64_t id, const std::string& reviewer, const std::string& note,
                                                int64_t now_ms) {
  std::lock_guard lk(mu_);
  try {
    auto g = by_id(id);
    if (!g) return make_error("not-found", "No recorded access has id " + std::to_string(id) + ".");
    if (g->kind == "permission-to-view")
      return make_error("invalid", "Access " + std::to_string(id) + " is a permission to view, which needs no review.");
    if (g->reviewed_ms)
      return make_error("invalid", "Access " + std::to_string(id) + " was reviewed already, by " + g->reviewer + ".");
    auto& st = db_->prepare("UPDATE access_grant SET reviewed_ms=?2, reviewer=?3, review_note=?4 WHERE id=?1");
    st.bind(1, id).bind(2, now_ms).bind(3, reviewer).bind(4, note);
    st.run();
    g->reviewed_ms = now_ms;
    g->reviewer = reviewer;
    g->review_note = note;
    return *g;
  } catch (const store::SqliteError& e) {
    return make_error("governance-write", std::string("The review could not be recorded: ") + e.what());
  }
}

}  // namespace cc::governance
