// Inbox tests: receipts and reads, idempotency (duplicate, key reuse, window, feed), the WAL /
// synchronous=FULL settings of the writer connection, and survival across close and reopen.
#include "engine/store/inbox.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;
using testing::wait_for;

constexpr int64_t kHour = 3600 * 1000;

InboxMessage message(const std::string& control_id, const std::string& body = "PID|1||123",
                     const std::string& feed = "pas", int64_t received_ms = 1'700'000'000'000) {
  InboxMessage m;
  m.feed = feed;
  m.peer = "10.0.0.5:40001";
  m.received_ms = received_ms;
  m.sending_app = "PAS";
  m.sending_facility = "RXX01";
  m.control_id = control_id;
  m.message_type = "ADT^A01";
  m.raw = "MSH|^~\\&|PAS|RXX01|CC|CC|20240101||ADT^A01|" + control_id + "|P|2.4\r" + body + "\r";
  m.ack_code = "AA";
  m.ack = "MSH|^~\\&|CC|CC|PAS|RXX01|20240101||ACK|A" + control_id + "|P|2.4\rMSA|AA|" + control_id + "\r";
  return m;
}

Result<Receipt> submit(Inbox& inbox, InboxMessage m) {
  std::promise<Result<Receipt>> p;
  auto f = p.get_future();
  inbox.submit(std::move(m), [&p](Result<Receipt> r) { p.set_value(std::move(r)); });
  return wait_for(f);
}

std::unique_ptr<Inbox> open_inbox(const TempDir& dir, int64_t window_ms = kHour) {
  auto r = Inbox::open(dir.path(), window_ms);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return nullptr;
  }
  return std::move(r).value();
}

TEST(Inbox, SubmittedMessageGetsReceiptAndIsReadable) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->count(), 0);
  EXPECT_EQ(inbox->last_id(), 0);

  auto m = message("MSG0001");
  m.raw.push_back('\0');  // raw bytes are kept as a blob, NULs included
  m.raw += "\xff\xfe";
  const std::string raw = m.raw;
  const std::string ack = m.ack;
  auto r = submit(*inbox, m);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GT(r->id, 0);
  EXPECT_FALSE(r->duplicate);
  EXPECT_FALSE(r->key_reused);
  EXPECT_EQ(r->ack_code, "AA");
  EXPECT_EQ(r->ack, ack);

  auto row = inbox->read(r->id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->id, r->id);
  EXPECT_EQ(row->feed, "pas");
  EXPECT_EQ(row->peer, "10.0.0.5:40001");
  EXPECT_EQ(row->received_ms, 1'700'000'000'000);
  EXPECT_EQ(row->sending_app, "PAS");
  EXPECT_EQ(row->sending_facility, "RXX01");
  EXPECT_EQ(row->control_id, "MSG0001");
  EXPECT_EQ(row->message_type, "ADT^A01");
  EXPECT_EQ(row->ack_code, "AA");
  EXPECT_FALSE(row->key_reused);
  EXPECT_EQ(row->raw, raw);
  EXPECT_EQ(inbox->count(), 1);
  EXPECT_EQ(inbox->last_id(), r->id);
  EXPECT_FALSE(inbox->read(r->id + 1).has_value());
}

TEST(Inbox, ReadAfterReturnsRowsInIdOrder) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto m = message("C" + std::to_string(i));
    m.ack_code = i % 2 ? "AE" : "AA";
    auto r = submit(*inbox, m);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->ack_code, m.ack_code);
    ids.push_back(r->id);
  }
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);

  auto all = inbox->read_after(0, 100);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(all[i].id, ids[i]);
    EXPECT_EQ(all[i].control_id, "C" + std::to_string(i));
    EXPECT_EQ(all[i].ack_code, i % 2 ? "AE" : "AA");
  }
  auto page = inbox->read_after(ids[1], 2);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].id, ids[2]);
  EXPECT_EQ(page[1].id, ids[3]);
  EXPECT_TRUE(inbox->read_after(ids[4], 10).empty());
  EXPECT_EQ(inbox->count(), 5);
  EXPECT_EQ(inbox->last_id(), ids[4]);
}

TEST(Inbox, SameKeySameBytesWithinWindowIsDuplicateWithFirstAck) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  auto first = message("DUP1");
  auto r1 = submit(*inbox, first);
  ASSERT_TRUE(r1.ok());

  auto again = message("DUP1");
  again.received_ms = first.received_ms + 5000;  // a resend a few seconds later
  again.peer = "10.0.0.5:40002";
  again.ack_code = "AE";
  again.ack = "a different ACK that must not be sent";
  auto r2 = submit(*inbox, again);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_TRUE(r2->duplicate);
  EXPECT_FALSE(r2->key_reused);
  EXPECT_EQ(r2->id, r1->id);
  EXPECT_EQ(r2->ack_code, "AA");
  EXPECT_EQ(r2->ack, first.ack);
  EXPECT_EQ(inbox->count(), 1);
  EXPECT_EQ(inbox->read(r1->id)->peer, "10.0.0.5:40001");
}

TEST(Inbox, SameKeyDifferentBytesIsStoredAndFlagged) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  auto r1 = submit(*inbox, message("KEY1", "PID|1||111"));
  ASSERT_TRUE(r1.ok());
  auto second = message("KEY1", "PID|1||222");
  auto r2 = submit(*inbox, second);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_FALSE(r2->duplicate);
  EXPECT_TRUE(r2->key_reused);
  EXPECT_NE(r2->id, r1->id);
  EXPECT_EQ(r2->ack, second.ack);
  EXPECT_EQ(inbox->count(), 2);
  auto row = inbox->read(r2->id);
  ASSERT_TRUE(row);
  EXPECT_TRUE(row->key_reused);
  EXPECT_EQ(row->raw, second.raw);
  EXPECT_FALSE(inbox->read(r1->id)->key_reused);

  // A resend of either content is a duplicate of its own first copy.
  auto r3 = submit(*inbox, message("KEY1", "PID|1||111"));
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->duplicate);
  EXPECT_EQ(r3->id, r1->id);
  auto r4 = submit(*inbox, message("KEY1", "PID|1||222"));
  ASSERT_TRUE(r4.ok());
  EXPECT_TRUE(r4->duplicate);
  EXPECT_EQ(r4->id, r2->id);
  EXPECT_EQ(inbox->count(), 2);
}

TEST(Inbox, SameKeyOutsideWindowIsStoredNormally) {
  TempDir dir;
  auto inbox = open_inbox(dir, /*window_ms=*/10);
  ASSERT_TRUE(inbox);
  auto m1 = message("WIN1");
  m1.received_ms = 1'000'000;
  auto r1 = submit(*inbox, m1);
  ASSERT_TRUE(r1.ok());
  auto m2 = message("WIN1");  // same bytes, same key
  m2.received_ms = 1'000'000 + 5000;
  auto r2 = submit(*inbox, m2);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  EXPECT_FALSE(r2->duplicate);
  EXPECT_FALSE(r2->key_reused);
  EXPECT_NE(r2->id, r1->id);
  EXPECT_EQ(inbox->count(), 2);

  // ...but inside the tiny window it still is a duplicate.
  auto m3 = message("WIN1");
  m3.received_ms = 1'000'000 + 5005;
  auto r3 = submit(*inbox, m3);
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->duplicate);
  EXPECT_EQ(r3->id, r2->id);
  EXPECT_EQ(inbox->count(), 2);
}

TEST(Inbox, KeyIsFeedSendingAppFacilityAndControlId) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  auto base = message("K1");
  ASSERT_TRUE(submit(*inbox, base).ok());

  auto other_feed = base;
  other_feed.feed = "ed";
  auto r = submit(*inbox, other_feed);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
  EXPECT_FALSE(r->key_reused);

  auto other_app = base;
  other_app.sending_app = "LAB";
  r = submit(*inbox, other_app);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
  EXPECT_FALSE(r->key_reused);

  auto other_facility = base;
  other_facility.sending_facility = "RYY02";
  r = submit(*inbox, other_facility);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
  EXPECT_FALSE(r->key_reused);

  EXPECT_EQ(inbox->count(), 4);
}

TEST(Inbox, DuplicatesWithinOneBatchAreDetected) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  // Submitted back to back, so most share a group commit: the second copy must see the first.
  constexpr int kN = 200;
  std::mutex mu;
  std::vector<Result<Receipt>> receipts(kN, Result<Receipt>(Receipt{}));
  std::vector<std::promise<void>> done(kN);
  for (int i = 0; i < kN; ++i) {
    inbox->submit(message("B" + std::to_string(i / 2)), [&, i](Result<Receipt> r) {
      {
        std::lock_guard lk(mu);
        receipts[i] = std::move(r);
      }
      done[i].set_value();
    });
  }
  for (auto& d : done) {
    auto f = d.get_future();
    wait_for(f);
  }
  for (int i = 0; i < kN; i += 2) {
    ASSERT_TRUE(receipts[i].ok());
    ASSERT_TRUE(receipts[i + 1].ok());
    EXPECT_FALSE(receipts[i]->duplicate) << i;
    EXPECT_TRUE(receipts[i + 1]->duplicate) << i + 1;
    EXPECT_EQ(receipts[i + 1]->id, receipts[i]->id);
  }
  EXPECT_EQ(inbox->count(), kN / 2);
}

// Records every connection SQLite opens in this process while installed, so a test can inspect
// the inbox's own writer connection.
std::mutex g_conn_mu;
std::vector<sqlite3*> g_conns;
int record_connection(sqlite3* db, char**, const sqlite3_api_routines*) {
  std::lock_guard lk(g_conn_mu);
  g_conns.push_back(db);
  return SQLITE_OK;
}
using AutoExt = void (*)();

int64_t pragma_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::string pragma_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW) v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

TEST(Inbox, FileIsWalAndWriterIsSynchronousFull) {
  TempDir dir;
  {
    std::lock_guard lk(g_conn_mu);
    g_conns.clear();
  }
  ASSERT_EQ(sqlite3_auto_extension(reinterpret_cast<AutoExt>(&record_connection)), SQLITE_OK);
  auto inbox = open_inbox(dir);
  sqlite3_cancel_auto_extension(reinterpret_cast<AutoExt>(&record_connection));
  ASSERT_TRUE(inbox);

  // The writer connection: the first one opened read-write on DIR/inbox.db (Inbox::open opens it
  // before anything else; helpers such as a checkpointer may open more later). Nothing has been
  // submitted yet, so the writer thread is idle and has never touched it.
  sqlite3* writer = nullptr;
  {
    std::lock_guard lk(g_conn_mu);
    for (sqlite3* c : g_conns) {
      const char* fn = sqlite3_db_filename(c, "main");
      if (fn && std::string(fn) == dir.file("inbox.db") && sqlite3_db_readonly(c, "main") == 0) {
        writer = c;
        break;
      }
    }
    g_conns.clear();
  }
  ASSERT_NE(writer, nullptr) << "no read-write connection on inbox.db was opened";
  EXPECT_EQ(pragma_int(writer, "PRAGMA synchronous"), 2) << "writer must run synchronous=FULL";
  EXPECT_EQ(pragma_text(writer, "PRAGMA journal_mode"), "wal");

  ASSERT_TRUE(submit(*inbox, message("W1")).ok());

  // The file itself is in WAL mode (persistent): a fresh connection sees it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir.file("inbox.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  EXPECT_EQ(pragma_text(db, "PRAGMA journal_mode"), "wal");
  sqlite3_close(db);
}

TEST(Inbox, DataSurvivesCloseAndReopen) {
  TempDir dir;
  int64_t id1 = 0, id2 = 0;
  auto m1 = message("R1", "PID|1||AAA");
  auto m2 = message("R2", "PID|1||BBB");
  {
    auto inbox = open_inbox(dir);
    ASSERT_TRUE(inbox);
    auto r1 = submit(*inbox, m1);
    auto r2 = submit(*inbox, m2);
    ASSERT_TRUE(r1.ok() && r2.ok());
    id1 = r1->id;
    id2 = r2->id;
    inbox->stop();
  }
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->count(), 2);
  EXPECT_EQ(inbox->last_id(), id2);
  auto row = inbox->read(id1);
  ASSERT_TRUE(row);
  EXPECT_EQ(row->raw, m1.raw);
  EXPECT_EQ(row->control_id, "R1");
  // Idempotency survives too: a resend after a restart gets the first ACK back.
  auto dup = submit(*inbox, m2);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->id, id2);
  EXPECT_EQ(dup->ack, m2.ack);
  // New rows continue after the old ones.
  auto r3 = submit(*inbox, message("R3"));
  ASSERT_TRUE(r3.ok());
  EXPECT_GT(r3->id, id2);
  EXPECT_EQ(inbox->count(), 3);
}

TEST(Inbox, SubmitAfterStopIsRefused) {
  TempDir dir;
  auto inbox = open_inbox(dir);
  ASSERT_TRUE(inbox);
  inbox->stop();
  auto r = submit(*inbox, message("S1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "shutting-down");
  EXPECT_EQ(inbox->count(), 0);
}

TEST(Inbox, OpenFailsWithErrorForMissingDirectory) {
  TempDir dir;
  auto r = Inbox::open(dir.file("no/such/dir"), kHour);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "inbox-open");
}

}  // namespace
}  // namespace cc::store
