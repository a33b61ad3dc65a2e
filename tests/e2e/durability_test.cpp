// Durability: SIGKILL the engine while a client streams messages, restart it, and show that every
// message that got AA is in the inbox and mapped into the record after the restart.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
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

int64_t query_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

// An extract file is written a chunk of rows at a time. SIGKILL after its first chunks are written
// and before its last: after the restart the file is mapped again from its first row, every row is
// in the record, and what was written before the kill was not written twice.
TEST(Durability, AnExtractFileCutShortBySigkillIsMappedWholeAfterRestart) {
  TempDir dir;
  const std::string data = dir.path + "/data";
  const std::string config = dir.path + "/config.json";
  std::ofstream(config) << R"({"development": true,
      "limits": {"extract_chunk_rows": 1000, "http_max_body_bytes": 16777216},
      "feeds": [{"name": "sc", "type": "extract", "owner_ods": "DEVSC", "mapping": "social-care-episodes"}]})";
  constexpr int kRows = 20000;
  std::string file =
      "person_id,nhs_number,family_name,given_name,birth_date,episode_id,service,status,start_date,end_date,"
      "lead_worker,team,safeguarding,last_updated\r\n";
  for (int i = 1; i <= kRows; ++i) {
    const std::string n = std::to_string(1000000 + i).substr(1);
    file += "K" + n + ",,CHUNKED,Row,01/01/1960,EK-" + n + ",Day care,Open,01/02/2024,,,,N,15/03/2024 09:30\r\n";
  }
  int64_t written_before_kill = 0, cursor_before_kill = -1;
  {
    EngineProcess engine(data, {"--config", config});
    std::string token =
        run_carerecord({"token", "--role", "feed-system", "--user", "sc.system", "--org", "DEVSC", "--data-dir", data});
    token.erase(token.find_last_not_of("\r\n") + 1);
    ASSERT_EQ(http_request(engine.http_port(), "POST", "/ingest/sc", token, file).status, 200);
    sqlite3* record = nullptr;
    ASSERT_EQ(sqlite3_open_v2((data + "/record.db").c_str(), &record, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    for (int i = 0; i < 3000 && written_before_kill <= 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      written_before_kill = query_int(record, "SELECT count(*) FROM resource_version WHERE type='EpisodeOfCare'");
    }
    engine.kill_hard();
    written_before_kill = query_int(record, "SELECT count(*) FROM resource_version WHERE type='EpisodeOfCare'");
    cursor_before_kill = query_int(record, "SELECT inbox_id FROM mapping_cursor");
    sqlite3_close(record);
  }
  ASSERT_GT(written_before_kill, 0) << "the first chunk should have been written before the kill";
  ASSERT_LT(written_before_kill, kRows) << "the kill should have come before the file's last chunk";
  EXPECT_EQ(cursor_before_kill, 0) << "the cursor passes the file only with its last chunk";

  EngineProcess again(data, {"--config", config});  // crash replay maps the file before listening
  sqlite3* record = nullptr;
  ASSERT_EQ(sqlite3_open_v2((data + "/record.db").c_str(), &record, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  EXPECT_EQ(query_int(record, "SELECT count(DISTINCT id) FROM resource_version WHERE type='EpisodeOfCare'"), kRows);
  EXPECT_EQ(query_int(record, "SELECT count(*) FROM resource_version WHERE type='EpisodeOfCare'"), kRows)
      << "a row written before the kill got a second version from the replay";
  EXPECT_EQ(query_int(record, "SELECT inbox_id FROM mapping_cursor"), 1);
  sqlite3_close(record);
  std::printf("episodes written before SIGKILL: %lld of %d\n", static_cast<long long>(written_before_kill), kRows);
}

}  // namespace
}  // namespace cc::test
