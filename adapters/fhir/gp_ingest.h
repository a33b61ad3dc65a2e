// GP feed ingest: a GP extract service's FHIR R4 push (a transaction or batch Bundle, or one
// resource) validated and turned into resources with stable ids, ready for the record store.
//
// Socket-free and store-free: the HTTP endpoint hands over the body and the path; the record is
// consulted only through the caller's resolver. See adapters/fhir/README.md for the rules.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/fhir/outcome.h"
#include "engine/identity/nhs_number.h"
#include "engine/mapping/types.h"

namespace cc::fhir_ingest {

// What arrived: the body of POST /fhir (a Bundle), POST /fhir/{type} or PUT /fhir/{type}/{id}.
struct Request {
  enum class Kind { kBundle, kCreate, kUpdate };
  Kind kind = Kind::kBundle;
  std::string type;       // kCreate, kUpdate: {type} from the path
  std::string id;         // kUpdate: {id} from the path
  std::string_view body;  // the raw bytes; must outlive the ingest() call only
};

// Whether the record already holds the resource type/id. References the push does not carry
// resolve through it; it also decides 200 OK (update) or 201 Created in responses.
using RecordResolver = std::function<bool(const std::string& type, const std::string& id)>;

// The record's Patient id for a validated NHS number.
using PatientIdForNhsNumber = std::function<std::string(const identity::NhsNumber& nhs_number)>;

// The default: derive_id("Patient", "https://fhir.nhs.uk/Id/nhs-number", nhs).
std::string default_patient_id(const identity::NhsNumber& nhs_number);

struct Limits {
  size_t max_body_bytes = 64u << 20;  // 413 beyond this
  int max_depth = 64;                 // JSON nesting; 400 beyond this
  size_t max_entries = 20000;         // Bundle.entry; 413 beyond this
};

struct Feed {
  std::string name = "gp";              // the feed's configured name: part of every derived id
  int64_t now_ms = 0;                   // event time of resources with no date of their own
  RecordResolver in_record;             // empty: the record holds nothing
  PatientIdForNhsNumber patient_id_for; // empty: default_patient_id
  Limits limits;
  // The push was accepted whole before (every entry accepted or ignored: the record builder mapping
  // a stored push): its resources are not validated against the JSON Schema again, which would
  // find nothing (the same bytes, the same schema) and is most of the cost of mapping them.
  bool accepted_before = false;
};

enum class Disposition {
  kAccepted,    // in IngestResult::resources
  kIgnored,     // a resource type the record does not keep (Claim, Provenance...): not stored
  kRejected,    // the entry's own problems (or a reference to a rejected entry) keep it out
  kNotApplied,  // a transaction entry without problems, not applied because another entry failed
};

// An accepted entry, as the record store takes it.
struct IngestedResource {
  // type; id (derived, stable); resource (id set, references rewritten, meta.versionId,
  // meta.lastUpdated and meta.source removed); event_time_ms; patient_id (the Patient's own id
  // for a Patient, empty for Practitioner, PractitionerRole, Organization, Location);
  // identifiers (every identifier[] system/value; NHS numbers as 10 digits).
  mapping::MappedResource mapped;
  int entry = -1;                // Bundle.entry index; -1 for a single-resource request
  std::string method;            // "POST" or "PUT"
  std::string source_full_url;   // the entry's fullUrl as sent (may be empty)
  std::string source_id;         // the resource's id as sent (may be empty)
  bool existed = false;          // in_record said the derived id is already held (200, not 201)
};

struct EntryOutcome {
  int entry = -1;
  std::string resource_type;   // as sent; empty when the entry had no readable resource
  Disposition disposition = Disposition::kRejected;
  std::string status;          // response status, e.g. "201 Created", "422 Unprocessable Entity"
  std::string location;        // "Type/id" when accepted
  std::vector<Issue> issues;   // this entry's issues (errors, warnings, information)
};

struct IngestResult {
  enum class Shape { kTransaction, kBatch, kSingle, kUnreadable };
  Shape shape = Shape::kUnreadable;
  int http_status = 200;
  std::vector<IngestedResource> resources;  // accepted entries, in entry order
  std::vector<EntryOutcome> entries;        // one per Bundle.entry (one for a single resource)
  std::vector<Issue> issues;                // every issue: the body's, then each entry's
  // The response body: a transaction-response Bundle (transaction applied), an OperationOutcome
  // with every issue (transaction refused, single resource, unreadable body), or a
  // batch-response Bundle with each entry's status and outcome.
  rapidjson::Document response;

  bool accepted_all() const;  // every entry accepted or ignored, and at least one entry
};

// Validates the push and, for what is accepted, produces the resources to store.
//   transaction: all or nothing; any error refuses every entry (422; 400 when the body is not a
//                readable Bundle; 413 over a limit).
//   batch:       each entry stands alone (200, per-entry status); an entry referring to a
//                rejected entry is rejected with it.
//   single:      201 Created / 200 OK, or 422 / 400 with an OperationOutcome.
IngestResult ingest(const Request& request, const Feed& feed);

}  // namespace cc::fhir_ingest
