// Metrics: named counters and gauges exposed in the Prometheus text format at GET /metrics.
// Counters are lock-free atomics registered once; the registry lives for the process.
#include "engine/core/metrics.h"

#include <sstream>

namespace cc {

Counter& Metrics::counter(const std::string& name, const std::string& help) {
  std::lock_guard lk(mu_);
  for (auto& e : entries_)
    if (e.name == name && e.counter) return *e.counter;
  entries_.push_back(Entry{name, help, "counter", std::make_unique<Counter>(), nullptr});
  return *entries_.back().counter;
}

void Metrics::gauge(const std::string& name, const std::string& help, std::function<double()> read) {
  std::lock_guard lk(mu_);
  entries_.push_back(Entry{name, help, "gauge", nullptr, std::move(read)});
}

std::string Metrics::prometheus_text() const {
  std::lock_guard lk(mu_);
  std::ostringstream os;
  for (auto& e : entries_) {
    os << "# HELP " << e.name << ' ' << e.help << "\n# TYPE " << e.name << ' ' << e.kind << '\n' << e.name << ' ';
    if (e.counter)
      os << e.counter->value();
    else
      os << e.read();
    os << '\n';
  }
  return os.str();
}

}  // namespace cc
