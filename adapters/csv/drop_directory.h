// A watched drop directory for extract feeds: complete files are handed, oldest first, to a
// handler, then moved to done/ or failed/ with a FILE.report.json beside them. Polling only.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "engine/core/result.h"

namespace cc::csv {

// The handler's verdict on one file.
struct DropOutcome {
  bool accepted = false;        // true: the file goes to done/; false: to failed/
  std::string report;           // what to tell the sender: plain text, or JSON when report_is_json
  bool report_is_json = false;  // e.g. report_json(extract); embedded as JSON when it parses
};

// Called on the watcher's thread with the path of a complete file (still in the drop directory).
// It may throw: the file then goes to failed/ with the exception's text as its report.
using DropHandler = std::function<DropOutcome(const std::filesystem::path& file)>;

struct DropDirectoryOptions {
  std::filesystem::path directory;         // the watched directory
  std::filesystem::path done_directory;    // empty: "done" beside the watched directory
  std::filesystem::path failed_directory;  // empty: "failed" beside the watched directory
  std::chrono::milliseconds poll_interval{2000};
};

// The whole of a file's bytes (extract readers work on the file held in memory).
Result<std::string> read_file_bytes(const std::filesystem::path& file);

// Watches one directory. A regular file is complete when its size and modification time are the
// same at two consecutive polls and its name does not end in ".part" or ".tmp" or start with '.'
// (senders write under such names, then rename). Complete files are handled oldest first (by
// modification time, then name). After the handler returns, the file is moved to done/ or failed/
// (done/ and failed/ are created when missing); when the target name is taken there, the file gets
// a UTC timestamp before its extension (a.csv -> a.20240601T101500Z.csv, then -2, -3 ...) rather
// than overwriting. The report goes beside it as NAME.report.json:
//   {"file": original name, "stored_as": name in done/ or failed/, "outcome": "done"|"failed",
//    "finished_at": UTC time, "size": bytes, "report": the handler's JSON, or its text as a string}
// A file that cannot be moved is logged and left alone until its size or time changes (it is not
// handled again on every poll).
class DropDirectoryWatcher {
 public:
  DropDirectoryWatcher(DropDirectoryOptions options, DropHandler handler);
  ~DropDirectoryWatcher();  // stop()
  DropDirectoryWatcher(const DropDirectoryWatcher&) = delete;
  DropDirectoryWatcher& operator=(const DropDirectoryWatcher&) = delete;

  // Checks the watched directory exists, creates done/ and failed/, and starts polling on a thread
  // of its own (the first poll at once). Fails with code "drop-directory" naming the problem.
  Status start();

  // Stops polling promptly: a wait between polls is cut short; a handler already running is let
  // finish (its file is still moved), and no further file is started. Safe to call twice.
  void stop();

  // One poll on the caller's thread (for tests, or a caller with its own schedule; do not mix with
  // start()). Returns how many files were handled and moved.
  size_t poll_once();

  // Files handled and moved so far (by either path), readable from any thread.
  uint64_t files_handled() const { return handled_.load(); }

  const std::filesystem::path& done_directory() const { return options_.done_directory; }
  const std::filesystem::path& failed_directory() const { return options_.failed_directory; }

 private:
  struct Seen {
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    bool operator==(const Seen&) const = default;
  };
  void run();
  bool handle(const std::filesystem::path& file, const Seen& seen);

  DropDirectoryOptions options_;
  DropHandler handler_;
  std::map<std::string, Seen> seen_;   // files at the previous poll
  std::map<std::string, Seen> stuck_;  // files that could not be moved, as they were then
  std::atomic<uint64_t> handled_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace cc::csv
