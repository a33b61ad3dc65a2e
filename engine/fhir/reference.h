// FHIR references: what resource a literal reference names.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cc::fhir {

// The type and id a reference names: "Type/id", "Type/id/_history/n", or a URL ending so
// ("https://host/base/Type/id"). nullopt when it names no resource by type and id: a contained
// "#id", a "urn:uuid:..." or one without an id. The type is not checked against FHIR's types.
std::optional<std::pair<std::string, std::string>> reference_type_and_id(std::string_view ref);

}  // namespace cc::fhir
