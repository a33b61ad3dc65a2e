// Checkpointer: folds a WAL database's log back into the main file on its own thread and its own
// connection, so no writer's commit (and no ACK waiting on it) pays for copying the log.
#pragma once
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace cc::store {

class Database;

class Checkpointer {
 public:
  // Takes over `writer`'s WAL hook (which turns off SQLite's in-line auto-checkpoint) and
  // checkpoints whenever the log holds more than `threshold_frames` pages.
  // `behind_ack`: the checkpoint thread runs at the priority of work behind the ACK
  // (engine/core/thread_priority.h), for a database written there (the record), whose log copying
  // must not take CPU from the ACK path.
  Checkpointer(const std::string& path, Database& writer, int threshold_frames = 4096, bool behind_ack = false);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  uint64_t checkpoints() const { return checkpoints_.load(); }

  // Under a writer that never pauses, the background pass always ends a few frames behind and
  // the log would grow without end (SQLite restarts the log only once every frame is copied back).
  // So, when the log has grown past a few thresholds, the writer calls this between transactions:
  // with no new frames arriving it copies the few the background pass left, and the next write
  // starts the log again from the beginning.
  void restart_log_if_long();

 private:
  static int on_commit(void* self, sqlite3*, const char*, int frames);
  void run();

  Database& writer_;
  std::unique_ptr<Database> conn_;
  int threshold_;
  bool behind_ack_;
  std::atomic<int> frames_{0};  // frames in the log at the last commit
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  bool stopping_ = false;
  std::atomic<uint64_t> checkpoints_{0};
  std::thread thread_;
};

}  // namespace cc::store
