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
  // What kind of organisation sends it: gp, acute, mental-health, community, social-care, tertiary,
  // ambulance ("" undeclared). Governance reads it (a policy may show social care only with consent).
  std::string organisation_type;
  std::vector<std::string> sending_facilities;    // MSH-4 values accepted; "*" accepts any
  std::vector<std::string> processing_ids{"P"};   // MSH-11 values accepted; others get AR
  uint64_t max_message_bytes = 16u << 20;         // MDM letters carry base64 documents
  int idle_timeout_seconds = 600;
  std::map<std::string, std::string> authorities; // assigning authority -> identifier system URI
  std::string unmapped_ack = "AA";                // ACK for a message type with no mapping: AA or AE
  // With mutual TLS: the subject (RFC 2253, e.g. "CN=pas.rbt.example,O=RBT") a connection's client
  // certificate must carry for this feed's messages to be accepted. Empty: any verified certificate.
  std::string client_certificate_subject;
  // Extract feeds (type "extract"): files of rows uploaded to POST /ingest/{feed}.
  std::string format = "csv";   // csv or jsonl
  char delimiter = ',';         // CSV field delimiter: ',' ';' or tab
  std::string mapping;          // the row mapping (mappings/*.json "name") each row goes through
  std::string mode = "delta";   // delta: a file adds and updates; snapshot: it is the whole current set
  // A watched drop directory (besides the upload endpoint): handled files move to done/ or failed/
  // beside it, each with NAME.report.json. Empty: none.
  std::string drop_directory;
  int drop_poll_seconds = 2;

  bool is_extract() const { return type == "extract"; }
  bool is_gp() const { return type == "gp-fhir"; }  // FHIR pushes (POST /fhir) from a GP extract service
  bool accepts_facility(const std::string& facility) const;
  bool accepts_processing_id(const std::string& id) const;
};

// TLS on both listeners (on when cert_file is set). Files are re-read on SIGHUP and when their
// modification time changes (checked at most every reload_check_seconds, on a new connection).
struct TlsConfig {
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key; refused when group- or world-accessible
  std::string client_ca_file;  // PEM CA(s) for MLLP client certificates: mutual TLS on feeds
  int reload_check_seconds = 10;
  bool enabled() const { return !cert_file.empty(); }
};

// OpenID Connect access tokens (RS256 / ES256) verified against the provider's JWKS.
struct OidcConfig {
  std::string issuer;    // exact `iss`
  std::string audience;  // must appear in `aud`
  std::string jwks_url;  // https (http only to loopback)
  int64_t jwks_refresh_seconds = 3600;     // scheduled refetch
  int64_t jwks_min_refetch_seconds = 30;   // an unknown kid refetches at most this often
  int64_t clock_skew_seconds = 60;         // allowance on exp and nbf
  std::string claims_profile = "default";  // "default" (sub, role, org, ...) or "cis2"
  std::map<std::string, std::string> claim_names;  // ours -> the provider's (default profile)
  std::map<std::string, std::string> role_map;     // CIS2 RBAC role code -> our role name
  bool enabled() const { return !issuer.empty() || !jwks_url.empty() || !audience.empty(); }
};

// Limits and defences on the listeners and the API.
struct LimitsConfig {
  uint64_t http_max_header_bytes = 16 * 1024;
  uint64_t http_max_body_bytes = 1u << 20;
  int http_read_timeout_seconds = 30;      // a whole request (headers and body), and keep-alive idle
  int handshake_timeout_seconds = 10;      // TLS handshake on either listener
  int mllp_frame_timeout_seconds = 300;    // first byte of a frame to its end block
  int max_connections_per_peer = 64;       // per listener, per client IP address
  int requests_per_minute_per_user = 1200; // per token `sub`; 0 = no limit
  int request_burst_per_user = 200;
  std::vector<std::string> allowed_origins;  // cross-origin Origins allowed to change state
  // An extract file is mapped and written this many rows at a time (its memory while mapped).
  int64_t extract_chunk_rows = 50000;
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
  std::string policy_file;                           // "": the default policy
  std::map<std::string, std::string> organisations;  // ODS hierarchy: child -> parent
  std::vector<FeedConfig> feeds;
  TlsConfig tls;
  OidcConfig oidc;
  LimitsConfig limits;

  // Checks what the schema cannot: TLS files come as a pair, OIDC settings as a set, a JWKS URL
  // is https (or http to loopback), feeds bound to a client subject need mutual TLS.
  Status check() const;

  // The built-in development configuration: one MLLP feed accepting every sending facility.
  static Config development_default();
  // The feed named `name`, or nullptr.
  const FeedConfig* feed_named(const std::string& name) const;
  // The GP feed (type gp-fhir) organisation `ods` owns ("*": any organisation's feed system), or nullptr.
  const FeedConfig* gp_feed_for(const std::string& ods) const;
  // Reads and validates a configuration file against its schema; every problem is reported with its
  // JSON path. What goes together across keys and flags is for check(), after any flags are applied.
  static Result<Config> load(const std::string& path);
  static Result<Config> parse(const std::string& json_text, const std::string& origin);

  // The feed that accepts a message from this sending facility (first match), or nullptr.
  const FeedConfig* feed_for(const std::string& sending_facility) const;
};

// The configuration JSON Schema compiled into the binary (schemas/config.schema.json).
extern const char* const kConfigSchema;

}  // namespace cc
