// FHIR identifiers: what of a resource's identifier[] the record indexes.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

namespace cc::fhir {

// (system, value) of each entry of `resource`'s identifier[] with a non-empty string value; one
// without a system (or whose system is not a string) under "": found by identifier=|value, and by
// the value alone.
std::vector<std::pair<std::string, std::string>> indexed_identifiers(const rapidjson::Value& resource);

}  // namespace cc::fhir
