// See consent.h.
#include "engine/app/consent.h"

#include "engine/core/json_input.h"
#include "engine/fhir/datetime.h"
#include "engine/governance/consent.h"

namespace cc::app {

Status read_consent_json(std::string_view body, rapidjson::Document& doc) {
  return parse_json(body, JsonLimits{body.size(), 64}, doc);
}

void map_consent(const std::string& body, int64_t received_ms, store::MappedBatchItem& item) {
  store::ResourceWrite w;
  w.type = "Consent";
  // A Consent stored however deep its nesting must not bring the builder (and the engine at every
  // start) down.
  if (!read_consent_json(body, w.resource).ok()) w.resource.SetNull();
  if (!w.resource.IsObject() || !w.resource.HasMember("id") || !w.resource["id"].IsString()) {
    item.outcome = "failed";
    item.detail = "The stored Consent is not readable JSON with an id.";
    return;
  }
  w.id = w.resource["id"].GetString();
  w.patient_id = governance::consent_patient(w.resource);
  w.event_time_ms = received_ms;
  if (w.resource.HasMember("dateTime") && w.resource["dateTime"].IsString())
    if (auto t = fhir::fhir_to_epoch_ms(w.resource["dateTime"].GetString())) w.event_time_ms = *t;
  item.writes.push_back(std::move(w));
  item.outcome = "mapped";
  item.detail = "Consent recorded by a reader";
}

}  // namespace cc::app
