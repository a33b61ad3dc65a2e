// Per-key request rate limit (a token bucket per key, e.g. per user): `per_minute` sustained,
// `burst` at once. Thread-safe; idle keys are forgotten so the table stays small.
#include "engine/core/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace cc {

bool RateLimiter::allow(const std::string& key, Clock::time_point now, int64_t* retry_after_seconds) {
  if (per_minute_ <= 0) return true;
  const double per_second = per_minute_ / 60.0;
  std::lock_guard lk(mu_);
  // Forget buckets that have refilled completely: they behave exactly like new ones.
  if (now - last_sweep_ > std::chrono::minutes(1)) {
    last_sweep_ = now;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double idle = std::chrono::duration<double>(now - it->second.updated).count();
      if (it->second.tokens + idle * per_second >= burst_) it = buckets_.erase(it);
      else ++it;
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{double(burst_), now});
  Bucket& b = it->second;
  if (!fresh) {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min<double>(burst_, b.tokens + std::max(0.0, elapsed) * per_second);
    b.updated = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  if (retry_after_seconds)
    *retry_after_seconds = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / per_second)));
  return false;
}

}  // namespace cc
