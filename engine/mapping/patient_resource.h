// UK Core Patient from PID and PD1: NHS number with its verification status, local
// identifiers, names, birth date, gender, addresses, telecom, death, registered GP.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/patient_identifiers.h"

namespace cc::mapping {

struct PatientResource {
  rapidjson::Document resource;
  std::vector<std::pair<std::string, std::string>>
      identifiers;  // (system, value), as in the resource
};

PatientResource patient_resource(const hl7v2::Message& msg, size_t pid, std::optional<size_t> pd1,
                                 const PatientIdentifiers& ids, const std::string& id);

}  // namespace cc::mapping
