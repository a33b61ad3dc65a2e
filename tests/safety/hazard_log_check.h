// The clinical-safety hazard-log check: the log against its JSON Schema, each risk against the
// DCB0129 matrix, and each control's named test against the results of this ctest run.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "tests/safety/gtest_xml.h"

namespace cc::safety {

// The DCB0129 risk matrix (see docs/clinical-safety/clinical-risk-management-plan.md):
// 1 to 5, or 0 when the severity or likelihood is not one of the matrix's words.
int risk_level(std::string_view severity, std::string_view likelihood);

// What this ctest run produced: every test outcome by full name, and the binaries that left
// no usable result file (with why).
struct RunResults {
  std::map<std::string, TestResult> tests;
  std::vector<std::string> binaries;                     // result files read
  std::vector<std::pair<std::string, std::string>> missing;  // (binary, why)
  // Adds one outcome; when two binaries report the same name the worse outcome is kept.
  void add(TestResult r);
};

struct CheckReport {
  std::string text;  // the whole report: each hazard, each control PASS/FAIL and why, a summary
  int problems = 0;
  int hazards = 0, controlled = 0, open = 0;
  int controls = 0, passing = 0, failing = 0, untested = 0, planned = 0;
  bool ok() const { return problems == 0; }
};

// Problems with the log against the schema, one line each; empty when the log is valid.
std::vector<std::string> schema_problems(const rapidjson::Value& log, const rapidjson::Value& schema);

// Fails (problems > 0) when: the log does not match the schema; an id repeats; a risk is not the
// matrix's value or the residual risk exceeds the initial; a control names a test that is not in
// this run's results or did not pass; a hazard marked controlled has a control without a passing
// test; or a hazard marked open has nothing left to build or test.
CheckReport check_hazard_log(const rapidjson::Value& log, const rapidjson::Value& schema, const RunResults& results);

}  // namespace cc::safety
