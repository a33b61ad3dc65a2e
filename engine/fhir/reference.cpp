#include "engine/fhir/reference.h"

namespace cc::fhir {

std::optional<std::pair<std::string, std::string>> reference_type_and_id(std::string_view s) {
  if (auto h = s.find("/_history/"); h != std::string_view::npos) s = s.substr(0, h);
  const auto slash = s.rfind('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == s.size()) return std::nullopt;
  const auto before = s.substr(0, slash);
  const auto type = before.substr(before.rfind('/') == std::string_view::npos ? 0 : before.rfind('/') + 1);
  if (type.empty()) return std::nullopt;
  return std::make_pair(std::string(type), std::string(s.substr(slash + 1)));
}

}  // namespace cc::fhir
