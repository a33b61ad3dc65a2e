// GroupCommitWriter: one thread owns a SQLite write connection; callers hand it jobs and
// completions; it runs whatever is waiting in one transaction and one fsync, then completes them.
#include "engine/store/group_commit.h"

#include <spdlog/spdlog.h>

namespace cc::store {

GroupCommitWriter::GroupCommitWriter(std::unique_ptr<Database> db, size_t max_batch)
    : db_(std::move(db)), checkpointer_(db_->path(), *db_), max_batch_(max_batch), thread_([this] { run(); }) {}

GroupCommitWriter::~GroupCommitWriter() { stop(); }

void GroupCommitWriter::submit(Job job, Done done) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      queue_.push_back(Item{std::move(job), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(make_error("shutting-down", "The engine is shutting down; nothing was stored. Send it again."));
}

void GroupCommitWriter::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void GroupCommitWriter::run() {
  std::deque<Item> batch;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      // A lone job is committed at once; jobs that arrive while a commit is under way
      // wait for the next one and share its fsync.
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    commit_batch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::commit_batch(std::deque<Item>& batch) {
  try {
    Transaction tx(*db_);
    for (auto& item : batch) item.job(*db_);
    tx.commit();
    batches_++;
    jobs_ += batch.size();
    for (auto& item : batch) item.done(Status{});
    return;
  } catch (const std::exception& e) {
    if (batch.size() == 1) {
      spdlog::error("store write failed: {}", e.what());
      batch.front().done(make_error("store-write", std::string("Could not store: ") + e.what()));
      return;
    }
    spdlog::warn("batch of {} failed ({}); retrying one job at a time", batch.size(), e.what());
  }
  // One job spoiled the batch: run each alone so the others are still stored.
  for (auto& item : batch) {
    try {
      Transaction tx(*db_);
      item.job(*db_);
      tx.commit();
      batches_++;
      jobs_++;
      item.done(Status{});
    } catch (const std::exception& e) {
      spdlog::error("store write failed: {}", e.what());
      item.done(make_error("store-write", std::string("Could not store: ") + e.what()));
    }
  }
}

}  // namespace cc::store
