// clinical_safety_check: the ctest test clinical_safety_hazard_log. Reads the hazard log, its
// schema and this run's gtest XML results, prints the report and fails on any problem.
//
// Usage: clinical_safety_check --log FILE --schema FILE --results DIR --binaries a,b,c
// A result file counts only if it is newer than DIR/run-started, which the fixture test
// reset_test_results writes (after removing old results) before any GoogleTest binary runs.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "tests/safety/gtest_xml.h"
#include "tests/safety/hazard_log_check.h"

namespace fs = std::filesystem;

namespace {

bool read_file(const fs::path& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  text = s.str();
  return true;
}

// Parses a JSON file, or prints why it cannot and returns false.
bool read_json(const fs::path& path, rapidjson::Document& doc) {
  std::string text;
  if (!read_file(path, text)) {
    std::cout << "FAIL: cannot read " << path.string() << "\n";
    return false;
  }
  doc.Parse(text.c_str());
  if (doc.HasParseError()) {
    const size_t at = doc.GetErrorOffset();
    size_t line = 1;
    for (size_t i = 0; i < at && i < text.size(); ++i) line += text[i] == '\n';
    std::cout << "FAIL: " << path.string() << " line " << line << ": "
              << rapidjson::GetParseError_En(doc.GetParseError()) << "\n";
    return false;
  }
  return true;
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::string item;
  for (char c : list + ",") {
    if (c == ',' || c == ';') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string log_path, schema_path, results_dir, binaries;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--log") log_path = argv[i + 1];
    else if (flag == "--schema") schema_path = argv[i + 1];
    else if (flag == "--results") results_dir = argv[i + 1];
    else if (flag == "--binaries") binaries = argv[i + 1];
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  if (log_path.empty() || schema_path.empty() || results_dir.empty()) {
    std::cerr << "usage: clinical_safety_check --log FILE --schema FILE --results DIR --binaries a,b,c\n";
    return 2;
  }

  rapidjson::Document log, schema;
  if (!read_json(log_path, log) || !read_json(schema_path, schema)) return 1;

  cc::safety::RunResults results;
  const fs::path marker = fs::path(results_dir) / "run-started";
  std::error_code ec;
  const auto started = fs::last_write_time(marker, ec);
  const bool have_marker = !ec;
  for (const std::string& binary : split(binaries)) {
    const fs::path file = fs::path(results_dir) / (binary + ".xml");
    if (!have_marker) {
      results.missing.push_back({binary, "no run marker " + marker.string() + "; run the whole suite with ctest"});
      continue;
    }
    const auto written = fs::last_write_time(file, ec);
    if (ec) {
      results.missing.push_back({binary, "no result file from this run (not run, crashed, timed out, or excluded)"});
      continue;
    }
    if (written < started) {
      results.missing.push_back({binary, "result file is older than this run's start; ignored"});
      continue;
    }
    std::string xml;
    if (!read_file(file, xml)) {
      results.missing.push_back({binary, "cannot read " + file.string()});
      continue;
    }
    std::vector<cc::safety::TestResult> tests;
    const std::string error = cc::safety::read_gtest_xml(xml, binary, tests);
    if (!error.empty()) {
      results.missing.push_back({binary, file.filename().string() + ": " + error});
      continue;
    }
    results.binaries.push_back(binary);
    for (auto& t : tests) results.add(std::move(t));
  }

  const auto report = cc::safety::check_hazard_log(log, schema, results);
  std::cout << "Hazard log: " << log_path << "\n" << report.text;
  return report.ok() ? 0 : 1;
}
