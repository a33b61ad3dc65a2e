// Ingest: what happens to a framed HL7 v2 message before its ACK — parse the MSH, pick the feed,
// decide AA / AE / AR, commit the raw message to the inbox, and only then answer.
#pragma once
#include <atomic>
#include <functional>
#include <string>

#include "adapters/hl7v2/ack.h"
#include "adapters/hl7v2/mllp_server.h"
#include "engine/core/config.h"
#include "engine/core/metrics.h"
#include "engine/mapping/mapping_set.h"
#include "engine/store/inbox.h"

namespace cc::app {

class Ingest : public hl7v2::FrameSink {
 public:
  Ingest(const Config& config, const mapping::MappingRegistry& mappings, store::Inbox& inbox, Metrics& metrics,
         std::function<void()> on_committed);
  void on_frame(hl7v2::InboundFrame frame, std::function<void(std::string)> reply) override;

  // From now on every message is answered AR ("engine shutting down"): a resend may succeed.
  void begin_shutdown() { shutting_down_ = true; }
  // Messages received but not yet answered.
  int64_t in_flight() const { return in_flight_.load(); }

 private:
  // An AR (counted) mirroring `header`, or whatever MSH can be read from `bytes`.
  std::string reject(const hl7v2::AckHeader& header, int hl7_code, const std::string& why,
                     const std::string& segment = "", int field = 0);
  std::string reject(std::string_view bytes, int hl7_code, const std::string& why, const std::string& segment = "",
                     int field = 0);

  const Config& config_;
  const mapping::MappingRegistry& mappings_;
  uint64_t largest_message_bytes_ = 0;  // the listener's limit: the largest of any feed
  store::Inbox& inbox_;
  std::function<void()> on_committed_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> in_flight_{0};
  Counter& received_;
  Counter& aa_;
  Counter& ae_;
  Counter& ar_;
  Counter& duplicates_;
  Counter& key_reused_;
};

// A fresh ACK control id (MSH-10 of our ACK): unique across restarts, at most 20 characters.
std::string next_ack_control_id();
// Now as an HL7 DTM in Europe/London with its offset, e.g. 20261122073356+0000.
std::string hl7_now();

}  // namespace cc::app
