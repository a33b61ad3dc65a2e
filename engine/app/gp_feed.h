// GP feeds: FHIR R4 pushes from a GP extract service (POST /fhir Bundles, PUT/POST of one
// resource), validated by adapters/fhir before they are stored, stored in the inbox before they are
// answered (acknowledged means stored), and written to the record by the record builder, which
// runs the same validation over the stored bytes.
#pragma once
#include <string>
#include <string_view>

#include "adapters/fhir/gp_ingest.h"
#include "engine/core/config.h"
#include "engine/store/record_store.h"

namespace cc::app {

// The inbox message type of a push: "FHIR^BUNDLE", "FHIR^CREATE^Observation",
// "FHIR^UPDATE^Observation^abc".
std::string gp_message_type(const std::string& kind, const std::string& type, const std::string& id);
bool is_gp_message_type(const std::string& message_type);

// Validates a push as of `now_ms`, references resolved against the record (`accepted_before`: see
// fhir_ingest::Feed).
fhir_ingest::IngestResult run_gp_ingest(const FeedConfig& feed, const std::string& kind, const std::string& type,
                                        const std::string& id, std::string_view body, int64_t now_ms,
                                        store::RecordStore& record, bool accepted_before = false);

// The record builder's step for a stored push: its accepted resources as writes. `accepted_whole`:
// the push was answered with every entry accepted (its inbox ACK code is AA).
void map_gp(const FeedConfig& feed, const std::string& message_type, const std::string& body, int64_t received_ms,
            bool accepted_whole, store::RecordStore& record, store::MappedBatchItem& item);
// The same step from the push's validation as run_gp_ingest made it (map_gp's second half; the
// record builder takes a result handed over when the push was accepted).
void gp_writes(const FeedConfig& feed, fhir_ingest::IngestResult&& result, int64_t received_ms,
               store::MappedBatchItem& item);

}  // namespace cc::app
