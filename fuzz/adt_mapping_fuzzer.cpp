// libFuzzer target: what a hostile message meets after the parser on the ingest path. Any bytes
// that parse as HL7 v2 go through the project's mapping files (mappings/: the checks that decide
// AA or AE before the commit, then the mapping of whatever message type the bytes claim to be);
// every resource must serialise to valid JSON (UTF-8 checked), carry its type and an id, and
// belong to a patient (fuzz/mapping_checks.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapters/hl7v2/message.h"
#include "fuzz/mapping_checks.h"

namespace {

constexpr const char* kTarget = "adt_mapping_fuzzer";

const cc::mapping::FeedContext& feed() {
  static const cc::mapping::FeedContext context{
      "pas-adt",
      {{"RBT", "https://fhir.example.nhs.uk/Id/hospital-number"}, {"RBT^VN", "https://fhir.example.nhs.uk/Id/visit-number"}}};
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto msg = cc::hl7v2::Message::parse(std::string(reinterpret_cast<const char*>(data), size));
  if (!msg) return 0;
  const auto& mappings = cc::fuzz::project_mappings(kTarget);
  cc::fuzz::check_issues(kTarget, mappings.assess(*msg, feed()).issues);
  cc::fuzz::check_output(kTarget, mappings.map(*msg, feed()));
  return 0;
}
