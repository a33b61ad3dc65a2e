// The drop-directory watcher in a temporary directory: complete files handled and moved with a
// report, failure and throwing handlers, .part files left alone until renamed, name collisions,
// oldest first, and a prompt stop. No timed assertions: results are polled with a generous deadline.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/drop_directory.h"

namespace fs = std::filesystem;
using cc::csv::DropDirectoryOptions;
using cc::csv::DropDirectoryWatcher;
using cc::csv::DropOutcome;

namespace {

class DropDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cc_csv_drop_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "in");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path in() const { return root_ / "in"; }
  fs::path done() const { return root_ / "done"; }
  fs::path failed() const { return root_ / "failed"; }

  static void write(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
  }
  static std::string slurp(const fs::path& file) {
    auto bytes = cc::csv::read_file_bytes(file);
    return bytes ? *bytes : std::string();
  }
  static rapidjson::Document report(const fs::path& file) {
    rapidjson::Document doc;
    doc.Parse(slurp(file.string() + ".report.json").c_str());
    return doc;
  }
  DropDirectoryOptions options() const {
    DropDirectoryOptions o;
    o.directory = in();
    o.poll_interval = std::chrono::milliseconds(20);
    return o;
  }

  fs::path root_;
};

// Waits (up to a generous deadline) for `condition`; the assertion is on the condition, not time.
template <class F>
bool eventually(F condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace

TEST_F(DropDirectoryTest, CompleteFileIsHandledAndMovedToDoneWithItsReport) {
  write(in() / "social_care.csv", "person_id,nhs_number\nP1,9991234578\nP2,9990000018,extra\n");
  std::vector<std::string> handled;
  DropDirectoryWatcher watcher(options(), [&](const fs::path& file) {
    handled.push_back(file.filename().string());
    auto bytes = cc::csv::read_file_bytes(file);
    auto extract = cc::csv::read_csv(*bytes);
    return DropOutcome{extract.ok(), cc::csv::report_json(*extract), true};
  });
  EXPECT_EQ(watcher.done_directory(), done());
  ASSERT_TRUE(watcher.start().ok());
  ASSERT_TRUE(eventually([&] { return watcher.files_handled() == 1; }));
  watcher.stop();

  EXPECT_EQ(handled, std::vector<std::string>{"social_care.csv"});
  EXPECT_FALSE(fs::exists(in() / "social_care.csv"));
  ASSERT_TRUE(fs::exists(done() / "social_care.csv"));
  auto doc = report(done() / "social_care.csv");
  ASSERT_TRUE(doc.IsObject()) << slurp(done() / "social_care.csv.report.json");
  EXPECT_STREQ(doc["outcome"].GetString(), "done");
  EXPECT_STREQ(doc["file"].GetString(), "social_care.csv");
  EXPECT_STREQ(doc["stored_as"].GetString(), "done/social_care.csv");
  ASSERT_TRUE(doc["report"].IsObject());  // the handler's JSON embedded as JSON
  EXPECT_EQ(doc["report"]["rows_kept"].GetInt(), 1);
  EXPECT_EQ(doc["report"]["rows_rejected"].GetInt(), 1);
}

TEST_F(DropDirectoryTest, FileNeedsTwoUnchangedPollsAndHandlerFailureMovesItToFailed) {
  write(in() / "mh.jsonl", "{\"a\":1}\n");
  DropDirectoryWatcher watcher(options(), [](const fs::path&) {
    return DropOutcome{false, "mapping 'mh-episodes' is not configured", false};
  });
  EXPECT_EQ(watcher.poll_once(), 0u);  // first sight: not yet known to be complete
  EXPECT_TRUE(fs::exists(in() / "mh.jsonl"));
  EXPECT_EQ(watcher.poll_once(), 1u);
  ASSERT_TRUE(fs::exists(failed() / "mh.jsonl"));
  auto doc = report(failed() / "mh.jsonl");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["outcome"].GetString(), "failed");
  EXPECT_STREQ(doc["report"].GetString(), "mapping 'mh-episodes' is not configured");
}

TEST_F(DropDirectoryTest, GrowingFileWaitsUntilItStopsChanging) {
  write(in() / "grow.csv", "a\n1\n");
  int calls = 0;
  DropDirectoryWatcher watcher(options(), [&](const fs::path&) {
    ++calls;
    return DropOutcome{true, "ok", false};
  });
  EXPECT_EQ(watcher.poll_once(), 0u);
  write(in() / "grow.csv", "a\n1\n2\n");  // size changed between polls
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(watcher.poll_once(), 1u);
  EXPECT_EQ(calls, 1);
}

TEST_F(DropDirectoryTest, ThrowingHandlerSendsTheFileToFailedWithTheExceptionText) {
  write(in() / "bad.csv", "a\n1\n");
  DropDirectoryWatcher watcher(options(), [](const fs::path&) -> DropOutcome {
    throw std::runtime_error("store unavailable");
  });
  ASSERT_TRUE(watcher.start().ok());
  ASSERT_TRUE(eventually([&] { return watcher.files_handled() == 1; }));
  watcher.stop();
  ASSERT_TRUE(fs::exists(failed() / "bad.csv"));
  auto doc = report(failed() / "bad.csv");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["outcome"].GetString(), "failed");
  EXPECT_NE(std::string(doc["report"].GetString()).find("store unavailable"), std::string::npos);
}

TEST_F(DropDirectoryTest, PartFileIsIgnoredUntilRenamed) {
  write(in() / "upload.csv.part", "a\n1\n");
  write(in() / "upload2.csv.tmp", "a\n1\n");
  write(in() / ".hidden.csv", "a\n1\n");
  std::vector<std::string> handled;
  DropDirectoryWatcher watcher(options(), [&](const fs::path& file) {
    handled.push_back(file.filename().string());
    return DropOutcome{true, "ok", false};
  });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_TRUE(fs::exists(in() / "upload.csv.part"));
  fs::rename(in() / "upload.csv.part", in() / "upload.csv");
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(watcher.poll_once(), 1u);
  EXPECT_EQ(handled, std::vector<std::string>{"upload.csv"});
  EXPECT_TRUE(fs::exists(done() / "upload.csv"));
  EXPECT_TRUE(fs::exists(in() / "upload2.csv.tmp"));
}

TEST_F(DropDirectoryTest, NameTakenInDoneGetsATimestampRatherThanOverwriting) {
  DropDirectoryWatcher watcher(options(), [](const fs::path&) { return DropOutcome{true, "ok", false}; });
  for (int delivery = 1; delivery <= 3; ++delivery) {
    write(in() / "daily.csv", "a\n" + std::to_string(delivery) + "\n");
    EXPECT_EQ(watcher.poll_once(), 0u);
    EXPECT_EQ(watcher.poll_once(), 1u);
  }
  EXPECT_EQ(slurp(done() / "daily.csv"), "a\n1\n");  // the first is never overwritten
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(done())) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 6u);  // three files, three reports
  std::set<std::string> contents;
  for (const auto& name : names) {
    if (name.ends_with(".report.json")) continue;
    EXPECT_TRUE(name == "daily.csv" || (name.starts_with("daily.") && name.ends_with("Z.csv")) ||
                (name.starts_with("daily.") && name.find("Z-") != std::string::npos))
        << name;
    EXPECT_TRUE(fs::exists(done() / (name + ".report.json"))) << name;
    contents.insert(slurp(done() / name));
  }
  EXPECT_EQ(contents, (std::set<std::string>{"a\n1\n", "a\n2\n", "a\n3\n"}));
}

TEST_F(DropDirectoryTest, OldestFileIsHandledFirst) {
  const auto now = fs::file_time_type::clock::now();
  write(in() / "b_newer.csv", "a\n1\n");
  write(in() / "a_newest.csv", "a\n1\n");
  write(in() / "c_oldest.csv", "a\n1\n");
  fs::last_write_time(in() / "c_oldest.csv", now - std::chrono::hours(3));
  fs::last_write_time(in() / "b_newer.csv", now - std::chrono::hours(2));
  fs::last_write_time(in() / "a_newest.csv", now - std::chrono::hours(1));
  std::vector<std::string> order;
  DropDirectoryWatcher watcher(options(), [&](const fs::path& file) {
    order.push_back(file.filename().string());
    return DropOutcome{true, "ok", false};
  });
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(watcher.poll_once(), 3u);
  EXPECT_EQ(order, (std::vector<std::string>{"c_oldest.csv", "b_newer.csv", "a_newest.csv"}));
}

TEST_F(DropDirectoryTest, StopIsPromptEvenWithALongPollInterval) {
  auto o = options();
  o.poll_interval = std::chrono::hours(1);
  DropDirectoryWatcher watcher(o, [](const fs::path&) { return DropOutcome{true, "ok", false}; });
  ASSERT_TRUE(watcher.start().ok());
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    watcher.stop();  // would take an hour if the wait were not cut short
    stopped = true;
  });
  EXPECT_TRUE(eventually([&] { return stopped.load(); }));
  stopper.join();
}

TEST_F(DropDirectoryTest, FileThatCannotBeMovedIsNotHandledAgainUntilItChanges) {
  auto o = options();
  o.done_directory = root_ / "blocked" / "done";
  write(root_ / "blocked", "a plain file where a directory should be");
  write(in() / "x.csv", "a\n1\n");
  int calls = 0;
  DropDirectoryWatcher watcher(o, [&](const fs::path&) {
    ++calls;
    return DropOutcome{true, "ok", false};
  });
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(watcher.poll_once(), 0u);  // handled, but the move failed
  EXPECT_EQ(calls, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(fs::exists(in() / "x.csv"));
  write(in() / "x.csv", "a\n1\n2\n");  // re-delivered: tried again
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(watcher.poll_once(), 0u);
  EXPECT_EQ(calls, 2);
}

TEST_F(DropDirectoryTest, MissingDirectoryIsReportedByStart) {
  DropDirectoryOptions o;
  o.directory = root_ / "no_such_dir";
  DropDirectoryWatcher watcher(o, [](const fs::path&) { return DropOutcome{true, "", false}; });
  auto status = watcher.start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, "drop-directory");
}
