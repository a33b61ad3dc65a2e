// GroupCommitWriter: one thread owns a SQLite write connection; callers hand it jobs and
// completions; it runs whatever is waiting in one transaction and one fsync, then completes them.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/core/result.h"
#include "engine/store/checkpointer.h"
#include "engine/store/sqlite.h"

namespace cc::store {

class GroupCommitWriter {
 public:
  // Runs inside the batch's transaction on the writer thread; may throw SqliteError.
  using Job = std::function<void(Database&)>;
  // Called on the writer thread once the batch is durable (or failed) — or at once on the caller's
  // thread when the writer is stopping; must not block.
  using Done = std::function<void(Status)>;

  explicit GroupCommitWriter(std::unique_ptr<Database> db, size_t max_batch = 2048);
  ~GroupCommitWriter();

  // Thread-safe. After stop() begins, jobs are refused with "shutting-down".
  void submit(Job job, Done done);
  // Finishes every job already submitted, then stops the thread.
  void stop();

  uint64_t batches() const { return batches_; }
  uint64_t jobs() const { return jobs_; }

 private:
  struct Item {
    Job job;
    Done done;
  };
  void run();
  void commit_batch(std::deque<Item>& batch);

  std::unique_ptr<Database> db_;
  Checkpointer checkpointer_;  // after db_: stops before the connection closes
  size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> jobs_{0};
  std::thread thread_;
};

}  // namespace cc::store
