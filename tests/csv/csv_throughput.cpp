// Extract reading throughput: synthetic social-care-like CSV and JSON-lines files read in memory,
// with a row digest a row, printed as rows/s. A figure to report, not a pass/fail test.
// Usage: csv_throughput [rows]   (default 200000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "adapters/csv/csv_reader.h"
#include "adapters/csv/digest.h"
#include "adapters/csv/json_lines_reader.h"

namespace {

std::string make_csv(int rows) {
  std::string text = "person_id,nhs_number,family,given,birth_date,address,postcode,plan_type,start,lead_worker,note\r\n";
  for (int i = 0; i < rows; ++i) {
    text += "SC" + std::to_string(100000 + i) + ",9991234578,Smith,Ann,1950-03-0" + std::to_string(1 + i % 9) +
            ",\"" + std::to_string(i % 200) + " High Street, Leeds\",LS1 1AA,care-and-support,2024-01-15,"
            "Worker " + std::to_string(i % 50) + ",\"Visits twice daily; key safe code with \"\"duty\"\" team\"\r\n";
  }
  return text;
}

std::string make_jsonl(int rows) {
  std::string text;
  for (int i = 0; i < rows; ++i) {
    text += "{\"person_id\":\"SC" + std::to_string(100000 + i) +
            "\",\"nhs_number\":\"9991234578\",\"family\":\"Smith\",\"given\":\"Ann\",\"birth_date\":\"1950-03-01\","
            "\"address\":\"" + std::to_string(i % 200) + " High Street, Leeds\",\"postcode\":\"LS1 1AA\","
            "\"plan_type\":\"care-and-support\",\"start\":\"2024-01-15\",\"score\":" + std::to_string(i % 30) +
            ",\"team\":{\"lead\":\"Worker " + std::to_string(i % 50) + "\",\"members\":[1,2]}}\n";
  }
  return text;
}

template <class Read>
void time_it(const char* what, const std::string& file, Read read) {
  auto t0 = std::chrono::steady_clock::now();
  auto extract = read(file);
  auto t1 = std::chrono::steady_clock::now();
  std::string last;
  for (const auto& row : extract->rows) last = cc::csv::row_digest(extract->header, row);
  auto t2 = std::chrono::steady_clock::now();
  std::string file_hash = cc::csv::file_digest(file);
  auto t3 = std::chrono::steady_clock::now();
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  double rows = static_cast<double>(extract->rows.size());
  std::printf("%-11s %8.0f rows %6.1f MB  read %9.0f rows/s (%5.1f MB/s)  +row digests %9.0f rows/s  file digest %6.1f ms\n",
              what, rows, file.size() / 1e6, rows / secs(t0, t1), file.size() / 1e6 / secs(t0, t1),
              rows / secs(t0, t2), secs(t2, t3) * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  int rows = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::string csv = make_csv(rows);
  std::string jsonl = make_jsonl(rows);
  for (int round = 0; round < 2; ++round) {
    time_it("csv", csv, [](const std::string& f) { return cc::csv::read_csv(f); });
    time_it("json-lines", jsonl, [](const std::string& f) { return cc::csv::read_json_lines(f); });
  }
  return 0;
}
