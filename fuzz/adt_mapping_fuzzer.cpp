// libFuzzer target: what a hostile message meets after the parser on the ingest path. Any bytes
// that parse as HL7 v2 go through the project's mapping files (mappings/: the checks that decide
// AA or AE before the commit, then the mapping of whatever message type the bytes claim to be);
// every resource must serialise to valid JSON (UTF-8 checked), carry its type and an id, and
// belong to a patient.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "adapters/hl7v2/message.h"
#include "engine/mapping/mapping_set.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "adt_mapping_fuzzer: property broken: %s\n", what.c_str());
  std::abort();
}

const cc::mapping::FeedContext& feed() {
  static const cc::mapping::FeedContext context{
      "pas-adt",
      {{"RBT", "https://fhir.example.nhs.uk/Id/hospital-number"}, {"RBT^VN", "https://fhir.example.nhs.uk/Id/visit-number"}}};
  return context;
}

const cc::mapping::MappingSet& mappings() {
  static const auto set = [] {
    std::vector<cc::mapping::LoadProblem> problems;
    auto loaded = cc::mapping::MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
    if (!loaded) fail("the project's mappings do not load: " + (problems.empty() ? "" : problems.front().describe()));
    return loaded;
  }();
  return *set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto msg = cc::hl7v2::Message::parse(std::string(reinterpret_cast<const char*>(data), size));
  if (!msg) return 0;
  const auto assessment = mappings().assess(*msg, feed());
  for (const auto& issue : assessment.issues)
    if (issue.message.empty()) fail("an issue without a sentence");
  auto out = mappings().map(*msg, feed());
  if (!out) {
    if (out.error().message.empty()) fail("a mapping error without a sentence");
    return 0;
  }
  for (const auto& r : out->resources) {
    if (r.id.empty() || r.patient_id.empty()) fail("a " + r.type + " without an id or a patient");
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    r.resource.Accept(w);
    rapidjson::Document back;
    back.Parse<rapidjson::kParseValidateEncodingFlag>(sb.GetString(), sb.GetSize());
    if (back.HasParseError() || !back.IsObject()) fail("a " + r.type + " that is not valid JSON: " + sb.GetString());
    const auto type = back.FindMember("resourceType");
    if (type == back.MemberEnd() || !type->value.IsString() || r.type != type->value.GetString())
      fail("a " + r.type + " whose resourceType differs");
  }
  return 0;
}
