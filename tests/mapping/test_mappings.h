// The project's own mappings/ directory, loaded once for tests; a load problem fails loudly.
#pragma once
#include <cstdlib>
#include <iostream>
#include <memory>

#include "engine/mapping/mapping_set.h"

namespace cc::testing {

inline const cc::mapping::MappingSet& project_mappings() {
  static std::shared_ptr<const cc::mapping::MappingSet> set = [] {
    std::vector<cc::mapping::LoadProblem> problems;
    auto loaded = cc::mapping::MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
    if (!loaded) {
      for (const auto& p : problems) std::cerr << p.describe() << "\n";
      std::cerr << "the project's mappings/ do not load\n";
      std::abort();
    }
    return loaded;
  }();
  return *set;
}

}  // namespace cc::testing
