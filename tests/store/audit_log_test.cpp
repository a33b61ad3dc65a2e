// AuditLog tests: an append completes only once its row is durable and readable by another
// connection, and the audit table itself refuses UPDATE and DELETE.
#include "engine/store/audit_log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <string>

#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;
using testing::wait_for;

AuditEntry entry(const std::string& user, const std::string& patient) {
  AuditEntry e;
  e.time_ms = 1'700'000'123'456;
  e.user = user;
  e.role = "clinician";
  e.org = "RXX";
  e.purpose_of_use = "TREAT";
  e.action = "read";
  e.query = "/fhir/Patient/" + patient;
  e.patient_id = patient;
  e.resources = "Patient/" + patient;
  e.outcome = "disclosed";
  e.peer = "127.0.0.1:5555";
  return e;
}

std::unique_ptr<AuditLog> open_log(const TempDir& dir) {
  auto r = AuditLog::open(dir.path());
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return nullptr;
  }
  return std::move(r).value();
}

TEST(AuditLog, AppendCompletesOnlyOnceRowIsReadable) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);

  // Read back from inside the completion: by the time it fires the row must already be committed.
  std::promise<std::pair<Status, Result<std::vector<AuditEntry>>>> p;
  auto f = p.get_future();
  log->append(entry("dr.who", "pat-1"), [&](Status st) {
    p.set_value({st, AuditLog::read_recent(dir.path(), 10)});
  });
  auto [st, seen] = wait_for(f);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  const AuditEntry& e = seen->front();
  EXPECT_GT(e.id, 0);
  EXPECT_EQ(e.time_ms, 1'700'000'123'456);
  EXPECT_EQ(e.user, "dr.who");
  EXPECT_EQ(e.role, "clinician");
  EXPECT_EQ(e.org, "RXX");
  EXPECT_EQ(e.purpose_of_use, "TREAT");
  EXPECT_EQ(e.action, "read");
  EXPECT_EQ(e.query, "/fhir/Patient/pat-1");
  EXPECT_EQ(e.patient_id, "pat-1");
  EXPECT_EQ(e.resources, "Patient/pat-1");
  EXPECT_EQ(e.outcome, "disclosed");
  EXPECT_EQ(e.peer, "127.0.0.1:5555");

  // And again from the test thread after the completion.
  auto again = AuditLog::read_recent(dir.path(), 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().user, "dr.who");
}

TEST(AuditLog, ReadRecentIsNewestFirstAndLimited) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) log->append(entry("u" + std::to_string(i), "p"), [&](Status st) { ok += st ? 1 : 0; });
  log->stop();
  EXPECT_EQ(ok.load(), 20);
  auto recent = AuditLog::read_recent(dir.path(), 3);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].user, "u19");
  EXPECT_EQ((*recent)[1].user, "u18");
  EXPECT_EQ((*recent)[2].user, "u17");
  EXPECT_GT((*recent)[0].id, (*recent)[1].id);
  auto all = AuditLog::read_recent(dir.path(), 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 20u);
}

TEST(AuditLog, EntriesSurviveReopen) {
  TempDir dir;
  {
    auto log = open_log(dir);
    ASSERT_TRUE(log);
    std::promise<Status> p;
    auto f = p.get_future();
    log->append(entry("first", "p1"), [&](Status st) { p.set_value(st); });
    ASSERT_TRUE(wait_for(f).ok());
  }
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  std::promise<Status> p;
  auto f = p.get_future();
  log->append(entry("second", "p2"), [&](Status st) { p.set_value(st); });
  ASSERT_TRUE(wait_for(f).ok());
  auto all = AuditLog::read_recent(dir.path(), 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].user, "second");
  EXPECT_EQ((*all)[1].user, "first");
}

TEST(AuditLog, AppendAfterStopIsRefusedAndNotWritten) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  log->stop();
  bool called = false;
  Status got;
  log->append(entry("late", "p"), [&](Status st) {
    called = true;
    got = st;
  });
  ASSERT_TRUE(called);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "shutting-down");
  auto all = AuditLog::read_recent(dir.path(), 10);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(AuditLog, ReadRecentWithoutDatabaseIsAnError) {
  TempDir dir;
  auto r = AuditLog::read_recent(dir.path(), 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "audit-read");
  EXPECT_FALSE(std::filesystem::exists(dir.file("audit.db"))) << "reading must not create the log";
}

int exec(sqlite3* db, const char* sql, std::string* err) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (msg) {
    *err = msg;
    sqlite3_free(msg);
  }
  return rc;
}

TEST(AuditLog, TableRefusesUpdateAndDelete) {
  TempDir dir;
  {
    auto log = open_log(dir);
    ASSERT_TRUE(log);
    std::promise<Status> p;
    auto f = p.get_future();
    log->append(entry("dr.who", "pat-1"), [&](Status st) { p.set_value(st); });
    ASSERT_TRUE(wait_for(f).ok());
    log->stop();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.file("audit.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  std::string err;
  int rc = exec(db, "UPDATE audit SET user='someone-else', outcome='denied'", &err);
  EXPECT_EQ(rc & 0xff, SQLITE_CONSTRAINT) << err;
  EXPECT_NE(err.find("append-only"), std::string::npos) << err;
  err.clear();
  rc = exec(db, "DELETE FROM audit", &err);
  EXPECT_EQ(rc & 0xff, SQLITE_CONSTRAINT) << err;
  EXPECT_NE(err.find("append-only"), std::string::npos) << err;
  // Inserting is still allowed (append).
  err.clear();
  EXPECT_EQ(exec(db,
                 "INSERT INTO audit(time_ms,user,role,org,purpose_of_use,action,query,patient_id,resources,outcome,"
                 "peer) VALUES (1,'x','r','o','p','read','q','pat-2','','disclosed','')",
                 &err),
            SQLITE_OK)
      << err;
  sqlite3_close(db);

  auto all = AuditLog::read_recent(dir.path(), 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].user, "dr.who");
  EXPECT_EQ((*all)[1].outcome, "disclosed");
}

}  // namespace
}  // namespace cc::store

namespace cc::store {
namespace {

// Appends n entries and waits until the last is durable.
void append_many(AuditLog& log, int n) {
  std::promise<void> done;
  auto f = done.get_future();
  std::atomic<int> left{n};
  for (int i = 0; i < n; ++i) {
    log.append(entry("dr." + std::to_string(i % 7), "pat-" + std::to_string(i)), [&](Status st) {
      EXPECT_TRUE(st.ok());
      if (--left == 0) done.set_value();
    });
  }
  wait_for(f);
}

// Runs SQL on the audit database as someone with file access would: the append-only triggers
// dropped first, as a tamperer would.
void tamper(const TempDir& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() + "/audit.db").c_str(), &db), SQLITE_OK);
  const std::string all =
      "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; "
      "DROP TRIGGER IF EXISTS audit_checkpoint_no_update; DROP TRIGGER IF EXISTS audit_checkpoint_no_delete; " + sql;
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(AuditChain, AnUntouchedLogVerifiesWithItsSignedCheckpoint) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, static_cast<int>(AuditLog::kCheckpointEvery) + 5);
  log->stop();
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_EQ(v->entries, AuditLog::kCheckpointEvery + 5);
  EXPECT_EQ(v->checkpoints, 1);
}

TEST(AuditChain, AChangedEntryIsNamed) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, 20);
  log->stop();
  tamper(dir, "UPDATE audit SET user = 'someone.else' WHERE id = 7;");
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, 7);
  EXPECT_NE(v->problem.find("changed"), std::string::npos) << v->problem;
}

TEST(AuditChain, ADeletedEntryIsNamed) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, 20);
  log->stop();
  tamper(dir, "DELETE FROM audit WHERE id = 12;");
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, 12);
  EXPECT_NE(v->problem.find("deleted"), std::string::npos) << v->problem;
}

TEST(AuditChain, ReorderedEntriesAreFound) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, 20);
  log->stop();
  // Entries 5 and 6 swap places, content, links and hashes all moved with them.
  tamper(dir,
         "UPDATE audit SET id = -5 WHERE id = 5; UPDATE audit SET id = 5 WHERE id = 6; "
         "UPDATE audit SET id = 6 WHERE id = -5;");
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, 5);
}

TEST(AuditChain, ARewrittenChainFailsItsSignedCheckpoint) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, static_cast<int>(AuditLog::kCheckpointEvery));
  log->stop();
  // A tamperer who recomputes every hash after a change still cannot re-sign the checkpoint.
  tamper(dir, "UPDATE audit_checkpoint SET hash = '00' || substr(hash, 3);");
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, AuditLog::kCheckpointEvery);
  EXPECT_NE(v->problem.find("checkpoint"), std::string::npos) << v->problem;
}

}  // namespace
}  // namespace cc::store

namespace cc::store {
namespace {

TEST(AuditChain, APinnedPublicKeyProvesTheCheckpointsAndARemovedCheckpointIsFound) {
  TempDir dir;
  auto log = open_log(dir);
  ASSERT_TRUE(log);
  append_many(*log, static_cast<int>(AuditLog::kCheckpointEvery) + 3);
  log->stop();
  auto pinned = AuditLog::verify(dir.path(), dir.path() + "/audit-signing.pub");
  ASSERT_TRUE(pinned.ok()) << pinned.error().message;
  EXPECT_TRUE(pinned->ok) << pinned->problem;
  EXPECT_EQ(pinned->checkpoints, 1);
  tamper(dir, "DELETE FROM audit_checkpoint;");
  auto v = AuditLog::verify(dir.path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_EQ(v->first_bad, AuditLog::kCheckpointEvery);
  EXPECT_NE(v->problem.find("no signed checkpoint"), std::string::npos) << v->problem;
}

}  // namespace
}  // namespace cc::store
