// HL7 v2 ADT (A01-A05, A08, A11-A13, A28, A31) to UK Core Patient and Encounter.
// assess() decides the ACK code on the ingest path; map_adt() runs after the commit.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/core/result.h"

namespace cc::mapping {

// What the mapping needs to know about the feed a message came in on.
struct FeedContext {
  std::string feed;  // feed name from configuration, e.g. "pas-adt"
  // Assigning authority (CX-4 namespace id, or CX-4 universal id) -> identifier system URI.
  // A key "AUTHORITY^TYPE" (TYPE an HL7 table 0203 code such as MR or VN) names the system for
  // that authority's identifiers of that type only: a trust numbers visits apart from patients.
  std::map<std::string, std::string> authority_systems;
  // The documented default for an authority the configuration does not name:
  // "urn:connecting-care:id:" + feed + ":" + authority (percent-encoded; "local" when empty).
  std::string system_for(const std::string& authority) const;
  // "AUTHORITY^TYPE" when configured, else system_for(authority).
  std::string system_for(const std::string& authority, const std::string& type) const;
  // Whether the configuration names a system for this authority (or "AUTHORITY^TYPE").
  bool declares(const std::string& authority, const std::string& type) const;
};

// A data problem found in a message (an ERR segment's content).
struct Issue {
  bool error = true;  // true: AE (stored and held); false: warning, still AA
  int hl7_code = 207; // HL7 table 0357 (101 required field missing, 102 data type error, ...)
  std::string message;
  hl7v2::Location where;
};

struct Assessment {
  bool supported = true;        // false: no mapping for this message type/event
  std::vector<Issue> issues;    // any issue with error=true makes the ACK AE
  bool has_error() const;
};

// Cheap checks that decide AA or AE before the raw message is committed: PID present,
// a patient identifier present, NHS number (if sent) passes Modulus 11, dates readable.
Assessment assess_adt(const hl7v2::Message& msg, const FeedContext& feed);

struct MappedResource {
  std::string type;             // "Patient", "Encounter"
  std::string id;               // derived from source identifiers, stable across replays
  rapidjson::Document resource; // without meta.versionId / meta.lastUpdated (the store sets them)
  int64_t event_time_ms = 0;    // EVN-2, else MSH-7: versions follow event time
  std::string patient_id;       // the Patient this belongs to (the Patient's own id for Patient)
  // (system, value) pairs to index: Patient.identifier[], Encounter.identifier[]
  std::vector<std::pair<std::string, std::string>> identifiers;
};

// A data-quality work-list entry (kind: "no-nhs-number", "invalid-nhs-number").
struct WorklistItem {
  std::string kind;
  std::string patient_id;
  std::string detail;  // a sentence for the IT user: which message, which value
};

struct MappingOutput {
  std::vector<MappedResource> resources;
  std::vector<WorklistItem> worklist_add;
  // Patients whose open work-list items of these kinds are now resolved (a valid NHS number arrived).
  std::vector<std::pair<std::string, std::string>> worklist_resolve;  // (patient_id, kind)
  std::vector<Issue> issues;
};

// Full mapping. Error only when nothing can be mapped (the message is then kept in the
// inbox with the error as its status).
Result<MappingOutput> map_adt(const hl7v2::Message& msg, const FeedContext& feed);

// Stable resource ids: lowercase hex of the first 16 bytes of
// SHA-256(type + "|" + system + "|" + value).
std::string derive_id(std::string_view type, std::string_view system, std::string_view value);

}  // namespace cc::mapping
