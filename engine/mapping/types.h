// What a mapping hands the rest of the engine: the feed a message came in on, the data problems
// found in it (ERR content), and the resources, work-list changes and events it produced.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"

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
  // The code system URI for a local coding system name (CE-3) this feed sends:
  // "urn:connecting-care:code:" + feed + ":" + name (percent-encoded; "local" when empty).
  std::string code_system_for(const std::string& coding_system) const;
};

// A data problem found in a message (an ERR segment's content).
struct Issue {
  bool error = true;  // true: AE (stored and held); false: warning, still AA
  int hl7_code = 207; // HL7 table 0357 (101 required field missing, 102 data type error, ...)
  std::string message;
  hl7v2::Location where;
  std::string column;  // for a row of an extract: the column the problem is in ("" when none)
};

struct Assessment {
  bool supported = true;        // false: no mapping for this message type/event
  bool type_mapped = false;     // when not supported: a mapping takes other events of this type
  std::vector<Issue> issues;    // any issue with error=true makes the ACK AE
  bool has_error() const;
};

struct MappedResource {
  std::string type;             // "Patient", "Encounter", "Observation", ...
  std::string id;               // derived from source identifiers, stable across replays
  rapidjson::Document resource; // without meta.versionId / meta.lastUpdated (the store sets them)
  int64_t event_time_ms = 0;    // the mapping's event time: versions follow it
  std::string patient_id;       // the Patient this belongs to (the Patient's own id for Patient)
  // (system, value) pairs to index: every entry of the resource's identifier[]
  std::vector<std::pair<std::string, std::string>> identifiers;
  // Written only when the record has no such resource yet: a results message makes its patient
  // findable without its sparse PID overwriting the administration system's demographics.
  bool only_if_absent = false;
};

// A data-quality work-list entry (kind: "no-nhs-number", "invalid-nhs-number", ...).
struct WorklistItem {
  std::string kind;
  std::string patient_id;
  std::string detail;  // a sentence for the IT user: which message, which value
};

// A local code no code table maps, kept as text and original coding, counted on a report.
struct UnmappedCode {
  std::string table;    // the code table consulted
  std::string system;   // the original coding's system
  std::string code;
  std::string display;
};

// An identity event for engine/identity to act on (a hospital merge of registrations).
struct IdentityEvent {
  std::string kind;               // "merge"
  std::string patient_id;         // the surviving registration's patient
  std::string retired_system;     // the registration merged into it
  std::string retired_value;
  std::string retired_patient_id; // the patient id the retired registration was held under
  std::string detail;
};

struct MappingOutput {
  std::string mapping;  // the mapping file's name
  std::vector<MappedResource> resources;
  std::vector<WorklistItem> worklist_add;
  // Patients whose open work-list items of these kinds are now resolved (a valid NHS number arrived).
  std::vector<std::pair<std::string, std::string>> worklist_resolve;  // (patient_id, kind)
  std::vector<Issue> issues;
  std::vector<UnmappedCode> unmapped_codes;
  std::vector<IdentityEvent> identity_events;
  // The message or row carried an NHS number that failed its check: the record keeps any verified
  // one it already has.
  bool nhs_number_rejected = false;
};

// A row of an extract feed (CSV, JSON lines): the values of the row mapping's declared columns,
// in that order ("" when the file lacks a column), and the row's number in its file.
struct RowInput {
  std::vector<std::string_view> values;
  int64_t number = 0;
};

// Stable resource ids: lowercase hex of the first 16 bytes of
// SHA-256(type + "|" + system + "|" + value).
std::string derive_id(std::string_view type, std::string_view system, std::string_view value);

}  // namespace cc::mapping
