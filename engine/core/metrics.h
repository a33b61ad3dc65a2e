// Metrics: named counters and gauges exposed in the Prometheus text format at GET /metrics.
// Counters are lock-free atomics registered once; the registry lives for the process.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cc {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Metrics {
 public:
  // Registers a counter; the returned reference stays valid for the registry's life.
  Counter& counter(const std::string& name, const std::string& help);
  // Registers a gauge read on each scrape.
  void gauge(const std::string& name, const std::string& help, std::function<double()> read);
  std::string prometheus_text() const;

 private:
  struct Entry {
    std::string name, help, kind;
    std::unique_ptr<Counter> counter;
    std::function<double()> read;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

}  // namespace cc
