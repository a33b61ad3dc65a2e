// See gp_feed.h.
#include "engine/app/gp_feed.h"

#include "engine/app/record_builder.h"
#include "engine/identity/nhs_number.h"

namespace cc::app {

std::string gp_message_type(const std::string& kind, const std::string& type, const std::string& id) {
  if (kind == "bundle") return "FHIR^BUNDLE";
  if (kind == "create") return "FHIR^CREATE^" + type;
  return "FHIR^UPDATE^" + type + "^" + id;
}

bool is_gp_message_type(const std::string& message_type) { return message_type.rfind("FHIR^", 0) == 0; }

fhir_ingest::IngestResult run_gp_ingest(const FeedConfig& feed, const std::string& kind, const std::string& type,
                                        const std::string& id, std::string_view body, int64_t now_ms,
                                        store::RecordStore& record, bool accepted_before) {
  fhir_ingest::Request request;
  request.kind = kind == "bundle"   ? fhir_ingest::Request::Kind::kBundle
                 : kind == "create" ? fhir_ingest::Request::Kind::kCreate
                                    : fhir_ingest::Request::Kind::kUpdate;
  request.type = type;
  request.id = id;
  request.body = body;
  fhir_ingest::Feed f;
  f.name = feed.name;
  f.now_ms = now_ms;
  f.accepted_before = accepted_before;
  f.in_record = [&record](const std::string& t, const std::string& i) { return record.read(t, i).has_value(); };
  return fhir_ingest::ingest(request, f);
}

void map_gp(const FeedConfig& feed, const std::string& message_type, const std::string& body, int64_t received_ms,
            bool accepted_whole, store::RecordStore& record, store::MappedBatchItem& item) {
  // FHIR^BUNDLE | FHIR^CREATE^Type | FHIR^UPDATE^Type^id
  std::string kind = "bundle", type, id;
  const std::string rest = message_type.substr(5);
  if (rest.rfind("CREATE^", 0) == 0) {
    kind = "create";
    type = rest.substr(7);
  } else if (rest.rfind("UPDATE^", 0) == 0) {
    kind = "update";
    const std::string t = rest.substr(7);
    type = t.substr(0, t.find('^'));
    id = t.find('^') == std::string::npos ? "" : t.substr(t.find('^') + 1);
  }
  gp_writes(feed, run_gp_ingest(feed, kind, type, id, body, received_ms, record, accepted_whole), received_ms, item);
}

void gp_writes(const FeedConfig& feed, fhir_ingest::IngestResult&& result, int64_t received_ms,
               store::MappedBatchItem& item) {
  int64_t ignored = 0, rejected = 0;
  for (const auto& e : result.entries) {
    ignored += e.disposition == fhir_ingest::Disposition::kIgnored;
    rejected += e.disposition == fhir_ingest::Disposition::kRejected;
  }
  for (auto& r : result.resources) {
    auto& m = r.mapped;
    store::ResourceWrite w = resource_write(std::move(m));
    if (w.event_time_ms == 0) w.event_time_ms = received_ms;
    if (r.entry >= 0) {
      w.part = "entry";
      w.part_number = r.entry;
    }
    item.writes.push_back(std::move(w));
  }
  item.outcome = "mapped";
  item.detail = std::to_string(item.writes.size()) + " resource(s) from GP feed " + feed.name + ", " +
                std::to_string(ignored) + " of types the record does not keep, " + std::to_string(rejected) +
                " rejected";
}

}  // namespace cc::app
