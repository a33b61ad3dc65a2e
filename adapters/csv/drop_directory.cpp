// The drop-directory watcher: poll, pick complete files oldest first, hand over, move, report.
#include "adapters/csv/drop_directory.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <vector>

namespace cc::csv {

namespace fs = std::filesystem;

Result<std::string> read_file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (!in || ec) return make_error("read", "cannot open " + file.string() + (ec ? ": " + ec.message() : ""));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return make_error("read", "cannot read all of " + file.string());
  return bytes;
}

namespace {

std::string utc_now(const char* format) {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

bool ends_with(const std::string& s, std::string_view suffix) { return s.ends_with(suffix); }

bool in_progress_name(const std::string& name) {
  return name.empty() || name.front() == '.' || ends_with(name, ".part") || ends_with(name, ".tmp");
}

fs::path sibling(const fs::path& directory, const char* name) {
  fs::path dir = directory.lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "in/" -> "in"
  return dir.parent_path() / name;
}

bool taken(const fs::path& target) {
  std::error_code ec;
  return fs::exists(target, ec) || fs::exists(target.string() + ".report.json", ec);
}

// `name` in `directory`, or with a UTC timestamp (and a counter) before its extension if taken.
fs::path free_name(const fs::path& directory, const std::string& name) {
  fs::path target = directory / name;
  if (!taken(target)) return target;
  const fs::path original(name);
  const std::string stem = original.stem().string();
  const std::string extension = original.extension().string();
  const std::string stamp = utc_now("%Y%m%dT%H%M%SZ");
  for (int n = 1;; ++n) {
    std::string candidate = stem + "." + stamp + (n > 1 ? "-" + std::to_string(n) : "") + extension;
    target = directory / candidate;
    if (!taken(target)) return target;
  }
}

// rename(), or copy and remove when the target is on another file system.
std::error_code move_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec == std::errc::cross_device_link) {
    ec.clear();
    if (fs::copy_file(from, to, ec)) fs::remove(from, ec);
  }
  return ec;
}

std::string report_envelope(const std::string& name, const fs::path& stored, bool accepted, uintmax_t size,
                            const DropOutcome& outcome) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  auto str = [&](const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
  w.StartObject();
  w.Key("file");
  str(name);
  w.Key("stored_as");
  str((stored.parent_path().filename() / stored.filename()).string());
  w.Key("outcome");
  w.String(accepted ? "done" : "failed");
  w.Key("finished_at");
  str(utc_now("%Y-%m-%dT%H:%M:%SZ"));
  w.Key("size");
  w.Uint64(size);
  w.Key("report");
  rapidjson::Document parsed;
  if (outcome.report_is_json && !parsed.Parse(outcome.report.data(), outcome.report.size()).HasParseError()) {
    parsed.Accept(w);
  } else {
    str(outcome.report);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// Written under a temporary name and renamed, so a reader never sees half a report.
bool write_report(const fs::path& target, const std::string& text) {
  const fs::path temporary = target.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(temporary, target, ec);
  return !ec;
}

}  // namespace

DropDirectoryWatcher::DropDirectoryWatcher(DropDirectoryOptions options, DropHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  if (options_.done_directory.empty()) options_.done_directory = sibling(options_.directory, "done");
  if (options_.failed_directory.empty()) options_.failed_directory = sibling(options_.directory, "failed");
}

DropDirectoryWatcher::~DropDirectoryWatcher() { stop(); }

Status DropDirectoryWatcher::start() {
  std::error_code ec;
  if (!fs::is_directory(options_.directory, ec)) {
    return make_error("drop-directory", "the drop directory " + options_.directory.string() + " does not exist");
  }
  for (const fs::path& dir : {options_.done_directory, options_.failed_directory}) {
    fs::create_directories(dir, ec);
    if (ec) return make_error("drop-directory", "cannot create " + dir.string() + ": " + ec.message());
  }
  if (thread_.joinable()) return {};
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return {};
}

void DropDirectoryWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DropDirectoryWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_once();
    lock.lock();
    wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_.load(); });
  }
}

size_t DropDirectoryWatcher::poll_once() {
  struct Ready {
    fs::path path;
    std::string name;
    Seen seen;
  };
  std::vector<Ready> ready;
  std::map<std::string, Seen> now;
  std::map<std::string, Seen> still_stuck;  // stuck files still there unchanged
  std::error_code ec;
  fs::directory_iterator it(options_.directory, ec), end;
  if (ec) {
    spdlog::warn("drop directory {}: {}", options_.directory.string(), ec.message());
    return 0;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code entry_ec;
    if (!it->is_regular_file(entry_ec)) continue;
    std::string name = it->path().filename().string();
    if (in_progress_name(name)) continue;
    Seen seen{it->file_size(entry_ec), it->last_write_time(entry_ec)};
    if (entry_ec) continue;  // gone or unreadable since the listing
    if (auto s = stuck_.find(name); s != stuck_.end() && s->second == seen) {
      still_stuck.emplace(std::move(name), seen);
      continue;
    }
    if (auto previous = seen_.find(name); previous != seen_.end() && previous->second == seen) {
      ready.push_back({it->path(), name, seen});
    }
    now.emplace(std::move(name), seen);
  }
  seen_ = std::move(now);
  stuck_ = std::move(still_stuck);

  std::sort(ready.begin(), ready.end(), [](const Ready& a, const Ready& b) {
    return a.seen.mtime != b.seen.mtime ? a.seen.mtime < b.seen.mtime : a.name < b.name;
  });
  size_t handled = 0;
  for (const Ready& file : ready) {
    if (stopping_) break;
    if (handle(file.path, file.seen)) ++handled;
    seen_.erase(file.name);
  }
  return handled;
}

bool DropDirectoryWatcher::handle(const fs::path& file, const Seen& seen) {
  const std::string name = file.filename().string();
  DropOutcome outcome;
  try {
    outcome = handler_(file);
  } catch (const std::exception& e) {
    outcome = DropOutcome{false, std::string("the file could not be processed: ") + e.what(), false};
  } catch (...) {
    outcome = DropOutcome{false, "the file could not be processed: an unknown error was thrown", false};
  }

  const fs::path& directory = outcome.accepted ? options_.done_directory : options_.failed_directory;
  std::error_code ec;
  fs::create_directories(directory, ec);  // poll_once() may run without start()
  const fs::path target = free_name(directory, name);
  if ((ec = move_file(file, target))) {
    spdlog::error("drop directory: cannot move {} to {}: {}; it stays until it changes", file.string(),
                  target.string(), ec.message());
    stuck_[name] = seen;
    return false;
  }
  const std::string report = report_envelope(name, target, outcome.accepted, seen.size, outcome);
  if (!write_report(target.string() + ".report.json", report)) {
    spdlog::error("drop directory: cannot write the report for {}", target.string());
  }
  ++handled_;
  return true;
}

}  // namespace cc::csv
