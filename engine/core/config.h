// Engine configuration: listeners, data directory, feeds. Read from a JSON file validated
// against schemas/config.schema.json, or the built-in development configuration.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/result.h"

namespace cc {

struct FeedConfig {
  std::string name;
  std::string type = "hl7v2-mllp";
  std::string owner_ods;                          // ODS code of the organisation that owns the feed
  std::vector<std::string> sending_facilities;    // MSH-4 values accepted; "*" accepts any
  std::vector<std::string> processing_ids{"P"};   // MSH-11 values accepted; others get AR
  uint64_t max_message_bytes = 16u << 20;         // MDM letters carry base64 documents
  int idle_timeout_seconds = 600;
  std::map<std::string, std::string> authorities; // assigning authority -> identifier system URI
  std::string unmapped_ack = "AA";                // ACK for a message type with no mapping: AA or AE

  bool accepts_facility(const std::string& facility) const;
  bool accepts_processing_id(const std::string& id) const;
};

struct Config {
  std::string listen_address = "127.0.0.1";
  int mllp_port = 2575;
  int http_port = 8080;
  std::string data_dir = "./data";
  std::string mappings_dir;  // mapping files and tables/; empty: the mappings/ the engine was built with
  int threads = 2;
  bool development = false;
  int64_t idempotency_window_seconds = 7 * 24 * 3600;
  std::vector<FeedConfig> feeds;

  // The built-in development configuration: one MLLP feed accepting every sending facility.
  static Config development_default();
  // Reads and validates a configuration file; every problem is reported with its JSON path.
  static Result<Config> load(const std::string& path);
  static Result<Config> parse(const std::string& json_text, const std::string& origin);

  // The feed that accepts a message from this sending facility (first match), or nullptr.
  const FeedConfig* feed_for(const std::string& sending_facility) const;
};

// The configuration JSON Schema compiled into the binary (schemas/config.schema.json).
extern const char* const kConfigSchema;

}  // namespace cc
