// HL7 v2 composite datatypes (XPN, XAD, XTN, XCN, XON, PL) read from a parsed message
// and turned into FHIR R4 datatypes (HumanName, Address, ContactPoint, Reference).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/json_builder.h"

namespace cc::mapping {

// A decoded value, trimmed of surrounding white space, control characters made spaces; the HL7
// null ("") reads as absent (a snapshot resource has nothing to delete, so null and empty agree).
std::string text(const hl7v2::Message& msg, size_t seg, int field, int rep = 1, int comp = 1,
                 int sub = 1);

// HL7 date/time -> FHIR dateTime; nullopt when empty or unreadable (assess_adt reports the latter).
std::optional<std::string> fhir_datetime(std::string_view hl7);
// HL7 date/time -> FHIR date (the date part only).
std::optional<std::string> fhir_date(std::string_view hl7);

// XPN -> HumanName; null when the repetition holds no name part.
rapidjson::Value human_name(const hl7v2::Message& msg, size_t seg, int field, int rep,
                            const JsonBuilder& json);
// XAD -> Address; null when the repetition holds no address part.
rapidjson::Value address(const hl7v2::Message& msg, size_t seg, int field, int rep,
                         const JsonBuilder& json);
// XTN -> ContactPoint; null when the repetition holds no number or address.
// `default_use` applies when XTN-2 does not say (home for PID-13, work for PID-14).
rapidjson::Value contact_point(const hl7v2::Message& msg, size_t seg, int field, int rep,
                               std::string_view default_use, const JsonBuilder& json);

// A person named in an XCN field (attending doctor, registered GP).
struct NamedPerson {
  std::string display;  // "DR Helen ASHWORTH"
  std::string system;   // GMC or GMP number system; empty for a local code
  std::string code;     // XCN-1
};
// The repetition of an XCN field that best identifies the person: the first carrying a national
// code (GMC consultant code C+7 digits, GMP code G+7 digits), else the first with a code or name.
// Local staff codes get no identifier: an assigning authority names the trust, not which of its
// code lists (patients, staff) the code is from, so no system can be claimed for them.
std::optional<NamedPerson> named_person(const hl7v2::Message& msg, size_t seg, int field);
// Reference{type Practitioner, identifier, display}.
rapidjson::Value practitioner_reference(const NamedPerson& person, const JsonBuilder& json);

// PD1-3 style XON -> Reference{type Organization, identifier ODS code, display}; the ODS code is
// XON-10 (2.5) when present, else XON-3 (how NHS 2.3/2.4 feeds send it). Null when empty.
rapidjson::Value organization_reference(const hl7v2::Message& msg, size_t seg, int field, int rep,
                                        const JsonBuilder& json);

// PL -> "point of care, room, bed, facility" (PL-9 description when those are empty).
std::string location_text(const hl7v2::Message& msg, size_t seg, int field);

}  // namespace cc::mapping
