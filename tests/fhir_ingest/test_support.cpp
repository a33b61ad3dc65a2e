// Helpers for the GP feed ingest tests.
#include "tests/fhir_ingest/test_support.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/identity/nhs_number.h"

namespace cc::fhir_ingest::testing {

std::string test_nhs_number(int n) {
  int found = -1;
  for (long stem = 999000000;; ++stem) {
    const std::string nine = std::to_string(stem);
    const int check = identity::NhsNumber::check_digit(nine);
    if (check < 0) continue;
    if (++found == n) return nine + std::to_string(check);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

std::vector<std::string> files_in(const std::string& folder, const std::string& extension) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return files;
  for (const auto& f : std::filesystem::directory_iterator(folder, ec))
    if (f.is_regular_file() && f.path().extension() == extension) files.push_back(f.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Issue> issues_with_rule(const IngestResult& result, const std::string& rule) {
  std::vector<Issue> found;
  for (const Issue& issue : result.issues)
    if (issue.rule == rule) found.push_back(issue);
  return found;
}

bool has_rule(const IngestResult& result, const std::string& rule) {
  return !issues_with_rule(result, rule).empty();
}

std::string describe(const IngestResult& result) {
  std::string text = "http " + std::to_string(result.http_status) + "\n";
  for (const Issue& issue : result.issues)
    text += issue.severity + " " + issue.rule + " @ " + issue.expression + ": " + issue.message + "\n";
  return text;
}

}  // namespace cc::fhir_ingest::testing
