// libFuzzer target: what a hostile extract meets after the reader on the extract path. The bytes are
// read as CSV and as JSON lines, and every row goes through the project's row mapping
// (mappings/social-care-episodes.json), as the engine checks each row before its answer and maps it
// after the commit, with the properties fuzz/mapping_checks.h holds every mapping's output to.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/json_lines_reader.h"
#include "fuzz/mapping_checks.h"

namespace {

constexpr const char* kTarget = "extract_mapping_fuzzer";
constexpr const char* kMapping = "social-care-episodes";

const cc::mapping::FeedContext& feed() {
  static const cc::mapping::FeedContext context{"council-sc", {{"SOCIAL-CARE", "https://fhir.example.gov.uk/Id/person-id"}}};
  return context;
}

void map_rows(const cc::Result<cc::csv::Extract>& extract) {
  if (!extract) return;
  const auto& mappings = cc::fuzz::project_mappings(kTarget);
  if (!mappings.has_row_mapping(kMapping)) cc::fuzz::fail(kTarget, std::string("no row mapping ") + kMapping);
  static const auto columns = mappings.row_columns(kMapping);
  for (const auto& row : extract->rows) {
    cc::mapping::RowInput in;
    in.number = row.number;
    for (const auto& column : columns) in.values.push_back(extract->get(row, column).value_or(std::string_view()));
    cc::fuzz::check_output(kTarget, mappings.map_row(kMapping, in, feed()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  map_rows(cc::csv::read_csv(file));
  map_rows(cc::csv::read_json_lines(file));
  return 0;
}
