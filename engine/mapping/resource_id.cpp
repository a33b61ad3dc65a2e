// derive_id: stable resource ids from source identifiers, so that a replay or a re-map of
// the same message updates the same resource instead of creating a duplicate.
#include "engine/core/sha256.h"

#include "engine/mapping/types.h"

namespace cc::mapping {

std::string derive_id(std::string_view type, std::string_view system, std::string_view value) {
  return Sha256().update(type).update("|").update(system).update("|").update(value).hex(32);
}

}  // namespace cc::mapping
