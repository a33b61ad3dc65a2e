// Consent recorded by readers (POST /fhir/Consent): stored through the inbox like any feed's
// message (acknowledged means stored), then written to the record by the record builder.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "engine/core/result.h"

#include "engine/store/record_store.h"

namespace cc::app {

// The inbox message type and feed of a posted Consent.
inline constexpr const char* kConsentMessageType = "CONSENT^FHIR";
inline constexpr const char* kConsentFeed = "consent";

// Reads a Consent's JSON as any body from outside (engine/core/json_input.h: UTF-8, at most 64
// levels, no recursion): the same reading when it is posted and when the builder writes it to the
// record, so a Consent answered 201 is one the builder can read.
Status read_consent_json(std::string_view body, rapidjson::Document& doc);

// The stored Consent (its id assigned, checked) as a resource filed under the patient it names,
// current from its dateTime (else when it was received).
void map_consent(const std::string& body, int64_t received_ms, store::MappedBatchItem& item);

}  // namespace cc::app
