// Consent recorded by readers (POST /fhir/Consent): stored through the inbox like any feed's
// message (acknowledged means stored), then written to the record by the record builder.
#pragma once
#include <cstdint>
#include <string>

#include "engine/store/record_store.h"

namespace cc::app {

// The inbox message type and feed of a posted Consent.
inline constexpr const char* kConsentMessageType = "CONSENT^FHIR";
inline constexpr const char* kConsentFeed = "consent";

// The stored Consent (its id assigned, checked) as a resource filed under the patient it names,
// current from its dateTime (else when it was received).
void map_consent(const std::string& body, int64_t received_ms, store::MappedBatchItem& item);

}  // namespace cc::app
