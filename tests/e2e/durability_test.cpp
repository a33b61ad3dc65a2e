// Durability: SIGKILL the engine while a client streams messages, restart it, and show that every
// message that got AA is in the inbox and mapped into the record after the restart.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "tests/e2e/harness.h"

namespace cc::test {
namespace {

std::string message(int i) {
  std::string ctl = "DUR" + std::to_string(i);
  std::string t = "20260401" + std::string(i % 24 < 10 ? "0" : "") + std::to_string(i % 24) + "0000";
  return "MSH|^~\\&|PAS|RBT|CARERECORD|CHESHIRE|" + t + "||ADT^A04^ADT_A01|" + ctl + "|P|2.4\rEVN|A04|" + t +
         "\rPID|1||DM" + std::to_string(i) + "^^^RBT^MR||DURABLE^TEST||19800101|M\rPV1|1|E|ED^^^RBT20||||||||||||||||DV" +
         std::to_string(i) + "^^^RBT^VN\r";
}

std::set<std::string> query_set(sqlite3* db, const char* sql) {
  std::set<std::string> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) out.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  return out;
}

TEST(Durability, EveryAcknowledgedMessageSurvivesSigkillAndIsMappedAfterRestart) {
  TempDir dir;
  std::string data = dir.path + "/data";
  std::set<std::string> acked;
  std::mutex mu;
  {
    EngineProcess engine(data);
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        try {
          MllpClient c(engine.mllp_port());
          // 16 in flight per connection: send ahead, read ACKs as they come.
          int next = t * 1000000, in_flight = 0;
          std::deque<std::string> sent;
          while (!stop) {
            while (in_flight < 16) {
              c.send(message(next));
              sent.push_back("DUR" + std::to_string(next));
              ++next;
              ++in_flight;
            }
            std::string ack = c.receive(5000);
            if (ack.empty()) return;
            --in_flight;
            std::string ctl = hl7_field(ack, "MSA", 2);
            EXPECT_EQ(ctl, sent.front());
            sent.pop_front();
            if (hl7_field(ack, "MSA", 1) == "AA") {
              std::lock_guard lk(mu);
              acked.insert(ctl);
            }
          }
        } catch (const std::exception&) {
          // The engine died under us: that is the point.
        }
      });
    }
    // Let it run, then pull the plug mid-stream.
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lk(mu);
      if (acked.size() > 2000) break;
    }
    engine.kill_hard();
    stop = true;
    for (auto& c : clients) c.join();
  }
  ASSERT_GT(acked.size(), 100u) << "the client should have had many messages acknowledged before the kill";

  // Restart: crash replay maps the backlog before the engine says it is listening.
  EngineProcess again(data);
  sqlite3* inbox = nullptr;
  ASSERT_EQ(sqlite3_open_v2((data + "/inbox.db").c_str(), &inbox, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto stored = query_set(inbox, "SELECT control_id FROM inbox");
  sqlite3* record = nullptr;
  ASSERT_EQ(sqlite3_open_v2((data + "/record.db").c_str(), &record, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto mapped = query_set(record, "SELECT DISTINCT control_id FROM resource_version");
  auto ids = query_set(inbox, "SELECT CAST(max(id) AS TEXT) FROM inbox");
  auto cursor = query_set(record, "SELECT CAST(inbox_id AS TEXT) FROM mapping_cursor");
  sqlite3_close(inbox);
  sqlite3_close(record);

  size_t missing_stored = 0, missing_mapped = 0;
  for (auto& ctl : acked) {
    if (!stored.count(ctl)) ++missing_stored;
    if (!mapped.count(ctl)) ++missing_mapped;
  }
  EXPECT_EQ(missing_stored, 0u) << "acknowledged but not in the inbox";
  EXPECT_EQ(missing_mapped, 0u) << "acknowledged but not mapped after restart";
  EXPECT_EQ(ids, cursor) << "the record builder caught up with the inbox before listening";
  std::printf("acknowledged before SIGKILL: %zu; stored: %zu\n", acked.size(), stored.size());
}

}  // namespace
}  // namespace cc::test
