// UK Core Encounter from PV1 (and PV2): status from the trigger event, class, period,
// location, attending doctor, hospital service, and an id from the visit number.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/adt_mapping.h"

namespace cc::mapping {

struct EncounterResource {
  std::string id;
  rapidjson::Document resource;
  std::vector<std::pair<std::string, std::string>> identifiers;  // the visit number, if sent
};

// nullopt, with a warning in `issues`, when the message says too little to identify an
// encounter (no PV1, or neither a visit number nor an admit time).
// A visit number without an assigning authority takes `default_authority` (the hospital
// number's); its system is the feed's for that authority and type VN.
std::optional<EncounterResource> encounter_resource(
    const hl7v2::Message& msg, std::string_view trigger, const std::string& patient_id,
    const std::string& default_authority, const FeedContext& feed, std::vector<Issue>& issues);

}  // namespace cc::mapping
