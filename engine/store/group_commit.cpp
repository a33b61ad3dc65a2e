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
    checkpointer_.restart_log_if_long();
  }
}

namespace {
// Completions run after the transaction is settled and outside its error handling, so a
// completion that throws can neither re-run committed jobs nor be called twice.
void complete(GroupCommitWriter::Done& done, Status st) {
  try {
    done(std::move(st));
  } catch (const std::exception& e) {
    spdlog::error("a store completion failed: {}", e.what());
  }
}

Status write_error(const std::exception& e) {
  spdlog::error("store write failed: {}", e.what());
  return make_error("store-write", std::string("Could not store: ") + e.what());
}
}  // namespace

void GroupCommitWriter::commit_batch(std::deque<Item>& batch) {
  Status outcome;
  try {
    Transaction tx(*db_);
    for (auto& item : batch) item.job(*db_);
    tx.commit();
  } catch (const std::exception& e) {
    outcome = write_error(e);
  }
  if (outcome || batch.size() == 1) {
    if (outcome) {
      batches_++;
      jobs_ += batch.size();
    }
    for (auto& item : batch) complete(item.done, outcome);
    return;
  }
  // One job spoiled the batch: run each alone so the others are still stored.
  spdlog::warn("a batch of {} failed; retrying one job at a time", batch.size());
  for (auto& item : batch) {
    Status one;
    try {
      Transaction tx(*db_);
      item.job(*db_);
      tx.commit();
      batches_++;
      jobs_++;
    } catch (const std::exception& e) {
      one = write_error(e);
    }
    complete(item.done, std::move(one));
  }
}

}  // namespace cc::store
