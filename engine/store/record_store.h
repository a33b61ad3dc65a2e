// RecordStore: the versioned FHIR record (every version kept, current = latest by event time),
// indexed by patient and identifier. An interface, so PostgreSQL can stand in without touching callers.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "engine/core/result.h"
#include "engine/identity/matching.h"

namespace cc::store {

// Where a version came from.
struct Provenance {
  std::string feed;
  std::string sending_facility;  // ODS code of the sender (MSH-4)
  std::string control_id;        // MSH-10
  int64_t received_ms = 0;
  int64_t inbox_id = 0;
};

// A version's text made ahead of the write (engine/store/version_text.h).
struct PreparedText {
  std::string json;  // meta stamped, with placeholders for meta.versionId and meta.lastUpdated
  std::string hash;  // the content hash of `json`
  size_t version_at = std::string::npos;  // the placeholders' offsets (npos: not found exactly once)
  size_t time_at = std::string::npos;
};

struct ResourceWrite {
  std::string type;
  std::string id;
  // The store sets meta.versionId, meta.lastUpdated, meta.source. Emptied by prepare_text() once
  // the text is made, unless the store still needs it (see there).
  rapidjson::Document resource;
  int64_t event_time_ms = 0;      // versions follow event time, not arrival order
  std::string patient_id;
  std::vector<std::pair<std::string, std::string>> identifiers;  // (system, value)
  // Identifier systems a new version keeps from the current one when it carries none of its own
  // (a later message without a valid NHS number must not drop a verified one).
  std::vector<std::string> keep_identifier_systems;
  // Written only when no version of the resource exists yet.
  bool only_if_absent = false;
  // Where in the delivery it came from, beyond the message: "row" (an extract file's row, from 1)
  // or "entry" (a Bundle's entry, from 0); "" for the whole message.
  std::string part;
  int64_t part_number = 0;
  // Made by prepare_text() before the store's transaction, else by the store; reset when the
  // resource changes after it.
  std::optional<PreparedText> text;
};

struct WorklistEntry {
  int64_t id = 0;
  std::string kind;        // no-nhs-number, invalid-nhs-number, control-id-reused, mapping-failed, message-held
  std::string patient_id;  // may be empty
  int64_t inbox_id = 0;
  std::string feed;
  std::string detail;
  int64_t created_ms = 0;
  int64_t resolved_ms = 0;  // 0 while open
};

// A local code no code table maps, for the codes-without-a-mapping report.
struct UnmappedCodeSeen {
  std::string code_table;
  std::string system;
  std::string code;
  std::string display;
};

struct UnmappedCodeRow {
  std::string feed;
  std::string code_table;
  std::string system;
  std::string code;
  std::string display;
  int64_t messages = 0;  // messages that carried it
  int64_t first_seen_ms = 0;
  int64_t last_seen_ms = 0;
  int64_t last_inbox_id = 0;
};

// An identity event (a hospital merge) recorded for engine/identity, which acts on it.
struct IdentityEventRecord {
  std::string kind;  // merge
  std::string patient_id;
  std::string retired_system;
  std::string retired_value;
  std::string retired_patient_id;
  std::string detail;
};

// A snapshot file's instruction to the store: current resources of these types last written by
// this feed and not in this file have ended — each gets a new version with `patch` merged in.
struct SnapshotEnd {
  std::map<std::string, std::string> patch_by_type;  // type -> JSON object text
  std::set<std::pair<std::string, std::string>> kept; // (type, id) the file has
  int64_t event_time_ms = 0;                          // the file's time: the ended versions are current
};

// Everything one inbox message produced, written in one transaction with the cursor move,
// so a crash between inbox and record replays that message exactly once. A large extract file comes
// in several items, one a chunk of rows: all but the last are `partial`, and the cursor moves past
// the file only with the last (a replay maps the file again from the start; the chunks written
// already are unchanged by it).
struct MappedBatchItem {
  int64_t inbox_id = 0;
  bool partial = false;
  std::string outcome;  // mapped, unmapped, failed
  std::string detail;
  Provenance provenance;
  std::vector<ResourceWrite> writes;
  std::vector<WorklistEntry> worklist_add;
  std::vector<std::pair<std::string, std::string>> worklist_resolve;  // (patient_id, kind)
  std::vector<UnmappedCodeSeen> unmapped_codes;
  std::vector<IdentityEventRecord> identity_events;
  std::optional<SnapshotEnd> snapshot;
};

// The inbox id a batch maps through (the mapping cursor after it): its last message's, or the one
// before when the batch ends with part of a message.
inline int64_t mapped_through(const std::vector<MappedBatchItem>& batch) {
  return batch.back().partial ? batch.back().inbox_id - 1 : batch.back().inbox_id;
}

struct StoredResource {
  std::string type;
  std::string id;
  int64_t version = 0;
  std::string json;        // full resource with meta
  std::string patient_id;  // the Patient it belongs to ("" when unknown)
};

struct Page {
  std::vector<StoredResource> items;
  int64_t total = 0;
};

// The patient index (engine/identity decides, the store keeps it): each source's Patient is a
// registration; registrations joined under one NHS number make one regional patient.
struct IdentityCandidate {
  std::string patient_id;   // the regional patient, or another registration standing alone
  std::string nhs_number;   // "" when not a regional patient
  int score = 0;
  std::vector<std::string> reasons;
  identity::Demographics demographics;
};

// A registration a person must look at: no NHS number yet (local) or held on a disagreement.
struct IdentityTask {
  std::string registration_id;
  std::string state;
  std::string nhs_number;
  std::string feed;
  identity::Demographics demographics;
  int64_t updated_ms = 0;
  std::vector<IdentityCandidate> candidates;  // best first, at most 5
};

// Every patient a work-list names (the registrations and their candidates), for its audit entry.
inline std::set<std::string> patients_named(const std::vector<IdentityTask>& tasks) {
  std::set<std::string> named;
  for (const IdentityTask& t : tasks) {
    named.insert(t.registration_id);
    for (const IdentityCandidate& c : t.candidates) named.insert(c.patient_id);
  }
  return named;
}

struct IdentityActionResult {
  std::string registration_id;
  std::string patient_id;  // the patient its data are now read under
  std::string state;
  int64_t moved = 0;       // registrations that changed patient
};

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // Writes a batch of mapped messages and moves the mapping cursor to the last inbox id.
  // A message mapped again (replay, re-map) adds a version only where its output changed.
  virtual Status apply(std::vector<MappedBatchItem>& batch) = 0;
  // Writes re-mapped messages without moving the cursor (they are behind it already).
  virtual Status apply_remap(std::vector<MappedBatchItem>& batch) = 0;
  // A reader may keep what it derived about one person (the facts governance decides on) until a
  // write touches that person: a resource filed under them or any of their registrations, or a
  // registration joining or leaving them. person_stamp: where the person stands now; nullopt when
  // this store does not track it (another process may write) or a write touching them is under
  // way: derive afresh and keep nothing. unchanged: no write has touched them since the stamp.
  struct PersonStamp {
    std::vector<std::pair<uint32_t, uint64_t>> stripes;  // (stripe of an id, writes begun on it)
  };
  virtual std::optional<PersonStamp> person_stamp(const std::string& person) { return std::nullopt; }
  virtual bool unchanged(const PersonStamp& stamp) const { return false; }
  // The last inbox id whose mapping has been committed.
  virtual int64_t mapping_cursor() = 0;

  virtual std::optional<StoredResource> read(const std::string& type, const std::string& id) = 0;
  // The current versions of those of `ids` (of `type`) that exist, in no particular order: one
  // look-up for many, where a reader judges what an item names.
  virtual std::vector<StoredResource> read_many(const std::string& type, const std::vector<std::string>& ids) {
    std::vector<StoredResource> out;
    for (const auto& id : ids)
      if (auto r = read(type, id)) out.push_back(std::move(*r));
    return out;
  }
  virtual std::optional<StoredResource> read_version(const std::string& type, const std::string& id,
                                                     int64_t version) = 0;
  // Every version, newest first.
  virtual Page history(const std::string& type, const std::string& id, int64_t offset, int64_t count) = 0;
  // Current resources of `type` carrying identifier `value` under `system`: nullopt, any system;
  // "", none (FHIR's identifier=|value).
  virtual Page search_identifier(const std::string& type, const std::optional<std::string>& system,
                                 const std::string& value, int64_t offset, int64_t count) = 0;
  // Current resources of `type` belonging to the patient.
  virtual Page search_patient(const std::string& type, const std::string& patient_id, int64_t offset,
                              int64_t count) = 0;

  virtual std::vector<WorklistEntry> worklist(bool open_only, int64_t limit) = 0;

  // The patient a resource filed under `patient_id` (a registration or a regional patient) is
  // read under: the regional patient it joined, or itself.
  virtual std::string person_of(const std::string& patient_id) = 0;
  // Registrations waiting for a person, newest first, each with its scored candidates.
  virtual std::vector<IdentityTask> identity_worklist(int64_t limit) = 0;
  // A person's decision on a registration. action: "link" (to `patient`: a regional patient or a
  // registration), "new" (matches no one), "reject" (never joined automatically), "unmerge" (undo
  // its latest join: a hospital merge as a whole, or a person's link). `actor` and `reason` are
  // kept in the index's history. Errors: "not-found", "invalid".
  virtual Result<IdentityActionResult> resolve_identity(const std::string& action, const std::string& registration,
                                                        const std::string& patient, const std::string& actor,
                                                        const std::string& reason) = 0;
  // Codes without a mapping, most recently seen first.
  virtual std::vector<UnmappedCodeRow> unmapped_codes(int64_t limit) = 0;
  // Messages kept in the inbox with no mapping, by reason (which names the message type and feed).
  struct UnmappedMessages {
    std::string reason;
    int64_t messages = 0;
    int64_t first_inbox_id = 0, last_inbox_id = 0;
  };
  virtual std::vector<UnmappedMessages> unmapped_messages(int64_t limit) = 0;
};

}  // namespace cc::store
