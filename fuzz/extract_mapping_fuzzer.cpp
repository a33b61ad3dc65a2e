// libFuzzer target: what a hostile extract meets after the reader on the extract path. The bytes are
// read as CSV and as JSON lines, and every row goes through the project's row mapping
// (mappings/social-care-episodes.json), as the engine checks each row before its answer and maps it
// after the commit: every problem has a sentence, and every resource serialises to valid JSON
// (UTF-8 checked), carries its type and an id, and belongs to a patient.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/json_lines_reader.h"
#include "engine/mapping/mapping_set.h"

namespace {

constexpr const char* kMapping = "social-care-episodes";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "extract_mapping_fuzzer: property broken: %s\n", what.c_str());
  std::abort();
}

const cc::mapping::FeedContext& feed() {
  static const cc::mapping::FeedContext context{"council-sc", {{"SOCIAL-CARE", "https://fhir.example.gov.uk/Id/person-id"}}};
  return context;
}

const cc::mapping::MappingSet& mappings() {
  static const auto set = [] {
    std::vector<cc::mapping::LoadProblem> problems;
    auto loaded = cc::mapping::MappingSet::load(CC_DEFAULT_MAPPINGS_DIR, problems);
    if (!loaded) fail("the project's mappings do not load: " + (problems.empty() ? "" : problems.front().describe()));
    if (!loaded->has_row_mapping(kMapping)) fail(std::string("no row mapping ") + kMapping);
    return loaded;
  }();
  return *set;
}

void map_rows(const cc::Result<cc::csv::Extract>& extract) {
  if (!extract) return;
  static const auto columns = mappings().row_columns(kMapping);
  for (const auto& row : extract->rows) {
    cc::mapping::RowInput in;
    in.number = row.number;
    for (const auto& column : columns) in.values.push_back(extract->get(row, column).value_or(std::string_view()));
    auto out = mappings().map_row(kMapping, in, feed());
    if (!out) {
      if (out.error().message.empty()) fail("a row mapping error without a sentence");
      continue;
    }
    for (const auto& issue : out->issues)
      if (issue.message.empty()) fail("a row issue without a sentence");
    for (const auto& r : out->resources) {
      if (r.id.empty() || r.patient_id.empty()) fail("a " + r.type + " without an id or a patient");
      rapidjson::StringBuffer sb;
      rapidjson::Writer<rapidjson::StringBuffer> w(sb);
      if (!r.resource.Accept(w)) fail("a " + r.type + " that cannot be written as JSON");
      rapidjson::Document back;
      back.Parse<rapidjson::kParseValidateEncodingFlag>(sb.GetString(), sb.GetSize());
      if (back.HasParseError() || !back.IsObject()) fail("a " + r.type + " that is not valid JSON: " + sb.GetString());
      const auto type = back.FindMember("resourceType");
      if (type == back.MemberEnd() || !type->value.IsString() || r.type != type->value.GetString())
        fail("a " + r.type + " whose resourceType differs");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  map_rows(cc::csv::read_csv(file));
  map_rows(cc::csv::read_json_lines(file));
  return 0;
}
