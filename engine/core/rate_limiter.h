// Per-key request rate limit (a token bucket per key, e.g. per user): `per_minute` sustained,
// `burst` at once. Thread-safe; idle keys are forgotten so the table stays small.
#pragma once
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cc {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // per_minute 0: no limit.
  RateLimiter(int per_minute, int burst) : per_minute_(per_minute), burst_(burst > 0 ? burst : 1) {}
  // True when `key` may make one more request at `now` (and counts it); otherwise false and
  // `retry_after_seconds` says when one token will be back.
  bool allow(const std::string& key, Clock::time_point now, int64_t* retry_after_seconds = nullptr);
  bool allow(const std::string& key) { return allow(key, Clock::now()); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  int per_minute_;
  int burst_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point last_sweep_{};
};

}  // namespace cc
