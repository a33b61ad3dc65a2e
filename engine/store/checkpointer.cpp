// Checkpointer: folds a WAL database's log back into the main file on its own thread and its own
// connection, so no writer's commit (and no ACK waiting on it) ever pays for a checkpoint.
#include "engine/store/checkpointer.h"

#include <spdlog/spdlog.h>

#include "engine/core/thread_priority.h"
#include "engine/store/sqlite.h"

namespace cc::store {

Checkpointer::Checkpointer(const std::string& path, Database& writer, int threshold_frames, bool behind_ack)
    : writer_(writer), threshold_(threshold_frames), behind_ack_(behind_ack) {
  conn_ = std::make_unique<Database>(path, Database::Mode::ReadWrite);
  sqlite3_wal_hook(writer_.handle(), &Checkpointer::on_commit, this);
  thread_ = std::thread([this] { run(); });
}

Checkpointer::~Checkpointer() {
  sqlite3_wal_hook(writer_.handle(), nullptr, nullptr);
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

int Checkpointer::on_commit(void* self, sqlite3*, const char*, int frames) {
  auto* c = static_cast<Checkpointer*>(self);
  c->frames_ = frames;
  if (frames >= c->threshold_) {
    {
      std::lock_guard lk(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::restart_log_if_long() {
  if (frames_.load() < 4 * threshold_) return;
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(writer_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
  if (rc == SQLITE_OK && log == done) frames_ = 0;  // the next write transaction restarts the log
}

void Checkpointer::run() {
  if (behind_ack_) yield_to_ingest();
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return wanted_ || stopping_; });
      if (stopping_) break;
      wanted_ = false;
    }
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      spdlog::warn("checkpoint of {} failed: {}", conn_->path(), sqlite3_errmsg(conn_->handle()));
    else
      checkpoints_++;
  }
  // A last checkpoint on the way out keeps the log short for the next start.
  sqlite3_wal_checkpoint_v2(conn_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
}

}  // namespace cc::store
