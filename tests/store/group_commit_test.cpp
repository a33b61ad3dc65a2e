// GroupCommitWriter tests: lone and concurrent jobs commit, jobs are grouped into batches, a failing
// job fails alone while its batch-mates are stored, and stop() drains then refuses with "shutting-down".
#include "engine/store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/store/temp_dir.h"

namespace cc::store {
namespace {

using testing::TempDir;
using testing::wait_for;

// A writer over DIR/gc.db with table t(k INTEGER PRIMARY KEY, v TEXT UNIQUE).
std::unique_ptr<GroupCommitWriter> make_writer(const TempDir& dir, size_t max_batch = 2048) {
  auto db = std::make_unique<Database>(dir.file("gc.db"), Database::Mode::ReadWrite);
  db->exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)");
  return std::make_unique<GroupCommitWriter>(std::move(db), max_batch);
}

GroupCommitWriter::Job insert_job(int64_t k, std::string v) {
  return [k, v = std::move(v)](Database& db) {
    auto& st = db.prepare("INSERT INTO t(k, v) VALUES (?1, ?2)");
    st.bind(1, k).bind(2, v);
    st.run();
  };
}

// Every (k, v) row of t, read through a separate connection.
std::vector<std::pair<int64_t, std::string>> rows(const TempDir& dir) {
  Database db(dir.file("gc.db"), Database::Mode::ReadOnly);
  auto& st = db.prepare("SELECT k, v FROM t ORDER BY k");
  std::vector<std::pair<int64_t, std::string>> out;
  while (st.step()) out.emplace_back(st.int64(0), std::string(st.text(1)));
  st.reset();
  return out;
}

TEST(GroupCommitWriter, LoneJobIsCommittedAndCompleted) {
  TempDir dir;
  auto writer = make_writer(dir);
  std::promise<Status> p;
  auto f = p.get_future();
  writer->submit(insert_job(7, "seven"), [&p](Status st) { p.set_value(st); });
  Status st = wait_for(f);
  ASSERT_TRUE(st.ok()) << st.error().message;
  // Visible to another connection as soon as the completion fired: committed, not just queued.
  auto r = rows(dir);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, 7);
  EXPECT_EQ(r[0].second, "seven");
  EXPECT_EQ(writer->jobs(), 1u);
  EXPECT_EQ(writer->batches(), 1u);
  writer->stop();
}

TEST(GroupCommitWriter, ConcurrentSubmittersAllCompleteAndAreGrouped) {
  TempDir dir;
  auto writer = make_writer(dir);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  constexpr int kTotal = kThreads * kPerThread;

  std::mutex mu;
  std::condition_variable cv;
  int completed = 0;
  int failed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int64_t k = int64_t(t) * kPerThread + i + 1;
        writer->submit(insert_job(k, "v" + std::to_string(k)), [&](Status st) {
          std::lock_guard lk(mu);
          ++completed;
          if (!st) ++failed;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(60), [&] { return completed == kTotal; }))
        << "only " << completed << " of " << kTotal << " completions";
  }
  EXPECT_EQ(failed, 0);

  auto r = rows(dir);
  ASSERT_EQ(r.size(), size_t(kTotal));
  for (int i = 0; i < kTotal; ++i) {
    EXPECT_EQ(r[i].first, i + 1);
    EXPECT_EQ(r[i].second, "v" + std::to_string(i + 1));
  }
  EXPECT_EQ(writer->jobs(), uint64_t(kTotal));
  EXPECT_GE(writer->batches(), 1u);
  EXPECT_LT(writer->batches(), uint64_t(kTotal)) << "no two jobs ever shared a commit";
  writer->stop();
}

TEST(GroupCommitWriter, MaxBatchBoundsTheBatchSize) {
  TempDir dir;
  auto writer = make_writer(dir, /*max_batch=*/4);
  // Hold the writer in a job so the following submissions pile up in the queue.
  std::promise<void> started, release;
  auto started_f = started.get_future();
  auto release_f = release.get_future().share();
  writer->submit([&started, release_f](Database&) { started.set_value(); release_f.wait(); }, [](Status) {});
  wait_for(started_f);
  std::vector<uint64_t> seen(10);
  std::atomic<int> done{0};
  for (int i = 0; i < 10; ++i) {
    writer->submit(
        [&, i](Database& db) {
          seen[i] = writer->batches();
          insert_job(i + 1, "m" + std::to_string(i))(db);
        },
        [&](Status st) {
          EXPECT_TRUE(st.ok());
          done++;
        });
  }
  release.set_value();
  writer->stop();
  EXPECT_EQ(done.load(), 10);
  // 10 queued jobs with max 4 a batch: batches of 4, 4, 2 after the holding one.
  EXPECT_EQ(writer->batches(), 4u);
  std::vector<uint64_t> expected = {1, 1, 1, 1, 2, 2, 2, 2, 3, 3};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(rows(dir).size(), 10u);
}

TEST(GroupCommitWriter, FailingJobFailsAloneOthersInItsBatchAreCommitted) {
  TempDir dir;
  auto writer = make_writer(dir);
  {
    std::promise<Status> p;
    auto f = p.get_future();
    writer->submit(insert_job(1000, "taken"), [&p](Status st) { p.set_value(st); });
    ASSERT_TRUE(wait_for(f).ok());
  }
  // Hold the writer so everything submitted next lands in one batch.
  std::promise<void> started, release;
  auto started_f = started.get_future();
  auto release_f = release.get_future().share();
  writer->submit([&started, release_f](Database&) { started.set_value(); release_f.wait(); }, [](Status) {});
  wait_for(started_f);

  constexpr int kJobs = 50;
  constexpr int kBad = 17;
  const uint64_t batches_before = 2;  // the "taken" row and the holding job
  std::mutex mu;
  std::vector<Status> results(kJobs);
  std::vector<uint64_t> first_seen(kJobs, 0);  // writer->batches() when the job first ran
  std::vector<int> runs(kJobs, 0);
  std::atomic<int> completed{0};
  for (int i = 0; i < kJobs; ++i) {
    std::string v = i == kBad ? "taken" : "ok" + std::to_string(i);  // the bad one breaks UNIQUE(v)
    auto job = insert_job(i + 1, v);
    writer->submit(
        [&, i, job](Database& db) {
          {
            std::lock_guard lk(mu);
            if (runs[i]++ == 0) first_seen[i] = writer->batches();
          }
          job(db);
        },
        [&, i](Status st) {
          std::lock_guard lk(mu);
          results[i] = st;
          completed++;
        });
  }
  release.set_value();
  writer->stop();
  ASSERT_EQ(completed.load(), kJobs);

  // They were queued together behind the holding job, so they formed one batch: every job up to
  // the bad one first ran in that shared batch (the batch stops at the throw; later ones first ran
  // in the one-at-a-time retry).
  for (int i = 0; i <= kBad; ++i) EXPECT_EQ(first_seen[i], batches_before) << "job " << i;
  for (int i = kBad + 1; i < kJobs; ++i) EXPECT_GT(first_seen[i], batches_before) << "job " << i;
  // The good jobs that shared the failed batch were rolled back and run again.
  for (int i = 0; i < kBad; ++i) EXPECT_EQ(runs[i], 2) << "job " << i;

  for (int i = 0; i < kJobs; ++i) {
    if (i == kBad) {
      ASSERT_FALSE(results[i].ok());
      EXPECT_EQ(results[i].error().code, "store-write");
      EXPECT_NE(results[i].error().message.find("UNIQUE"), std::string::npos) << results[i].error().message;
    } else {
      EXPECT_TRUE(results[i].ok()) << "job " << i << ": " << results[i].error().message;
    }
  }
  auto r = rows(dir);
  ASSERT_EQ(r.size(), size_t(kJobs));  // 49 good ones and the original "taken"
  std::set<std::string> values;
  for (auto& [k, v] : r) values.insert(v);
  for (int i = 0; i < kJobs; ++i) {
    if (i == kBad) continue;
    EXPECT_TRUE(values.count("ok" + std::to_string(i))) << "row of job " << i << " missing";
  }
  EXPECT_FALSE(values.count("ok" + std::to_string(kBad)));
  // The "taken" row is the first one, untouched by the failed job.
  EXPECT_EQ(r.back().first, 1000);
  EXPECT_EQ(r.back().second, "taken");
  EXPECT_EQ(writer->jobs(), uint64_t(1 + 1 + kJobs - 1));
}

TEST(GroupCommitWriter, LoneFailingJobReportsStoreWrite) {
  TempDir dir;
  auto writer = make_writer(dir);
  std::promise<Status> p;
  auto f = p.get_future();
  writer->submit([](Database& db) { db.exec("INSERT INTO no_such_table VALUES (1)"); },
                 [&p](Status st) { p.set_value(st); });
  Status st = wait_for(f);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "store-write");
  EXPECT_NE(st.error().message.find("no_such_table"), std::string::npos) << st.error().message;
  // The writer keeps going after a failure.
  std::promise<Status> p2;
  auto f2 = p2.get_future();
  writer->submit(insert_job(1, "after"), [&p2](Status s) { p2.set_value(s); });
  EXPECT_TRUE(wait_for(f2).ok());
  writer->stop();
  EXPECT_EQ(rows(dir).size(), 1u);
}

TEST(GroupCommitWriter, StopCompletesEverythingSubmittedThenRefuses) {
  TempDir dir;
  auto writer = make_writer(dir);
  constexpr int kJobs = 300;
  std::atomic<int> ok{0}, bad{0};
  for (int i = 0; i < kJobs; ++i) {
    writer->submit(insert_job(i + 1, "s" + std::to_string(i)), [&](Status st) { (st ? ok : bad)++; });
  }
  writer->stop();
  // Every completion fired before stop() returned.
  EXPECT_EQ(ok.load(), kJobs);
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(rows(dir).size(), size_t(kJobs));

  bool ran = false;
  bool called = false;
  Status late;
  writer->submit([&ran](Database&) { ran = true; },
                 [&](Status st) {
                   called = true;
                   late = st;
                 });
  ASSERT_TRUE(called) << "a refused submission must still be completed";
  EXPECT_FALSE(ran);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "shutting-down");
  EXPECT_FALSE(late.error().message.empty());
  EXPECT_EQ(rows(dir).size(), size_t(kJobs));
  writer->stop();  // a second stop is harmless
}

TEST(GroupCommitWriter, DestructorDrainsQueue) {
  TempDir dir;
  std::atomic<int> ok{0};
  {
    auto writer = make_writer(dir);
    for (int i = 0; i < 100; ++i)
      writer->submit(insert_job(i + 1, "d" + std::to_string(i)), [&](Status st) { ok += st ? 1 : 0; });
  }
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(rows(dir).size(), 100u);
}

}  // namespace
}  // namespace cc::store
