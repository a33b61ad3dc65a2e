// libFuzzer target: an extract file as a council's system might send it, or as an attacker might.
// The bytes are read as CSV (',' and ';') and as JSON lines; every row has one value a column,
// every row error names a row, and the report is valid JSON.
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/json_lines_reader.h"

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "csv_reader_fuzzer: property broken: %s\n", what.c_str());
  std::abort();
}

void check(const cc::Result<cc::csv::Extract>& extract) {
  if (!extract) {
    if (extract.error().message.empty()) fail("a file error without a sentence");
    return;
  }
  for (const auto& row : extract->rows)
    if (row.values.size() != extract->header.size()) fail("a row whose values do not match the header");
  for (const auto& e : extract->errors)
    if (e.row <= 0 || e.message.empty()) fail("a row error without a row or a sentence");
  if (static_cast<int64_t>(extract->rows.size()) + extract->rows_rejected != extract->rows_read)
    fail("rows read do not add up");
  rapidjson::Document report;
  report.Parse<rapidjson::kParseValidateEncodingFlag>(cc::csv::report_json(*extract).c_str());
  if (report.HasParseError() || !report.IsObject()) fail("a report that is not valid JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  check(cc::csv::read_csv(file));
  check(cc::csv::read_csv(file, cc::csv::CsvOptions{';'}));
  check(cc::csv::read_json_lines(file));
  return 0;
}
